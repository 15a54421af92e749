"""The robustness audit's tables and verdicts, from an :class:`~.robustness.Audit`.

The claims R1-R3 (:data:`CLAIMS`) compare, per method and paired over the units its run
forgot, the attacked unlearned model with the attacked exact reference (R1: what quantisation
*changes*, the quantised model's MA minus the same model's MA unquantised, since Zhang et al.'s
claim is that quantisation restores forgotten text; its levels are shown beside it), by the
statistics layer's exact sign-flip test with the minimum effects of :data:`MINIMUM_EFFECTS` (stated before
any audit ran) and Holm over all of them; "indistinguishable from exact unlearning" is said
only when the equivalence test (TOST, the same margin) says so.

Presentation only: nothing here attacks, trains or caches (editing it keeps every cache key).
"""

from __future__ import annotations

import math

import pandas as pd

from .. import stats
from .robustness import REFERENCE, Audit, AuditSettings, columns, relearn_label

# Stated before any audit ran: recovery is a difference of mean MA (a fraction) or of ROC AUC,
# and five points of either is the smallest this book counts (a convention, not a paper's
# number: Zhang et al.'s recovery is 62 points).
MINIMUM_EFFECTS = {"ma": 0.05, "auc": 0.05}
MEMBERSHIP_SCORE = "min_k_40"  # MUSE's privacy-leak attack: Min-K % Prob at k = 40 % (was k = 20 % before 2026-12-05)

# claim -> (attack, strength, measure, statement, sides): sides 1 counts a recovery above the
# reference only; 2 counts a difference either way (an unlearned model whose forget rows score
# *below* unseen rows is told from exact unlearning as surely: MUSE's negative privacy leak)
CLAIMS = {
    "R1": (
        "quantise",
        "int4 RTN",
        "ma",
        "4-bit quantisation restores forgotten text (Zhang et al. 2025): it raises the unlearned "
        "model's MA more than the exact reference's",
        1,
    ),
    "R2": ("relearn", None, "ma", "relearning half the unit restores the other half more than for exact unlearning", 1),
    "R3": (
        "membership",
        MEMBERSHIP_SCORE,
        "auc",
        "membership inference tells the unlearned model from exact unlearning",
        2,
    ),
}


# ----------------------------------------------------------------------------- summaries


def _kept(a: Audit) -> pd.DataFrame:
    """The audit's rows without the units a method failed to forget (controls: status "control")."""
    t = a.table.assign(status=a.table.status.fillna("control"))
    return t[t.status != "failed"]


def failed_units(a: Audit, method: str) -> int:
    """How many units ``method``'s run did not forget (attacked or not: the weights table lists
    every run, the attack table only the attacked ones)."""
    found = set(a.table[(a.table.model == method) & (a.table.status == "failed")].unit)
    if not a.weights.empty:
        found |= set(a.weights[(a.weights.model == method) & (a.weights.status == "failed")].unit)
    return len(found)


def criterion_after_attack(a: Audit) -> pd.DataFrame:
    """Per model and attack: the share (%) of units whose MA after the attack (for relearning, on
    the unit's second half) is still below the run's own MA threshold (the held-out MA of the
    model before unlearning: the MA half of the forgetting criterion, applied again), over the
    units whose run forgot (controls: every unit)."""
    t = _kept(a)
    t = t[t.measure == "ma"].assign(still=lambda d: (d.value < a.threshold_ma).astype(float))
    out = t.pivot_table(index="model", columns=["attack", "strength"], values="still", sort=False)
    return (100 * out.reindex(columns=pd.MultiIndex.from_tuples(columns(a.settings)))).round(0)


def summary(a: Audit, measure: str = "ma") -> pd.DataFrame:
    """Mean ``measure`` (%) per model (rows) and attack strength (columns) over the units each
    model forgot (controls: every unit); ``n`` units per model."""
    t = _kept(a)
    t = t[t.measure == measure]
    out = 100 * t.pivot_table(index="model", columns=["attack", "strength"], values="value", aggfunc="mean", sort=False)
    out = out.reindex(columns=pd.MultiIndex.from_tuples(columns(a.settings)))
    out.insert(0, ("n", ""), t.groupby("model", sort=False).unit.nunique())
    return out.round(1)


def membership_table(a: Audit) -> pd.DataFrame:
    """ROC AUC (unit rows against held-out rows) of each membership score, mean per model;
    with a reference, MUSE's privacy leak of :data:`MEMBERSHIP_SCORE`
    (:func:`unlearnkit.evaluation.attacks.privacy_leak`: negative = under-unlearning), in %."""
    from ..evaluation.attacks import privacy_leak

    t = _kept(a)
    t = t[t.attack == "membership"]
    out = t.pivot_table(index="model", columns="measure", values="value", aggfunc="mean", sort=False)
    out.columns = [c.removeprefix("auc_") for c in out.columns]
    if a.has_reference and REFERENCE in out.index:
        ref = out.loc[REFERENCE, MEMBERSHIP_SCORE]
        out["privacy leak (%)"] = [privacy_leak(v, ref) for v in out[MEMBERSHIP_SCORE]]
    return out.round(3)


def weight_table(a: Audit) -> pd.DataFrame:
    """Per method, the median over units of :func:`attacks.weight_change`: how far unlearning
    moved the weights in 4-bit steps, and the share whose 4-bit value changed (%)."""
    if a.weights.empty:
        return pd.DataFrame()
    measures = ["median_steps", "share_above_half_step", "share_codes_changed"]
    g = a.weights.reindex(columns=["unit", "model", "status", *measures]).groupby("model", sort=False)
    w = g[measures].median()
    w[["share_above_half_step", "share_codes_changed"]] *= 100
    w.insert(0, "units forgotten", g.status.apply(lambda s: f"{(s == 'forgotten').sum()}/{len(s)}"))
    return w.rename(
        columns={
            "median_steps": "median |ΔW| (4-bit steps)",
            "share_above_half_step": "moved > ½ step (%)",
            "share_codes_changed": "4-bit code changed (%)",
        }
    ).round(3)


def budget_table(a: Audit) -> pd.DataFrame:
    """The audit at a fixed budget (:func:`~unlearnkit.experiments.robustness.audit_at_budget`):
    per method, the units forgotten by then, mean MA (and EL where measured, %) on the unit as it
    is and after each quantiser, the change int4 RTN brings (points), and how far the weights
    moved in 4-bit steps (medians over units, :func:`weight_table`)."""
    if a.table.empty:
        return pd.DataFrame()
    t = a.table[a.table.attack.isin(["none", "quantise"])]
    parts = []
    for measure in ("ma", "el"):
        m = t[t.measure == measure]
        if m.empty:
            continue
        piv = 100 * m.pivot_table(index="model", columns="strength", values="value", aggfunc="mean", sort=False)
        cols = ["none", *a.settings.quantisation]
        piv = piv.reindex(columns=cols)
        piv.columns = [f"{measure.upper()} {'as is' if c == 'none' else c} (%)" for c in cols]
        parts.append(piv)
    out = pd.concat(parts, axis=1)
    if "MA int4 RTN (%)" in out:
        out["MA change, int4 RTN (points)"] = out["MA int4 RTN (%)"] - out["MA as is (%)"]
    return weight_table(a).join(out).round(2)


# ----------------------------------------------------------------------------- verdicts


def _strength(claim: str, settings: AuditSettings) -> str:
    attack_, strength = CLAIMS[claim][:2]
    if attack_ == "relearn":
        return relearn_label(max(settings.relearn_steps))
    if attack_ == "membership":
        return "AUC"
    return strength


def _measure(claim: str) -> str:
    attack_, strength, measure = CLAIMS[claim][:3]
    return f"auc_{strength}" if attack_ == "membership" else measure


def _values(a: Audit, model: str, attack_: str, strength: str, measure: str) -> dict[str, float]:
    t = _kept(a)
    t = t[(t.model == model) & (t.attack == attack_) & (t.strength == strength) & (t.measure == measure)]
    return dict(zip(t.unit, t.value))


def by_unit(a: Audit, model: str, claim: str) -> dict[str, float]:
    """``{unit: value}`` of ``claim``'s primary endpoint for ``model`` (a method: only the units
    its run forgot; forgetting is what the attack tests).  R1's endpoint is the change the
    quantisation makes: MA quantised minus MA unquantised, on the same unit."""
    attack_ = CLAIMS[claim][0]
    got = _values(a, model, attack_, _strength(claim, a.settings), _measure(claim))
    if attack_ != "quantise":
        return got
    plain = _values(a, model, "none", "none", _measure(claim))
    return {u: v - plain[u] for u, v in got.items() if u in plain}


def _levels(a: Audit, method: str, claim: str) -> str:
    """R1's levels beside its change: mean MA (%) of the method and the reference, unquantised
    and quantised, over the units both have."""
    strength = _strength(claim, a.settings)
    got = {
        (m, q): _values(a, m, *(("quantise", strength) if q else ("none", "none")), "ma")
        for m in (method, REFERENCE)
        for q in (False, True)
    }
    units = set.intersection(*(set(v) for v in got.values()))
    if not units:
        return ""

    def mean(m, q):
        return 100 * sum(got[(m, q)][u] for u in units) / len(units)

    return (
        f"levels (mean MA %, {len(units)} units): unlearned {mean(method, False):.1f} → {mean(method, True):.1f} "
        f"quantised, reference {mean(REFERENCE, False):.1f} → {mean(REFERENCE, True):.1f}; "
    )


def verdicts(a: Audit, minimums: dict | None = None) -> list[dict]:
    """R1–R3 for every method: the attacked unlearned model minus the attacked exact reference,
    paired over the units the method forgot; "holds" and "does not hold" need the exact sign-flip
    test (beyond the minimum effect for "holds"), "indistinguishable from exact unlearning" needs
    TOST at the same margin, all p-values adjusted in one Holm family (every row's test and
    its TOST).  Without a reference there is nothing to decide."""
    minimums = MINIMUM_EFFECTS | (minimums or {})
    rows, comparisons = [], []
    for method in a.methods:
        for claim, (_, _, measure, statement, _) in CLAIMS.items():
            if not a.has_reference:
                rows.append(
                    {
                        "claim": claim,
                        "method": method,
                        "statement": statement,
                        "verdict": "not decided (no exact reference in this profile)",
                        "evidence": "",
                    }
                )
                comparisons.append(None)
                continue
            mine, ref = by_unit(a, method, claim), by_unit(a, REFERENCE, claim)
            c = stats.paired(mine, ref, minimums[measure])
            diffs = [mine[u] - ref[u] for u in sorted(set(mine) & set(ref))]
            failed = failed_units(a, method)
            rows.append(
                {
                    "claim": claim,
                    "method": method,
                    "statement": statement,
                    "comparison": c,
                    "equivalence": stats.equivalence(diffs, c.minimum),
                    "failed": failed,
                }
            )
            comparisons.append(c)
    # One Holm family over every decision either way: each row's difference test (which gives
    # "holds" and "does not hold") and its TOST (which gives "indistinguishable")
    nan = float("nan")
    tost = [row["equivalence"].p if c is not None else nan for row, c in zip(rows, comparisons)]
    family = stats.holm([c.p if c is not None else nan for c in comparisons] + tost)
    adjusted, tost_adjusted = family[: len(rows)], family[len(rows) :]
    for row, c, p, p_tost in zip(rows, comparisons, adjusted, tost_adjusted):
        if c is None:
            continue
        e = row.pop("equivalence")
        supports = -1 if CLAIMS[row["claim"]][4] == 2 and c.effect < 0 else 1
        verdict = stats.decide(c, supports=supports, p=p)
        if verdict == "holds" and supports == -1:
            verdict = "holds (below the reference: the unlearned model over-forgot)"
        if not verdict.startswith("holds") and not math.isnan(p_tost) and p_tost < stats.ALPHA:
            verdict = f"does not hold: indistinguishable from exact unlearning (±{c.minimum:g})"
        scale = 100.0 if CLAIMS[row["claim"]][2] == "ma" else 1.0
        unit = " MA points" if scale == 100 else " AUC"
        row["verdict"] = verdict
        levels = _levels(a, row["method"], row["claim"]) if CLAIMS[row["claim"]][0] == "quantise" else ""
        if levels:  # the rule before 2026-12-05, on the quantised levels (not adjusted), beside
            strength = _strength(row["claim"], a.settings)
            old = stats.paired(
                _values(a, row["method"], "quantise", strength, "ma"),
                _values(a, REFERENCE, "quantise", strength, "ma"),
                minimums["ma"],
            )
            levels += f"earlier rule (quantised levels, unadjusted): {stats.decide(old)}; "
        row["evidence"] = levels + (
            f"{c.text(unit, scale)}; Holm p = {p:.3g}; {e.text(unit, scale)}, Holm p = {p_tost:.3g}; "
            f"{row.pop('failed')} unit(s) not forgotten left out; {c.power_text(scale)}"
            if not math.isnan(p)
            else f"{c.text(unit, scale)}; {c.power_text(scale)}"
        )
        row.pop("comparison")
    return rows


def findings_rows(rows: list[dict]) -> list[dict]:
    """One row per claim for the introduction's findings table (:func:`unlearnkit.book.findings.add`):
    the methods grouped by their verdict, e.g. ``"inconclusive: GA, GD; holds: + IHL"``."""
    out = []
    for claim in CLAIMS:
        groups: dict[str, list[str]] = {}
        for row in rows:
            if row["claim"] == claim:
                groups.setdefault(row["verdict"], []).append(row["method"])
        if groups:
            verdict = "; ".join(f"{v}: {', '.join(ms)}" for v, ms in groups.items())
            out.append({"claim": claim, "verdict": verdict, "n": None, "p": None})
    return out


def verdict_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["claim", "method", "statement", "verdict", "evidence"]).set_index(
        ["claim", "method"]
    )


def facts(a: Audit) -> dict[str, str]:
    """Sizes and costs for the chapter's prose."""
    s = a.settings
    units = sorted(a.table.unit.unique())
    return {
        "audit_units": ", ".join(units),
        "audit_n_units": str(len(units)),
        "audit_methods": ", ".join(a.methods),
        "audit_minutes": f"{a.seconds / 60:.1f}",
        "audit_quantisers": ", ".join(s.quantisation),
        "audit_group": str(s.group_size),
        "audit_steps": ", ".join(map(str, s.relearn_steps)),
        "audit_relearn_lr": f"{s.relearn_lr:g}",
        "audit_heldout": str(s.heldout_rows),
        "audit_min_ma": f"{100 * MINIMUM_EFFECTS['ma']:g}",
        "audit_min_auc": f"{MINIMUM_EFFECTS['auc']:g}",
        "audit_reference": "the exact-unlearning reference" if a.has_reference else "no exact reference (below)",
        "audit_threshold_ma": f"{100 * a.threshold_ma:.1f}",
    }


def headline(a: Audit) -> dict[str, str]:
    """The audit's main numbers for the chapter's prose (means over the methods' forgotten units):
    the largest move of MA under int4 RTN, the unit's second half before and after the most
    relearning steps beside the held-out rows' MA over the same steps (what relearning does to
    text the unit does not contain), and the share of forgotten units the criterion's MA half
    still calls forgotten after it."""
    t = _kept(a)
    t = t[t.status == "forgotten"]
    last = relearn_label(max(a.settings.relearn_steps))
    if t.empty:
        keys = ("quant_move", "relearn_from", "relearn_to", "heldout_from", "heldout_to", "still")
        return {k: "n/a" for k in keys} | {"last_steps": last}

    def mean(attack_, strength, measure="ma"):
        v = t[(t.attack == attack_) & (t.strength == strength) & (t.measure == measure)]
        return v.groupby(["model", "unit"]).value.mean()

    quant = (
        (mean("quantise", "int4 RTN") - mean("none", "none")).abs().max()
        if "int4 RTN" in a.settings.quantisation
        else float("nan")
    )
    after = mean("relearn", last)
    return {
        "quant_move": f"{100 * quant:.1f}",
        "relearn_from": f"{100 * mean('relearn', relearn_label(0)).mean():.1f}",
        "relearn_to": f"{100 * after.mean():.1f}",
        "heldout_from": f"{100 * mean('relearn', relearn_label(0), 'heldout_ma').mean():.1f}",
        "heldout_to": f"{100 * mean('relearn', last, 'heldout_ma').mean():.1f}",
        "still": f"{100 * (after < a.threshold_ma).mean():.0f}",
        "last_steps": last,
    }
