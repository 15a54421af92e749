"""Verdict rows and tables of the claims: what the book prints for each comparison.

A row is claim, statement, n, effect with its 95 % interval, p, minimum effect, verdict,
power and evidence; :func:`verdict_table` turns rows into the chapter's table.  Wording of
verdicts from comparisons (:func:`win_verdict`, :func:`capability_verdict`) lives here; the
comparisons are :mod:`.endpoints`, the decisions :mod:`.claims`.
"""

from __future__ import annotations

import math

from .. import stats
from . import matched
from .endpoints import CapabilityResult, capability_measures


def win_verdict(w: stats.WinRatio, supports: int = 1) -> str:
    if not w.tested:
        return f"inconclusive (n = {w.n})"
    if w.direction == supports:
        return "holds"
    if w.direction == -supports:
        return "does not hold"
    decided = w.wins + w.losses
    if not decided:  # e.g. both forgot on every unit and no perplexity gap reached the minimum effect
        return f"inconclusive (n = {w.n}: every pair ties, no pair decided)"
    if w.smallest_p >= stats.ALPHA:
        return f"inconclusive (n = {w.n}: {w.ties} ties, {decided} decided pairs cannot reach p < {stats.ALPHA:g})"
    return f"inconclusive (n = {w.n})"


def win_row(claim, statement, w: stats.WinRatio, verdict: str, evidence: str) -> dict:
    """A verdict row whose deciding comparison is a win ratio (effect: the share of decided pairs won)."""
    decided = w.wins + w.losses
    return {
        "claim": claim,
        "statement": statement,
        "n": w.n,
        "effect": None if not decided else round(w.wins / decided, 4),
        "95% CI": None if math.isnan(w.low) else f"[{w.low:.2f}, {w.high:.2f}]",
        "p": None if not w.tested else float(f"{w.p:.3g}"),
        "minimum effect": None,
        "effect unit": "share of pairs won (primary: win ratio)",
        "verdict": verdict,
        "power": f"n = {w.n}, {decided} decided pairs, smallest attainable p {w.smallest_p:.2g}"
        + (" > α: cannot decide" if w.smallest_p >= stats.ALPHA else "")
        if decided
        else f"n = {w.n}, no decided pair: cannot decide",
        "evidence": evidence,
    }


def matched_row(claim, statement, m, verdict: str, evidence: str) -> dict:
    """A verdict row decided at matched forgetting (:mod:`.matched`): the deciding level's
    comparison (log Pile PPL b − a: + means ``a`` kept more)."""
    prim = m.primary()
    row = verdict_row(claim, statement, verdict, prim[1] if prim else None, evidence, "")
    row["n"] = m.n
    row["effect unit"] = (
        f"log Pile PPL, b − a, {matched.level_name(prim[0])} (primary: matched forgetting)"
        if prim
        else "log Pile PPL at matched forgetting: no level decides"
    )
    return row


def capability_verdict(cap: CapabilityResult) -> str:
    """ "holds" / "does not hold" from a capability comparison's direction (Holm over its
    measures, minimum effects), else "inconclusive" with the reason of its deciding measure."""
    if cap.direction:
        return "holds" if cap.direction > 0 else "does not hold"
    prim = cap.primary()
    if prim is None or not prim[1].tested:
        return f"inconclusive (n = {cap.n})"
    reason = stats.decide(prim[1], +1 if prim[1].effect >= 0 else -1)
    if reason in ("holds", "does not hold"):  # significant alone, not after Holm over the measures
        return f"inconclusive (n = {cap.n}: not significant after Holm over the measures)"
    return reason if reason.startswith("inconclusive") else f"inconclusive (n = {cap.n})"


def verdict_row(
    claim, statement, verdict, comparison: stats.Comparison | None, evidence: str, effect_unit: str = ""
) -> dict:
    """One row of a verdict table: n, effect, 95 % interval and p of the deciding comparison."""
    c = comparison
    return {
        "claim": claim,
        "statement": statement,
        "n": c.n if c else 0,
        "effect": None if c is None or math.isnan(c.effect) else round(c.effect, 4),
        "95% CI": None if c is None or math.isnan(c.low) else f"[{c.low:+.3g}, {c.high:+.3g}]",
        "p": None if c is None or not c.tested else float(f"{c.p:.3g}"),
        "minimum effect": None if c is None or not c.minimum else round(c.minimum, 4),
        "effect unit": effect_unit,
        "verdict": verdict,
        "power": "" if c is None else c.power_text(),
        "evidence": evidence,
    }


def excluded_measures(before: dict) -> list[str]:
    """The capability tasks left out of the verdicts because the model scores them at chance."""
    return capability_measures(before)[1]


def verdict_table(rows: list[dict]):
    """The verdict rows as the book shows them: n, effect, 95 % interval, p, verdict, evidence."""
    import pandas as pd

    cols = [
        "statement",
        "n",
        "effect",
        "effect unit",
        "95% CI",
        "p",
        "minimum effect",
        "Holm p",
        "verdict",
        "power",
        "evidence",
    ]
    df = pd.DataFrame(rows).set_index("claim")
    return df[[c for c in cols if c in df.columns]]
