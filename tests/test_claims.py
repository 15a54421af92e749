"""Claim verdicts from synthetic run records: calibration on Gaussian, heavy-tailed and
censored null data (no difference -> rarely "holds"), power at ten units (a stated real
difference -> found), pairing, censoring and chance-level exclusion."""

import numpy as np
import pytest

from unlearnkit.experiments import claims
from unlearnkit.methods import TABLE1 as TABLE1_METHODS

TRIALS = 300
# Monte-Carlo margin: 5 % plus two binomial standard errors of a 5 % rate over TRIALS trials
MC_LIMIT = 0.05 + 2 * np.sqrt(0.05 * 0.95 / TRIALS)


def _noise(rng, kind: str, scale: float) -> float:
    if kind == "heavy":  # Student t with 2 degrees of freedom: no variance, outliers
        return scale * rng.standard_t(2)
    if kind == "skewed":  # centred exponential
        return scale * (rng.exponential(1.0) - 1.0)
    return scale * rng.normal()


def _group(
    rng,
    units,
    epochs_shift=0.0,
    log_ppl_shift=0.0,
    reasoning_shift=0.0,
    fail_p=0.15,
    unit_effects=None,
    noise="gaussian",
):
    """One method's records over ``units`` forget units; ``unit_effects`` are shared by all methods."""
    out = []
    for u in range(units):
        eff = unit_effects[u]
        epochs = int(np.clip(round(10 + eff["epochs"] + epochs_shift + _noise(rng, noise, 1.5)), 1, 20))
        failed = rng.random() < fail_p
        log_ppl = 6.3 + eff["ppl"] + log_ppl_shift + _noise(rng, noise, 0.1)
        out.append(
            {
                "status": "max_epochs" if failed else "forgotten",
                "epochs": None if failed else epochs,
                "epochs_run": 20 if failed else epochs,
                "pile_ppl": float(np.exp(log_ppl)),
                "reasoning": 0.40 + eff["reasoning"] + reasoning_shift + _noise(rng, noise, 0.01),
                "dialogue": 0.08 + _noise(rng, noise, 0.005),
                "tags": {"forget_set": f"unit_{u}"},
                "config": {"max_epochs": 20, "thresholds": {"ma": MA_THRESHOLD}},
                "history": _history(rng, 20 if failed else epochs, rng.uniform(0.3, 0.95) if failed else 1.0, log_ppl),
            }
        )
    return out


MA_START, MA_THRESHOLD = 0.95, 0.5


def _history(rng, epochs: int, reached: float, final_log_ppl: float) -> list[dict]:
    """A per-epoch probe: MA falls from the start to ``reached`` of the way past the threshold
    (1.0: just below it, at the last epoch), log Pile PPL moves from 6.3 to its final value."""
    out = []
    for e in range(1, epochs + 1):
        t = e / epochs
        out.append(
            {
                "epoch": e,
                "ma": MA_START - reached * t * (MA_START - MA_THRESHOLD + 0.02) + 0.005 * rng.normal(),
                "probe": {"log_pile_ppl": 6.3 + t * (final_log_ppl - 6.3)},
            }
        )
    out[-1]["probe"]["log_pile_ppl"] = final_log_ppl
    return out


def _unit_effects(rng, units):
    return [
        {"epochs": rng.normal(0, 2), "ppl": rng.normal(0, 0.2), "reasoning": rng.normal(0, 0.01)} for _ in range(units)
    ]


def _null_groups(rng, units, noise="gaussian", fail_p=0.15, cluster=1):
    """Every method alike; ``cluster`` units in a row share one unit effect (correlated units)."""
    effects = [e for e in _unit_effects(rng, -(-units // cluster)) for _ in range(cluster)][:units]
    return {name: _group(rng, units, unit_effects=effects, noise=noise, fail_p=fail_p) for name in TABLE1_METHODS}


BEFORE = {"pile_ppl": float(np.exp(6.3)), "reasoning": 0.40, "dialogue": 0.08}


@pytest.mark.parametrize(
    "units,noise,fail_p,cluster",
    [
        (5, "gaussian", 0.15, 1),
        (10, "gaussian", 0.15, 1),
        (10, "heavy", 0.15, 1),
        (10, "skewed", 0.4, 1),
        (20, "heavy", 0.3, 1),
        # half or more of the pairs both failed (0.75^2 = 56 %), and units correlated in pairs
        # (two halves of one forget set share its difficulty), as in the SmolLM2 grid
        (10, "gaussian", 0.75, 2),
        (13, "heavy", 0.75, 1),
        (20, "gaussian", 0.75, 2),
    ],
)
def test_no_claim_holds_more_often_than_alpha_without_a_difference(units, noise, fail_p, cluster):
    rng = np.random.default_rng(units + len(noise) + 100 * (cluster > 1))
    holds, against = {}, {}
    for _ in range(TRIALS):
        for row in claims.verdicts(_null_groups(rng, units, noise, fail_p, cluster), BEFORE):
            holds[row["claim"]] = holds.get(row["claim"], 0) + (row["verdict"] == "holds")
            against[row["claim"]] = against.get(row["claim"], 0) + (row["verdict"] == "does not hold")
    rates = {c: k / TRIALS for c, k in holds.items()}
    assert all(r <= MC_LIMIT for r in rates.values()), rates
    # nor a false "does not hold" (significant the other way): both directions meet one standard
    rates = {c: k / TRIALS for c, k in against.items()}
    assert all(r <= MC_LIMIT for r in rates.values()), rates


def test_a_real_difference_is_found_at_ten_units():
    """Stated sizes: FILA 5 epochs faster than LoRA+IHL (per-run noise SD 1.5 epochs), and
    LoRA+IHL's Pile PPL half of LoRA(GD)'s (noise SD 0.1 on log PPL; the win ratio counts a
    pair within x1.25 as a tie), both beyond the minimum effects; each must be found in at least
    80 % of trials at ten units, after Holm over the six claims."""
    rng = np.random.default_rng(1)
    found = {"C4": 0, "C5": 0}
    for _ in range(200):
        effects = _unit_effects(rng, 10)
        groups = {name: _group(rng, 10, unit_effects=effects, fail_p=0.0) for name in TABLE1_METHODS}
        groups["+ FILA"] = _group(rng, 10, epochs_shift=-5, unit_effects=effects, fail_p=0.0)
        groups["+ IHL"] = _group(rng, 10, log_ppl_shift=np.log(0.5), unit_effects=effects, fail_p=0.0)
        v = {row["claim"]: row["verdict"] for row in claims.verdicts(groups, BEFORE)}
        found["C4"] += v["C4"] == "holds"
        found["C5"] += v["C5"] == "holds"
    assert found["C4"] / 200 >= 0.8 and found["C5"] / 200 >= 0.8, found


def test_five_units_cannot_decide_and_say_why():
    """At n = 5 the exact tests' smallest p is 0.0625: however large the effect, nothing holds."""
    rng = np.random.default_rng(2)
    effects = _unit_effects(rng, 5)
    groups = {name: _group(rng, 5, unit_effects=effects, fail_p=0.0) for name in TABLE1_METHODS}
    groups["GA"] = _group(rng, 5, log_ppl_shift=3.0, unit_effects=effects, fail_p=0.0)
    rows = {r["claim"]: r for r in claims.verdicts(groups, BEFORE)}
    assert rows["C1"]["verdict"] == "inconclusive (n = 5: the exact test cannot reach p < 0.05)"
    assert "cannot decide" in rows["C1"]["power"]


def test_too_few_units_are_inconclusive_never_holds():
    rng = np.random.default_rng(0)
    effects = _unit_effects(rng, 2)
    groups = {name: _group(rng, 2, unit_effects=effects, fail_p=0.0) for name in TABLE1_METHODS}
    groups["GA"] = _group(rng, 2, log_ppl_shift=3.0, unit_effects=effects, fail_p=0.0)  # a huge effect
    rows = {r["claim"]: r for r in claims.verdicts(groups, BEFORE)}
    assert rows["C1"]["verdict"] == "inconclusive (n = 2)" and rows["C1"]["p"] is None


def test_failures_are_censored_not_dropped():
    """A method that fails on 14 of 16 units is slower, although its two successes were fast
    (and the claim survives Holm over the six claims)."""
    rng = np.random.default_rng(0)
    effects = [{"epochs": 0.0, "ppl": 0.0, "reasoning": 0.0}] * 16
    groups = {name: _group(rng, 16, unit_effects=effects, fail_p=0.0) for name in TABLE1_METHODS}
    ihl = _group(rng, 16, unit_effects=effects, fail_p=0.0)
    for r in ihl[2:]:
        r.update(status="max_epochs", epochs=None, epochs_run=20)
    ihl[0].update(epochs=2)
    ihl[1].update(epochs=2)
    groups["+ IHL"] = ihl
    rows = {r["claim"]: r for r in claims.verdicts(groups, BEFORE)}
    fila = [r["epochs"] for r in groups["+ FILA"]]
    bounded = [f - (2 if k < 2 else 21) for k, f in enumerate(fila)]
    assert rows["C5"]["effect"] == pytest.approx(np.median(bounded))
    assert rows["C5"]["n"] == 16 and rows["C5"]["verdict"] == "holds"  # the failed runs stay in, censored
    assert rows["C5"]["Holm p"] < 0.05
    assert "failed 0/16 vs 14/16" in rows["C5"]["evidence"] and "paper's view" in rows["C5"]["evidence"]


def test_pairing_removes_forget_set_difficulty():
    """Units differ a lot, the methods differ a little but consistently: only a paired test sees it."""
    difficulty = [4, 8, 12, 16, 19, 5, 9, 13, 15, 18]
    base = [
        {
            "status": "forgotten",
            "epochs": e,
            "epochs_run": e,
            "pile_ppl": 300.0 * (u + 1),
            "reasoning": 0.4,
            "dialogue": 0.1,
            "tags": {"forget_set": f"f{u}"},
        }
        for u, e in enumerate(difficulty)
    ]
    faster = [dict(r, epochs=r["epochs"] - 2 - (u % 3 == 0), epochs_run=r["epochs"] - 2) for u, r in enumerate(base)]
    groups = {name: [dict(r) for r in base] for name in TABLE1_METHODS}
    groups["+ FILA"] = faster
    rows = {r["claim"]: r for r in claims.verdicts(groups, {"pile_ppl": 500.0, "reasoning": 0.4, "dialogue": 0.1})}
    assert rows["C5"]["verdict"] == "holds" and rows["C5"]["effect"] == pytest.approx(-2.0)


def test_rows_show_n_effect_interval_p_minimum_power_and_verdict():
    rng = np.random.default_rng(3)
    effects = _unit_effects(rng, 10)
    rows = claims.verdicts({name: _group(rng, 10, unit_effects=effects, fail_p=0.0) for name in TABLE1_METHODS}, BEFORE)
    for r in rows[:-1]:
        assert {"n", "effect", "95% CI", "p", "minimum effect", "Holm p", "power", "verdict", "evidence"} <= set(r)
        assert r["n"] == 10 and "n = 10" in r["power"]
        assert r["minimum effect"] or "win ratio" in r["effect unit"]  # C3: the win ratio
    assert claims.verdict_table(rows).loc["C5", "minimum effect"] == 1.0


def test_capability_leaves_out_tasks_at_chance():
    before = dict(
        BEFORE,
        downstream={
            "reasoning": {"copa": 0.52, "piqa": 0.70, "lambada": 0.0, "arc_challenge": 0.16},
            "dialogue": {"wizard_of_wikipedia": 0.001},
            "docs": {"copa": 100, "piqa": 100, "lambada": 100, "arc_challenge": 100, "wizard_of_wikipedia": 25},
        },
    )
    measures, excluded = claims.capability_measures(before)
    names = [m.name for m in measures]
    assert names == ["Pile PPL", "Reasoning % (tasks above chance)"]
    assert measures[1].tasks == ("piqa",)
    assert any(e.startswith("copa") for e in excluded) and any(e.startswith("lambada") for e in excluded)
    assert any(e.startswith("wizard_of_wikipedia") for e in excluded)
    assert any(e.startswith("arc_challenge") for e in excluded)  # below chance is not signal


def test_speed_alone_decides_no_capability_claim():
    """Both LoRA methods failing everywhere: the paper's view (capability where both forgot) has
    no pairs, and at matched forgetting no level is reached by both arms on half the units, so
    C4 and C6 are inconclusive whatever the perplexities.  FILA, the one LoRA method that
    forgot, won every pair of the earlier primary endpoint (forgetting beats not), which made C6
    hold on speed alone; that verdict stays in the evidence, and C5 (speed) holds."""
    rng = np.random.default_rng(0)
    effects = [{"epochs": 0.0, "ppl": 0.0, "reasoning": 0.0}] * 10
    groups = {name: _group(rng, 10, unit_effects=effects, fail_p=0.0) for name in TABLE1_METHODS}
    groups["+ IHL"] = _group(rng, 10, log_ppl_shift=-1.0, unit_effects=effects, fail_p=1.0)
    groups["LoRA (GD)"] = _group(rng, 10, unit_effects=effects, fail_p=1.0)
    for r in groups["+ IHL"] + groups["LoRA (GD)"]:  # they barely start forgetting
        r["history"] = _history(rng, 20, 0.2, np.log(r["pile_ppl"]))
    groups["+ FILA"] = _group(rng, 10, log_ppl_shift=1.0, unit_effects=effects, fail_p=0.0)
    rows = {r["claim"]: r for r in claims.verdicts(groups, BEFORE)}
    for claim in ("C4", "C6"):
        assert rows[claim]["verdict"] == (
            "inconclusive (n = 10: no forgetting level both arms reach on 50% of the units)"
        ), rows[claim]
    assert "compared where both forgot: 0 of 10 pairs" in rows["C4"]["evidence"]
    assert "earlier primary, until 2026-12-06 (holds)" in rows["C6"]["evidence"]
    assert "10 wins, 0 losses" in rows["C6"]["evidence"]
    assert rows["C5"]["verdict"] == "holds"  # the epochs claim keeps the failures, censored


def test_capability_at_matched_forgetting_decides_where_both_arms_forget():
    """Every run forgets; LoRA + IHL's perplexity stays at a third of LoRA (GD)'s along the way
    and FILA + IHL's at a third of LoRA + IHL's: C4 and C6 hold, decided at the criterion."""
    rng = np.random.default_rng(4)
    effects = _unit_effects(rng, 10)
    groups = {name: _group(rng, 10, unit_effects=effects, fail_p=0.0) for name in TABLE1_METHODS}
    groups["+ IHL"] = _group(rng, 10, log_ppl_shift=-np.log(3), unit_effects=effects, fail_p=0.0)
    groups["+ FILA"] = _group(rng, 10, log_ppl_shift=-2 * np.log(3), unit_effects=effects, fail_p=0.0)
    rows = {r["claim"]: r for r in claims.verdicts(groups, BEFORE)}
    for claim in ("C4", "C6"):
        assert rows[claim]["verdict"] == "holds", rows[claim]
        assert "at the criterion (primary: matched forgetting)" in rows[claim]["effect unit"]
    assert rows["C4"]["effect"] == pytest.approx(np.log(3), abs=0.15)


def test_capability_pairs_keep_only_units_where_both_forgot():
    """Nine of ten pairs forgot: in the paper's view the tenth, where + IHL failed with a far
    better perplexity, is left out and the nine show + IHL worse; the earlier primary endpoint
    counted the tenth as a loss for + IHL (it did not forget), and at matched forgetting (the
    criterion, reached by both arms on 9 and 10 units) the tenth ranks worst."""
    rng = np.random.default_rng(1)
    effects = [{"epochs": 0.0, "ppl": 0.0, "reasoning": 0.0}] * 10
    groups = {name: _group(rng, 10, unit_effects=effects, fail_p=0.0) for name in TABLE1_METHODS}
    ihl = _group(rng, 10, log_ppl_shift=0.5, unit_effects=effects, fail_p=0.0)
    ihl[0].update(status="max_epochs", epochs=None, epochs_run=20, pile_ppl=1.0)
    groups["+ IHL"] = ihl
    rows = {r["claim"]: r for r in claims.verdicts(groups, BEFORE)}
    assert rows["C4"]["n"] == 10 and rows["C4"]["verdict"] == "does not hold", rows["C4"]
    assert (
        "0 wins, 10 losses" in rows["C4"]["evidence"]
        and "[decides] (reached: a 9, b 10 of 10)" in rows["C4"]["evidence"]
    )
    assert (
        "compared where both forgot: 9 of 10 pairs" in rows["C4"]["evidence"]
        and "(does not hold)" in rows["C4"]["evidence"]
    )


def test_the_hierarchical_endpoint_ranks_forgetting_then_capability_then_final_ma():
    def rec(u, status, ppl=100.0, ma=0.5):
        return {
            "status": status,
            "epochs": 5 if status == "forgotten" else None,
            "pile_ppl": ppl,
            "final_ma": ma,
            "tags": {"forget_set": f"u{u}"},
        }

    a = [
        rec(0, "forgotten"),
        rec(1, "forgotten", ppl=100.0),
        rec(2, "max_epochs", ma=0.3),
        rec(3, "forgotten", ppl=110.0),
    ]
    b = [
        rec(0, "max_epochs"),
        rec(1, "forgotten", ppl=200.0),
        rec(2, "max_epochs", ma=0.4),
        rec(3, "forgotten", ppl=100.0),
    ]
    w = claims.hierarchical(a, b, minimum_log_ppl=np.log(1.25))
    # u0 forgot vs not: win; u1 half the perplexity: win; u2 lower final MA: win; u3 within x1.25: tie
    assert (w.wins, w.losses, w.ties) == (3, 0, 1) and w.p == pytest.approx(0.25)


def test_a_win_ratio_verdict_names_its_ties_and_says_when_no_pair_is_decided():
    def rec(u, ppl):
        return {"status": "forgotten", "epochs": 5, "pile_ppl": ppl, "final_ma": 0.5, "tags": {"forget_set": f"u{u}"}}

    # every unit forgot under both methods, perplexities within x1.25: all ties, nothing to test
    a, b = [rec(u, 100.0) for u in range(10)], [rec(u, 110.0) for u in range(10)]
    w = claims.hierarchical(a, b, minimum_log_ppl=np.log(1.25))
    assert (w.wins, w.losses, w.ties) == (0, 0, 10)
    assert claims.win_verdict(w, +1) == "inconclusive (n = 10: every pair ties, no pair decided)"
    assert "no decided pair" in claims.win_row("C4", "", w, "", "")["power"]
    # one decided pair cannot reach p < 0.05: the verdict counts the ties beside it
    b[0] = rec(0, 200.0)
    w = claims.hierarchical(a, b, minimum_log_ppl=np.log(1.25))
    assert claims.win_verdict(w, +1) == "inconclusive (n = 10: 9 ties, 1 decided pairs cannot reach p < 0.05)"


# ---------------------------------------------------------------- the confirmatory design (issue 46)

SOURCES = {"model-a": 6.3, "model-b": 5.0}  # two independently injected models, their log PPL before


def _two_sources(rng, units, fail_p=0.15, shifts=None, noise="gaussian"):
    """The confirmatory arms on ``units`` units, alternating between two models whose
    perplexity before unlearning differs; each record names its model (``spec``)."""
    shifts = shifts or {}
    effects = _unit_effects(rng, units)
    groups = {}
    for arm in claims.CONFIRMATORY_ARMS:
        records = _group(
            rng, units, log_ppl_shift=shifts.get(arm, 0.0), unit_effects=effects, fail_p=fail_p, noise=noise
        )
        for u, r in enumerate(records):
            model = list(SOURCES)[u % 2]
            offset = SOURCES[model] - 6.3  # the model's own level: every probe moves with it
            r["spec"] = {"model_name": model}
            r["pile_ppl"] *= float(np.exp(offset))
            for h in r["history"]:
                h["probe"]["log_pile_ppl"] += offset
        groups[arm] = records
    return groups


BEFORES = {m: {"pile_ppl": float(np.exp(v)), "reasoning": 0.40, "dialogue": 0.08} for m, v in SOURCES.items()}


def test_the_confirmatory_verdicts_read_each_unit_against_its_own_model():
    """LoRA + IHL keeps a third of LoRA (GD)'s perplexity on units of both models: C4 holds at the
    criterion with the effect log 3; a model with no before is named."""
    rng = np.random.default_rng(7)
    groups = _two_sources(rng, 10, fail_p=0.0, shifts={"LoRA (GD)": np.log(3)})
    rows = {r["claim"]: r for r in claims.confirmatory_verdicts(groups, BEFORES)}
    assert list(rows) == ["C4", "C5", "C5b", "C6"]
    assert rows["C4"]["verdict"] == "holds" and rows["C4"]["n"] == 10
    assert rows["C4"]["effect"] == pytest.approx(np.log(3), abs=0.15)
    assert all("Holm p" in r for r in rows.values())
    with pytest.raises(KeyError, match="no probe before unlearning for model 'model-b'"):
        claims.confirmatory_verdicts(groups, {"model-a": BEFORES["model-a"]})
    with pytest.raises(ValueError, match="missing: \\['PiSSA \\+ IHL'\\]"):
        claims.confirmatory_verdicts({k: v for k, v in groups.items() if k != "PiSSA + IHL"}, BEFORES)


@pytest.mark.parametrize("units,fail_p,noise", [(10, 0.15, "gaussian"), (13, 0.75, "heavy"), (20, 0.75, "gaussian")])
def test_the_confirmatory_design_is_calibrated_without_a_difference(units, fail_p, noise):
    """Null calibration of the confirmatory design (two sources pooled, half or more of the pairs
    both failed at fail_p 0.75): false "holds" and false "does not hold" each <= 5 % (MC margin)."""
    rng = np.random.default_rng(units + 17)
    holds, against = {}, {}
    for _ in range(TRIALS):
        for row in claims.confirmatory_verdicts(_two_sources(rng, units, fail_p, noise=noise), BEFORES):
            holds[row["claim"]] = holds.get(row["claim"], 0) + (row["verdict"] == "holds")
            against[row["claim"]] = against.get(row["claim"], 0) + (row["verdict"] == "does not hold")
    assert all(k / TRIALS <= MC_LIMIT for k in holds.values()), holds
    assert all(k / TRIALS <= MC_LIMIT for k in against.values()), against


def test_the_seed_spread_pairs_each_unit_with_its_first_seed_run():
    first = {
        "+ IHL": [
            {"status": "forgotten", "epochs": 3, "tags": {"forget_set": "s0"}, "seed": 0},
            {"status": "forgotten", "epochs": 2, "tags": {"forget_set": "s1"}, "seed": 0},
        ]
    }
    second = {
        "+ IHL": [
            {"status": "forgotten", "epochs": 5, "tags": {"forget_set": "s0"}, "seed": 1},
            {"status": "max_epochs", "epochs": None, "tags": {"forget_set": "s1"}, "seed": 1},
            {"status": "forgotten", "epochs": 1, "tags": {"forget_set": "s9"}, "seed": 1},
        ]
    }
    rows = claims.seed_spread(first, second)
    assert [(r["unit"], r["difference"]) for r in rows] == [("s0", 2), ("s1", None)]


def test_the_epochs_tie_band_follows_the_seed_spread_once_enough_pairs_are_measured():
    row = lambda d: {"arm": "+ IHL", "unit": "u", "epochs, first seed": 3, "epochs, second seed": 3, "difference": d}  # noqa: E731
    band, note = claims.epochs_tie_band([row(3), row(-3), row(None)])
    assert band == 1.0 and "fewer than the 5" in note  # two measured pairs: the default stands
    band, note = claims.epochs_tie_band([row(d) for d in (0, 2, -2, 3, -4, None)])
    assert band == 2.0 and "median |seed-to-seed difference| 2 over 5" in note
    assert claims.epochs_tie_band([row(0)] * 6)[0] == 1.0  # never below the default
