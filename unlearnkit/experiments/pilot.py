"""The capability pilot: which setting makes the baseline lose capability by the time it forgets.

The capability claims (C4, C6) compare arms at matched forgetting; they can only show
preservation where the baseline, LoRA (GD), loses something on the way.  The pilot runs the
baseline (and any other method listed) at a few rates on a few units and reads, per setting,
the capability at the moment each run met the criterion: the probe's Pile perplexity at that
epoch against the probe of the model before unlearning (:mod:`.matched`, :mod:`.probe`) and the
reasoning accuracy measured once at the end (which for a forgotten run is the criterion's epoch).
:func:`choose` applies the rule stated before the pilot ran (:data:`.claim_rules.PILOT_BAR`).

This module reads records and chooses; it computes no run and decides no claim.
"""

from __future__ import annotations

import math
import statistics

import pandas as pd

from ..store.records import field_of
from .claim_rules import PILOT_BAR, PILOT_BASELINE
from .endpoints import succeeded
from .matched import at_criterion, start_log_ppl


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def table(groups: dict[tuple[str, float], list], before: dict) -> pd.DataFrame:
    """One row per pilot setting ``(method, rate)``: units, how many forgot, median epochs to the
    criterion, median Pile PPL ratio at the criterion (probe against the probe before), median
    reasoning change in points (at the end of the run), median seconds, and whether the setting
    clears :data:`PILOT_BAR` (every unit forgotten and the PPL or reasoning bar met)."""
    log_before, start_note = start_log_ppl(before)
    reasoning_before = before.get("reasoning")
    rows = []
    for (method, lr), records in groups.items():
        forgot = [r for r in records if succeeded(r)]
        ratios = [math.exp(v - log_before) for v in map(at_criterion, forgot) if v is not None]
        drops = [
            100 * (reasoning_before - field_of(r, "reasoning"))
            for r in forgot
            if reasoning_before is not None and field_of(r, "reasoning", None) is not None
        ]
        ratio, drop = _median(ratios), _median(drops)
        rows.append(
            {
                "method": method,
                "rate": lr,
                "units": len(records),
                "forgot": len(forgot),
                "epochs (median, forgotten)": _median([float(field_of(r, "epochs")) for r in forgot]),
                "Pile PPL ratio at the criterion": ratio,
                "reasoning drop (points)": drop,
                "seconds (median)": _median([float(field_of(r, "seconds", 0.0) or 0.0) for r in records]),
                "clears the bar": bool(
                    records
                    and len(forgot) == len(records)
                    and (ratio >= PILOT_BAR["ppl_ratio"] or drop >= PILOT_BAR["reasoning_points"])
                ),
            }
        )
    out = pd.DataFrame(rows)
    out.attrs["start"] = start_note
    return out


def choose(pilot: pd.DataFrame, baseline: str = PILOT_BASELINE) -> dict:
    """The regime the rule picks from :func:`table`'s rows of ``baseline``: the setting that clears
    the bar with the largest PPL ratio at the criterion; else the strongest setting that forgets on
    every unit; else none.  Returns ``{"rate", "clears", "text"}`` (``rate`` None: nothing forgot)."""
    rows = pilot[(pilot["method"] == baseline) & (pilot["forgot"] == pilot["units"]) & (pilot["units"] > 0)]
    if rows.empty:
        return {"rate": None, "clears": False, "text": f"at no rate tried did {baseline} forget every pilot unit"}
    best = rows.sort_values(["clears the bar", "Pile PPL ratio at the criterion"], ascending=False).iloc[0]
    what = (
        f"{baseline} at {best['rate']:g}: Pile PPL x{best['Pile PPL ratio at the criterion']:.2f} and "
        f"{best['reasoning drop (points)']:+.1f} reasoning points lost at the criterion "
        f"(median over {int(best['units'])} unit(s))"
    )
    if best["clears the bar"]:
        return {"rate": float(best["rate"]), "clears": True, "text": f"the regime: {what}"}
    return {
        "rate": float(best["rate"]),
        "clears": False,
        "text": f"no setting clears the bar (x{PILOT_BAR['ppl_ratio']:g} or {PILOT_BAR['reasoning_points']:g} "
        f"points); the strongest found: {what}",
    }
