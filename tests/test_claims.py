"""Claim verdicts from synthetic run records: calibration (no difference -> rarely "holds"),
power (a real difference -> found), pairing, censoring and chance-level exclusion."""

import numpy as np
import pytest

from unlearnkit.experiments import claims
from unlearnkit.methods import TABLE1 as TABLE1_METHODS

TRIALS = 400
# Monte-Carlo margin: 5 % plus two binomial standard errors of a 5 % rate over TRIALS trials
MC_LIMIT = 0.05 + 2 * np.sqrt(0.05 * 0.95 / TRIALS)


def _group(rng, units, epochs_shift=0.0, log_ppl_shift=0.0, reasoning_shift=0.0, fail_p=0.15, unit_effects=None):
    """One method's records over ``units`` forget sets; ``unit_effects`` are shared by all methods."""
    out = []
    for u in range(units):
        eff = unit_effects[u]
        epochs = int(np.clip(round(10 + eff["epochs"] + epochs_shift + rng.normal(0, 1.5)), 1, 20))
        failed = rng.random() < fail_p
        out.append(
            {
                "status": "max_epochs" if failed else "forgotten",
                "epochs": None if failed else epochs,
                "epochs_run": 20 if failed else epochs,
                "pile_ppl": float(np.exp(6.3 + eff["ppl"] + log_ppl_shift + rng.normal(0, 0.1))),
                "reasoning": 0.40 + eff["reasoning"] + reasoning_shift + rng.normal(0, 0.01),
                "dialogue": 0.08 + rng.normal(0, 0.005),
                "tags": {"forget_set": f"lm_extraction_32_{u}"},
                "config": {"max_epochs": 20},
            }
        )
    return out


def _unit_effects(rng, units):
    return [
        {"epochs": rng.normal(0, 2), "ppl": rng.normal(0, 0.2), "reasoning": rng.normal(0, 0.01)} for _ in range(units)
    ]


def _null_groups(rng, units):
    effects = _unit_effects(rng, units)
    return {name: _group(rng, units, unit_effects=effects) for name in TABLE1_METHODS}


BEFORE = {"pile_ppl": float(np.exp(6.3)), "reasoning": 0.40, "dialogue": 0.08}


@pytest.mark.parametrize("units", [3, 5])
def test_no_claim_holds_more_often_than_alpha_without_a_difference(units):
    rng = np.random.default_rng(units)
    holds = {}
    for _ in range(TRIALS):
        for row in claims.verdicts(_null_groups(rng, units), BEFORE):
            holds[row["claim"]] = holds.get(row["claim"], 0) + (row["verdict"] == "holds")
    rates = {c: k / TRIALS for c, k in holds.items()}
    assert all(r <= MC_LIMIT for r in rates.values()), rates


def test_a_real_difference_is_found_at_five_units():
    """Stated sizes: FILA 5 epochs faster than LoRA+IHL (per-run noise SD 1.5 epochs, so a
    paired SD of about 2.1), and LoRA+IHL's Pile PPL 30 % lower than LoRA(GD)'s (noise SD 0.1
    on log PPL); each must be found in at least 80 % of trials."""
    rng = np.random.default_rng(1)
    found = {"C4": 0, "C5": 0}
    for _ in range(200):
        effects = _unit_effects(rng, 5)
        groups = {name: _group(rng, 5, unit_effects=effects, fail_p=0.0) for name in TABLE1_METHODS}
        groups["+ FILA"] = _group(rng, 5, epochs_shift=-5, unit_effects=effects, fail_p=0.0)
        groups["+ IHL"] = _group(rng, 5, log_ppl_shift=np.log(0.7), unit_effects=effects, fail_p=0.0)
        v = {row["claim"]: row["verdict"] for row in claims.verdicts(groups, BEFORE)}
        found["C4"] += v["C4"] == "holds"
        found["C5"] += v["C5"] == "holds"
    assert found["C4"] / 200 >= 0.8 and found["C5"] / 200 >= 0.8, found


def test_too_few_units_are_inconclusive_never_holds():
    rng = np.random.default_rng(0)
    effects = _unit_effects(rng, 2)
    groups = {name: _group(rng, 2, unit_effects=effects, fail_p=0.0) for name in TABLE1_METHODS}
    groups["GA"] = _group(rng, 2, log_ppl_shift=3.0, unit_effects=effects, fail_p=0.0)  # a huge effect
    rows = {r["claim"]: r for r in claims.verdicts(groups, BEFORE)}
    assert rows["C1"]["verdict"] == "inconclusive (n = 2)" and rows["C1"]["p"] is None


def test_failures_are_censored_not_dropped():
    """A method that fails on 4 of 5 forget sets is slower, although its one success was fast."""
    rng = np.random.default_rng(0)
    effects = [{"epochs": 0.0, "ppl": 0.0, "reasoning": 0.0}] * 5
    groups = {name: _group(rng, 5, unit_effects=effects, fail_p=0.0) for name in TABLE1_METHODS}
    ihl = _group(rng, 5, unit_effects=effects, fail_p=0.0)
    for r in ihl[1:]:
        r.update(status="max_epochs", epochs=None, epochs_run=20)
    ihl[0].update(epochs=2)
    groups["+ IHL"] = ihl
    rows = {r["claim"]: r for r in claims.verdicts(groups, BEFORE)}
    fila = [r["epochs"] for r in groups["+ FILA"]]
    assert rows["C5"]["effect"] == pytest.approx(np.mean(fila) - np.mean([2, 21, 21, 21, 21]), abs=1e-3)
    assert rows["C5"]["n"] == 5  # the failed runs stay in, as budget + 1
    assert "failed 0/5 vs 4/5" in rows["C5"]["evidence"]


def test_pairing_removes_forget_set_difficulty():
    """Forget sets differ a lot, the methods differ a little but consistently: only a paired test sees it."""
    base = [
        {
            "status": "forgotten",
            "epochs": e,
            "epochs_run": e,
            "pile_ppl": p,
            "reasoning": 0.4,
            "dialogue": 0.1,
            "tags": {"forget_set": f"f{u}"},
        }
        for u, (e, p) in enumerate(zip([4, 8, 12, 16, 19], [300, 600, 900, 1200, 1500]))
    ]
    faster = [dict(r, epochs=r["epochs"] - 1, epochs_run=r["epochs"] - 1) for r in base]
    faster[2] = dict(faster[2], epochs=faster[2]["epochs"] - 1)  # not all differences equal
    groups = {name: [dict(r) for r in base] for name in TABLE1_METHODS}
    groups["+ FILA"] = faster
    rows = {r["claim"]: r for r in claims.verdicts(groups, {"pile_ppl": 500.0, "reasoning": 0.4, "dialogue": 0.1})}
    assert rows["C5"]["verdict"] == "holds" and rows["C5"]["effect"] == pytest.approx(-1.2)


def test_rows_show_n_effect_interval_p_and_verdict():
    rng = np.random.default_rng(3)
    effects = _unit_effects(rng, 5)
    rows = claims.verdicts({name: _group(rng, 5, unit_effects=effects, fail_p=0.0) for name in TABLE1_METHODS}, BEFORE)
    for r in rows[:-1]:
        assert {"n", "effect", "95% CI", "p", "verdict", "evidence"} <= set(r)
        assert r["n"] == 5


def test_capability_leaves_out_tasks_at_chance():
    before = dict(
        BEFORE,
        downstream={
            "reasoning": {"copa": 0.52, "piqa": 0.70, "lambada": 0.0},
            "dialogue": {"wizard_of_wikipedia": 0.001},
            "docs": {"copa": 100, "piqa": 100, "lambada": 100, "wizard_of_wikipedia": 25},
        },
    )
    measures, excluded = claims.capability_measures(before)
    names = [m.name for m in measures]
    assert names == ["Pile PPL", "Reasoning % (tasks above chance)"]
    assert measures[1].tasks == ("piqa",)
    assert any(e.startswith("copa") for e in excluded) and any(e.startswith("lambada") for e in excluded)
    assert any(e.startswith("wizard_of_wikipedia") for e in excluded)


def test_capability_is_compared_only_where_both_runs_forgot():
    """A run that never met the criterion has spent less of the model: its capability is not
    set against a run that forgot. Both LoRA methods failing everywhere leaves C4 without pairs
    (inconclusive, however large the perplexity gap), and FILA, the one LoRA method that forgot,
    is not judged against them (C6 inconclusive rather than "does not hold")."""
    rng = np.random.default_rng(0)
    effects = [{"epochs": 0.0, "ppl": 0.0, "reasoning": 0.0}] * 5
    groups = {name: _group(rng, 5, unit_effects=effects, fail_p=0.0) for name in TABLE1_METHODS}
    groups["+ IHL"] = _group(rng, 5, log_ppl_shift=-1.0, unit_effects=effects, fail_p=1.0)
    groups["LoRA (GD)"] = _group(rng, 5, unit_effects=effects, fail_p=1.0)
    groups["+ FILA"] = _group(rng, 5, log_ppl_shift=1.0, unit_effects=effects, fail_p=0.0)
    rows = {r["claim"]: r for r in claims.verdicts(groups, BEFORE)}
    assert rows["C4"]["verdict"] == "inconclusive (n = 0)", rows["C4"]
    assert "compared where both forgot: 0 of 5 pairs" in rows["C4"]["evidence"]
    assert rows["C6"]["verdict"] == "inconclusive (n = 0)", rows["C6"]
    assert rows["C5"]["verdict"] == "holds"  # the epochs claim keeps the failures, censored


def test_capability_pairs_keep_only_units_where_both_forgot():
    """Four of five pairs forgot: the fifth, where + IHL failed with a far better perplexity,
    is left out, and the four show + IHL worse."""
    rng = np.random.default_rng(1)
    effects = [{"epochs": 0.0, "ppl": 0.0, "reasoning": 0.0}] * 5
    groups = {name: _group(rng, 5, unit_effects=effects, fail_p=0.0) for name in TABLE1_METHODS}
    ihl = _group(rng, 5, log_ppl_shift=0.5, unit_effects=effects, fail_p=0.0)
    ihl[0].update(status="max_epochs", epochs=None, epochs_run=20, pile_ppl=1.0)
    groups["+ IHL"] = ihl
    rows = {r["claim"]: r for r in claims.verdicts(groups, BEFORE)}
    assert rows["C4"]["n"] == 4 and rows["C4"]["verdict"] == "does not hold", rows["C4"]
