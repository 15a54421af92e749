"""Capability at matched forgetting (:mod:`unlearnkit.experiments.matched`) against independent
references: the level crossing against a dense walk along the piecewise-linear trajectory, the
worst-rank sign test against scipy's binomial test, the deciding level's rule, and the
interval's coverage under a known shift."""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from unlearnkit import stats
from unlearnkit.experiments import matched


def _dense_first_crossing(points, level, steps=20001):
    """Walk the piecewise-linear path in small steps; the first point at or below ``level``."""
    for k in range(len(points)):
        if k == 0:
            if points[0][0] <= level:
                return points[0][1]
            continue
        (m0, v0), (m1, v1) = points[k - 1], points[k]
        t = np.linspace(0.0, 1.0, steps)
        ma = m0 + t * (m1 - m0)
        hit = np.nonzero(ma <= level)[0]
        if len(hit):
            return v0 + t[hit[0]] * (v1 - v0)
    return None


def test_the_level_crossing_matches_a_dense_walk_along_the_trajectory():
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = rng.integers(2, 12)
        ma = np.concatenate([[0.95], 0.95 - np.cumsum(rng.uniform(-0.05, 0.15, k))])  # not monotone
        ppl = 3.0 + np.cumsum(rng.normal(0, 0.1, k + 1))
        points = list(zip(ma.tolist(), ppl.tolist()))
        level = rng.uniform(0.2, 0.95)
        got, want = matched.at_ma(points, level), _dense_first_crossing(points, level)
        assert (got is None) == (want is None)
        if got is not None:
            assert got == pytest.approx(want, abs=1e-3)


def test_the_worst_rank_sign_test_counts_unreached_runs_below_every_value():
    a = {u: 1.0 + u for u in range(8)} | {8: None, 9: None, 10: 0.0}
    b = {u: 0.5 + u for u in range(8)} | {8: 3.0, 9: None, 10: None}
    c = stats.worst_rank_paired(a, b)
    # above: units 0-7 (a higher) and 10 (b unreached); below: unit 8 (a unreached); 9: no sign
    assert c.n == 11 and c.sign == 1
    assert c.p == pytest.approx(scipy_stats.binomtest(9, 10, 0.5).pvalue)
    assert c.effect == pytest.approx(0.5)
    # a minimum of 0.6: the eight differences of 0.5 now lie below it, beside the unreached a
    c = stats.worst_rank_paired(a, b, minimum=0.6)
    assert c.p_minimum == pytest.approx(scipy_stats.binomtest(1, 10, 0.5, alternative="greater").pvalue)


def _run(unit, status, mas, ppls, threshold=0.5):
    return {
        "status": status,
        "tags": {"forget_set": f"u{unit}"},
        "config": {"thresholds": {"ma": threshold}},
        "history": [{"epoch": e + 1, "ma": m, "probe": {"log_pile_ppl": p}} for e, (m, p) in enumerate(zip(mas, ppls))],
        "pile_ppl": math.exp(ppls[-1]),
    }


def test_the_deciding_level_is_the_deepest_both_arms_reach_on_half_the_units():
    """b never gets past two thirds of the way: the criterion (reached by a only) is shown but
    cannot decide; two thirds, reached by both on every unit, decides."""
    a = [_run(u, "forgotten", [0.9, 0.7, 0.55, 0.45], [3.0, 3.0, 3.0, 3.0]) for u in range(10)]
    b = [_run(u, "max_epochs", [0.9, 0.75, 0.62, 0.6], [3.1, 3.1, 3.1, 3.1]) for u in range(10)]
    m = matched.compare(a, b, before_log_ppl=3.0, minimum=0.05)
    assert [lv for lv, *_ in m.levels] == [1 / 3, 2 / 3, "criterion"]
    assert [(ra, rb) for _, _, ra, rb in m.levels] == [(10, 10), (10, 10), (10, 0)]
    assert m.primary()[0] == 2 / 3
    assert matched.verdict(m) == "holds" and m.primary()[1].effect == pytest.approx(0.1)


def test_a_run_that_forgets_faster_does_not_win_capability_by_speed():
    """Equal perplexity wherever both arms have been; a reaches the criterion, b never gets a
    third of the way on most units: nothing decides, the claim is inconclusive."""
    a = [_run(u, "forgotten", [0.8, 0.6, 0.45], [3.0, 3.0, 3.0]) for u in range(10)]
    b = [_run(u, "max_epochs", [0.93, 0.92, 0.91], [3.0, 3.0, 3.0]) for u in range(10)]
    b[0] = _run(0, "max_epochs", [0.85, 0.8, 0.75], [3.0, 3.0, 3.0])
    m = matched.compare(a, b, before_log_ppl=3.0, minimum=0.05, start={(f"u{u}", 0): 0.95 for u in range(10)})
    assert m.primary() is None
    assert matched.verdict(m).startswith("inconclusive (n = 10: no forgetting level")


@pytest.mark.parametrize("n", [10, 13, 20])
def test_the_matched_interval_covers_the_true_shift(n):
    """a's log perplexity is b's plus 0.2 at every epoch (plus noise, no censoring): the
    interval at the deciding level covers -0.2 (b − a, signed so that + means a kept more) in at
    least 95 % of 200 trials, less two Monte-Carlo standard errors."""
    rng = np.random.default_rng(n)
    covered, trials = 0, 200
    for _ in range(trials):
        a, b = [], []
        for u in range(n):
            base = rng.normal(3.0, 0.3)
            mas = [0.85, 0.7, 0.55, 0.45]
            a.append(_run(u, "forgotten", mas, [base + 0.2 + rng.normal(0, 0.1) for _ in mas]))
            b.append(_run(u, "forgotten", mas, [base + rng.normal(0, 0.1) for _ in mas]))
        m = matched.compare(a, b, before_log_ppl=3.0, minimum=0.05)
        c = m.primary()[1]
        covered += c.low <= -0.2 <= c.high
    assert covered / trials >= 0.95 - 2 * math.sqrt(0.05 * 0.95 / trials)


def test_recorded_runs_and_their_plain_dicts_give_the_same_matched_verdicts():
    """The committed SmolLM2 Table 1 (``results/real/table1.json``), read as RunRecords (whose
    history holds Epoch objects) and as plain dicts: C4 and C6 come out the same, decided at
    matched forgetting."""
    import dataclasses
    import json
    from pathlib import Path

    from unlearnkit.experiments import claims, recorded

    rec = recorded.load("real/table1", root=Path(__file__).resolve().parents[1] / "results")
    groups = rec.groups["table1"]
    as_dicts = {k: [json.loads(json.dumps(dataclasses.asdict(r), default=str)) for r in v] for k, v in groups.items()}
    before, mins = rec.extra["before"], rec.extra.get("minimum_effects")
    rows = {r["claim"]: r for r in claims.verdicts(groups, before, mins)}
    plain = {r["claim"]: r for r in claims.verdicts(as_dicts, before, mins)}
    for claim in ("C4", "C6"):
        assert rows[claim] == plain[claim]
        assert "matched forgetting" in rows[claim]["effect unit"] and "[decides]" in rows[claim]["evidence"]


def test_trajectories_start_from_the_probe_before_unlearning_when_it_is_recorded():
    """A level crossed in the first epoch interpolates from the start: from the probe of the model
    before unlearning (the runs' own measure) when ``before`` has it, else from the downstream
    Pile PPL, which the evidence then says."""
    with_probe = {"pile_ppl": math.exp(5.0), "probe": {"log_pile_ppl": 3.0}}
    assert matched.start_log_ppl(with_probe) == (3.0, "start: the probe before unlearning")
    value, note = matched.start_log_ppl({"pile_ppl": math.exp(5.0)})
    assert value == pytest.approx(5.0) and "no probe before unlearning recorded" in note
    # MA 0.9 -> 0.6 in the first epoch, threshold 0.5: a third of the way is MA 0.9 - 0.4 / 3,
    # crossed 4/9 of the way through the first epoch: 3.0 + 4/9 * (3.6 - 3.0) from the probe's start
    run = _run(0, "forgotten", [0.6, 0.45], [3.6, 3.7])
    got = matched.values_at([run], 1 / 3, {("u0", 0): 0.9}, matched.start_log_ppl(with_probe)[0])
    assert got[("u0", 0)] == pytest.approx(3.0 + 4 / 9 * 0.6)


def test_the_claims_say_where_the_trajectories_start():
    from unlearnkit.experiments import claims

    groups = {
        name: [_run(u, "forgotten", [0.8, 0.6, 0.45], [3.0 + 0.01 * u, 3.1, 3.2]) for u in range(6)]
        for name in ("GA", "GD", "LoRA (GD)", "+ IHL", "+ FILA")
    }
    for g in groups.values():
        for r in g:
            r["epochs"] = 3
    before = {"pile_ppl": 30.0, "reasoning": 0.4, "dialogue": 0.1}
    rows = {r["claim"]: r for r in claims.verdicts(groups, before | {"probe": {"log_pile_ppl": 3.0}})}
    assert "start: the probe before unlearning" in rows["C4"]["evidence"]
    assert "start: the probe before unlearning" in rows["C6"]["evidence"]
    rows = {r["claim"]: r for r in claims.verdicts(groups, before)}
    assert "no probe before unlearning recorded" in rows["C4"]["evidence"]


def test_the_probe_before_unlearning_is_the_runs_probe_on_the_model_as_loaded(smoke_testbed):
    from unlearnkit.experiments import probe, runs

    loaded = runs.load("testbed:smoke")
    want = runs.capability_probe(loaded.tokenizer)(loaded.model)["log_pile_ppl"]
    got = probe.before_probe("testbed:smoke")
    assert got["log_pile_ppl"] == pytest.approx(want, rel=1e-6)
    assert probe.with_probe({"pile_ppl": 1.0}, "testbed:smoke")["probe"] == got  # cached: the same record


def test_units_of_several_models_start_from_their_own_model():
    """The same trajectory read against two starts: a crossing in the first epoch interpolates
    from the record's own model's perplexity before; a model with none is named."""
    r = _run(0, "forgotten", [0.4], [3.0])  # crosses every level in the first epoch
    r["spec"] = {"model_name": "b"}
    start = {("u0", 0): 0.9}
    one = matched.values_at([r], 1 / 3, start, 2.0)[("u0", 0)]
    per_model = matched.values_at([r], 1 / 3, start, {"a": 9.0, "b": 2.0})[("u0", 0)]
    assert one == per_model == pytest.approx(2.0 + (0.9 - (0.9 - (0.9 - 0.5) / 3)) / 0.5 * 1.0)
    assert matched.values_at([r], 1 / 3, start, {"b": 2.6})[("u0", 0)] != pytest.approx(one)
    with pytest.raises(KeyError, match="model 'b'"):
        matched.values_at([r], 1 / 3, start, {"a": 9.0})
    values, note = matched.start_log_ppls({"a": {"probe": {"log_pile_ppl": 1.5}}, "b": {"pile_ppl": math.e}})
    assert values == {"a": 1.5, "b": pytest.approx(1.0)} and "probe" in note and "downstream" in note
