"""Capability at matched forgetting: two arms compared at the same point of forgetting.

A run's record keeps a per-epoch probe: the forget set's MA and the log Pile perplexity
after every epoch.  This module reads that trajectory at pre-stated forgetting levels
(:data:`~.claim_rules.MATCHED_LEVELS`) and compares two methods there, paired per unit:

* a level is a fraction of the way from the unit's MA before unlearning to the criterion's MA
  threshold, or the criterion itself (the epoch the run met the EL10/MA criterion);
* the trajectory starts at the model before unlearning (its log Pile perplexity) and the
  unit's MA before unlearning, estimated from the records as the highest MA any run of the
  unit shows after its first epoch (records hold no per-unit MA before; every arm of a unit
  gets the same start, so the levels are the same for both sides of a pair);
* the value at an MA level is the log perplexity where the trajectory first reaches that MA,
  interpolated linearly in MA between the two epochs around the crossing;
* a run that never reaches a level ranks below every run that does (the rule stated with the
  levels, :func:`unlearnkit.stats.worst_rank_paired`); two runs that both never reach it say
  nothing about each other.

The comparison at each level is the exact sign test; one level decides, chosen by a rule stated
with the levels that looks at how often the arms reach them, never at their capability: the
deepest level both arms reach on at least half the units (:func:`deciding_level`).  A level one
arm rarely reaches would compare speed (C5), not capability.  Only the probe's perplexity is measured along
the way, so it decides; reasoning and dialogue are measured once, at the end of a run, and
are shown beside (:func:`.endpoints.capability`).  This module computes no run and decides no
claim (:mod:`.claims` does).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .. import stats
from ..store.records import field_of
from .claim_rules import MATCHED_LEVELS, REACHED_SHARE
from .endpoints import succeeded, unit


def history(record) -> list:
    """A run's per-epoch entries (``Epoch`` objects or dicts: both answer ``.get``)."""
    return list(field_of(record, "history", None) or [])


def threshold_ma(record) -> float | None:
    th = (field_of(record, "config", {}) or {}).get("thresholds") or {}
    return th.get("ma")


def starts(groups: dict[str, list]) -> dict:
    """Per unit, the MA before unlearning as the records estimate it: the highest MA any run of
    the unit shows after its first epoch (the same start for every arm of the unit)."""
    out: dict = {}
    for records in groups.values():
        for r in records:
            h = history(r)
            if h and h[0].get("ma") is not None:
                u = unit(r)
                out[u] = max(out.get(u, -math.inf), float(h[0].get("ma")))
    return out


def start_log_ppl(before: dict) -> tuple[float, str]:
    """Where every trajectory starts on the perplexity axis, and what it is: the per-epoch probe
    of the model before unlearning (``before["probe"]["log_pile_ppl"]``, :func:`.probe.before_probe`),
    the same measure as every epoch's.  Without it (records made before the probe was kept), the
    log of the downstream Pile PPL: the same number where that evaluation scored the probe's 20
    documents (the ``brief`` preset: measured equal on SmolLM2), another document set otherwise
    (``cpu``: 200), where a level crossed in the first epoch interpolates between two measures."""
    probe = (before.get("probe") or {}).get("log_pile_ppl")
    if probe is not None:
        return float(probe), "start: the probe before unlearning"
    return math.log(before["pile_ppl"]), (
        "start: the downstream Pile PPL (no probe before unlearning recorded; the same measure where the "
        "evaluation scored the probe's 20 documents, as the brief preset does, else a level crossed in the "
        "first epoch interpolates between two measures)"
    )


def start_log_ppls(befores: dict[str, dict]) -> tuple[dict[str, float], str]:
    """:func:`start_log_ppl` of each model, ``{model_name: before}`` -> ``({model_name: log PPL},
    note)``: the starts of a design whose units come from several models (each unit is read
    against the model it was unlearnt from)."""
    pairs = {model: start_log_ppl(b) for model, b in befores.items()}
    notes = sorted({note for _, note in pairs.values()})
    return {model: value for model, (value, _) in pairs.items()}, "; ".join(notes)


def start_of(before_log_ppl, record) -> float:
    """Where ``record``'s trajectory starts on the perplexity axis: ``before_log_ppl`` itself
    (one model), or its entry for the record's model (``{model_name: log PPL}``, several)."""
    if not isinstance(before_log_ppl, dict):
        return float(before_log_ppl)
    model = (field_of(record, "spec", {}) or {}).get("model_name")
    if model not in before_log_ppl:
        raise KeyError(
            f"no probe before unlearning for model {model!r} (a run of unit {unit(record)}); "
            f"known: {sorted(before_log_ppl)}"
        )
    return float(before_log_ppl[model])


def trajectory(record, start_ma: float, start_log_ppl: float) -> list[tuple[float, float]]:
    """``[(MA, log Pile PPL)]`` from before unlearning (epoch 0) through every probed epoch."""
    points = [(float(start_ma), float(start_log_ppl))]
    for h in history(record):
        ma, ppl = h.get("ma"), (h.get("probe") or {}).get("log_pile_ppl")
        if ma is not None and ppl is not None:
            points.append((float(ma), float(ppl)))
    return points


def at_ma(points: list[tuple[float, float]], level: float) -> float | None:
    """The log perplexity where the trajectory first reaches MA <= ``level`` (linear in MA
    between the epochs around the crossing); ``None`` if it never does."""
    for k, (ma, value) in enumerate(points):
        if ma <= level:
            if k == 0:
                return value
            ma0, v0 = points[k - 1]
            w = (ma0 - level) / (ma0 - ma)  # ma0 > level >= ma
            return v0 + w * (value - v0)
    return None


def at_criterion(record) -> float | None:
    """The log perplexity at the epoch the run met the criterion (``None`` if it never did)."""
    if not succeeded(record):
        return None
    probed = [(h.get("probe") or {}).get("log_pile_ppl") for h in history(record)]
    probed = [p for p in probed if p is not None]
    if probed:
        return float(probed[-1])
    ppl = field_of(record, "pile_ppl", None)
    return None if ppl is None else math.log(ppl)


def level_name(level) -> str:
    return "at the criterion" if level == "criterion" else f"at {level:.0%} of the way to the MA threshold"


def values_at(records: list, level, start: dict, before_log_ppl) -> dict:
    """``{unit: log Pile PPL at the level, or None (never reached)}`` for a method's runs;
    ``before_log_ppl`` one start or one per model (:func:`start_of`)."""
    out = {}
    for r in records:
        u = unit(r)
        if level == "criterion":
            out[u] = at_criterion(r)
            continue
        th = threshold_ma(r)
        if th is None or u not in start:
            continue
        target = start[u] - float(level) * (start[u] - th)
        out[u] = at_ma(trajectory(r, start[u], start_of(before_log_ppl, r)), target)
    return out


@dataclass(frozen=True)
class MatchedResult:
    """``a`` against ``b`` at each level: comparisons signed so that + means ``a`` kept more
    (lower log perplexity), how many units each side reached the level on, and the level that
    decides (:func:`deciding_level`)."""

    levels: list  # (level, stats.Comparison, units a reached it on, units b reached it on)
    deciding: int | None  # index into levels; None: no level both reach on enough units

    @property
    def n(self) -> int:
        return max((c.n for _, c, _, _ in self.levels), default=0)

    def primary(self):
        """``(level, comparison)`` that decides, or ``None``."""
        return None if self.deciding is None else self.levels[self.deciding][:2]

    def p(self) -> float:
        prim = self.primary()
        return float("nan") if prim is None else prim[1].p

    def text(self) -> str:
        parts = []
        for k, (level, c, ra, rb) in enumerate(self.levels):
            mark = " [decides]" if k == self.deciding else ""
            parts.append(f"{level_name(level)}{mark} (reached: a {ra}, b {rb} of {c.n}): log PPL b − a {c.text()}")
        if self.deciding is None:
            parts.append(f"no level reached by both on at least {REACHED_SHARE:.0%} of the units: nothing decides")
        return "; ".join(parts) if parts else "no level"


def deciding_level(levels: list) -> int | None:
    """The deepest level that *both* arms reach on at least :data:`REACHED_SHARE` of the paired
    units (stated with the levels): deep enough to be about forgetting, reached often enough to
    be a comparison of capability rather than of speed (C5 compares speed)."""
    chosen = None
    for k, (_, c, ra, rb) in enumerate(levels):
        if c.n and min(ra, rb) >= REACHED_SHARE * c.n:
            chosen = k
    return chosen


def compare(a: list, b: list, before_log_ppl, minimum: float, start: dict | None = None) -> MatchedResult:
    """Does ``a`` keep Pile perplexity lower than ``b`` at matched forgetting?  ``start``: the
    units' MA before unlearning (default: estimated from ``a`` and ``b``, :func:`starts`);
    ``before_log_ppl``: the log perplexity before unlearning, one number or one per model
    (:func:`start_log_ppls`, units from several models)."""
    start = starts({"a": a, "b": b}) if start is None else start
    rows = []
    for level in MATCHED_LEVELS:
        va, vb = values_at(a, level, start, before_log_ppl), values_at(b, level, start, before_log_ppl)
        # higher is better: the negative log perplexity
        c = stats.worst_rank_paired(
            {u: None if v is None else -v for u, v in va.items()},
            {u: None if v is None else -v for u, v in vb.items()},
            minimum,
        )
        both = set(va) & set(vb)
        rows.append((level, c, sum(va[u] is not None for u in both), sum(vb[u] is not None for u in both)))
    return MatchedResult(rows, deciding_level(rows))


def verdict(m: MatchedResult) -> str:
    """The verdict of the claim "``a`` keeps capability better" at the deciding level
    (:func:`unlearnkit.stats.decide`: significant beyond the minimum; the whole interval short
    of the minimum is "does not hold (effect below the minimum)")."""
    prim = m.primary()
    if prim is None:
        return f"inconclusive (n = {m.n}: no forgetting level both arms reach on {REACHED_SHARE:.0%} of the units)"
    return stats.decide(prim[1], +1)
