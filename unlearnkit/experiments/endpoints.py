"""Endpoints and tests of the claims: from run records to paired values and their comparisons.

A record's unit (forget set x seed), success and epochs (a failed run is "more than the
budget"); the capability measures that carry signal (:func:`capability_measures`) and their
values per unit; the comparisons of two methods on the units both ran: epochs
(:func:`epochs_comparison`, censoring-aware exact sign test), capability at forgetting
(:func:`capability`, exact sign-flip tests with Holm over the measures) and the hierarchical
win ratio (:func:`hierarchical`).  Statistics come from :mod:`unlearnkit.stats`; this module
decides no claim (:mod:`.claims` does) and formats nothing (:mod:`.claim_tables`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import stats
from ..store.records import field_of
from .claim_rules import CHANCE, DEFAULT_BUDGET, DIALOGUE_CHANCE, minimum_effects


def unit(record) -> tuple[str, int]:
    """The pairing unit of a record: (forget set, seed)."""
    tags = field_of(record, "tags", {}) or {}
    seed = field_of(record, "seed", None)
    if seed is None:
        seed = (field_of(record, "config", {}) or {}).get("seed", 0)
    return str(tags.get("forget_set", "")), int(seed)


def succeeded(record) -> bool:
    return field_of(record, "status") == "forgotten"


def budget(groups: dict[str, list]) -> int:
    """The epoch budget of the runs (from their config; else the most epochs any run used)."""
    budgets = [(field_of(r, "config", {}) or {}).get("max_epochs") for rs in groups.values() for r in rs]
    budgets = [b for b in budgets if b is not None]
    if budgets:
        return int(max(budgets))
    used = [field_of(r, "epochs_run", None) or field_of(r, "epochs", None) for rs in groups.values() for r in rs]
    used = [u for u in used if u is not None]
    return int(max(used)) if used else DEFAULT_BUDGET


def epochs_by_unit(records: list, max_epochs: int) -> dict:
    """Epochs per unit with a failure entered as ``max_epochs + 1`` (the paper's own view, shown
    beside the censoring-aware test)."""
    return {unit(r): stats.censored_epochs(field_of(r, "epochs"), succeeded(r), max_epochs) for r in records}


def observed_epochs_by_unit(records: list) -> dict:
    """Epochs per unit, ``None`` for a run that never met the criterion (more than the budget)."""
    return {unit(r): (field_of(r, "epochs") if succeeded(r) else None) for r in records}


def epochs_comparison(a: list, b: list, max_epochs: int, minimum: float) -> stats.Comparison:
    """``a``'s epochs minus ``b``'s, paired per unit, failures censored (:func:`stats.censored_paired`)."""
    return stats.censored_paired(observed_epochs_by_unit(a), observed_epochs_by_unit(b), max_epochs, minimum)


def failed_by_unit(records: list) -> dict:
    return {unit(r): not succeeded(r) for r in records}


@dataclass(frozen=True)
class Measure:
    """A capability measure: how to read it from a record, and +1 if higher is better."""

    name: str
    better: int
    tasks: tuple[str, ...] = ()  # reasoning / dialogue tasks it averages (empty: the record's mean)
    minimum: float = 0.0  # the smallest difference that counts (log PPL, or a fraction for scores)

    def value(self, record) -> float | None:
        if self.name == "Pile PPL":
            ppl = field_of(record, "pile_ppl")
            return None if ppl is None else math.log(ppl)
        key = "reasoning" if self.name.startswith("Reasoning") else "dialogue"
        if not self.tasks:
            v = field_of(record, key)
            return None if v is None else float(v)
        per_task = (field_of(record, "downstream", None) or {}).get(key) or {}
        values = [per_task[t] for t in self.tasks if t in per_task]
        return float(np.mean(values)) if len(values) == len(self.tasks) else None


def reasoning_at_chance(downstream: dict) -> dict[str, bool]:
    """Per reasoning task of an evaluation record (``{"reasoning": …, "docs": …}``): whether
    its score is *not* significantly above chance (one-sided, :func:`stats.above_chance`), the
    rule :func:`capability_measures` applies."""
    docs = downstream.get("docs") or {}
    return {
        t: stats.at_chance(score, CHANCE.get(t, 0.0), docs.get(t) or 100)
        for t, score in downstream["reasoning"].items()
    }


def capability_measures(before: dict, minimums: dict | None = None) -> tuple[list[Measure], list[str]]:
    """The measures that carry signal for this model, and why the others are left out.

    With per-task scores in ``before["downstream"]`` (the library's records), a reasoning or
    dialogue task is kept when the model before unlearning scores significantly above chance
    on it (one-sided, :func:`stats.above_chance`); without them (plain dicts), the means are used as given.
    """
    mins = minimum_effects(minimums)
    measures = [Measure("Pile PPL", -1, minimum=mins["log_ppl"])]
    excluded: list[str] = []
    ds = before.get("downstream") or {}
    docs = ds.get("docs") or {}
    for key, label, chance_of in (
        ("reasoning", "Reasoning %", lambda t: CHANCE.get(t, 0.0)),
        ("dialogue", "Dialogue F1 %", lambda t: DIALOGUE_CHANCE),
    ):
        if not ds.get(key):
            if before.get(key) is not None:
                measures.append(Measure(label, +1, minimum=mins[key]))
            continue
        kept = []
        for task, score in ds[key].items():
            n = docs.get(task) or 100
            if not stats.above_chance(score, chance_of(task), n):
                excluded.append(
                    f"{task} ({100 * score:.2f} % vs chance {100 * chance_of(task):.0f} %, n = {docs.get(task)}: "
                    f"not significantly above chance)"
                )
            else:
                kept.append(task)
        if kept:
            measures.append(Measure(f"{label} (tasks above chance)", +1, tuple(kept), mins[key]))
    return measures, excluded


def values_by_unit(records: list, measure: Measure) -> dict:
    out = {}
    for r in records:
        v = measure.value(r)
        if v is not None and np.isfinite(v):
            out[unit(r)] = v
    return out


@dataclass(frozen=True)
class CapabilityResult:
    direction: int  # +1: a keeps capability better than b; -1 worse; 0 undecided
    comparisons: list  # (measure, stats.Comparison signed so that + means a is better, Holm p)
    n: int
    pairs: int = 0  # units both methods ran
    forgotten_pairs: int = 0  # of those, the units where both runs met the criterion (compared)

    def text(self) -> str:
        parts = []
        if self.forgotten_pairs < self.pairs:
            parts.append(f"compared where both forgot: {self.forgotten_pairs} of {self.pairs} pairs")
        for m, c, p_holm in self.comparisons:
            scale = 100.0 if m.name != "Pile PPL" else 1.0
            what = "log PPL (b − a)" if m.name == "Pile PPL" else f"{m.name} (a − b)"
            parts.append(f"{what}: {c.text(scale=scale)}" + ("" if math.isnan(p_holm) else f", Holm p = {p_holm:.3g}"))
        return "; ".join(parts) if parts else "no capability measure"

    def primary(self):
        """The comparison with the smallest Holm p (the one that decides), or the first."""
        tested = [x for x in self.comparisons if not math.isnan(x[2])]
        return min(tested, key=lambda x: x[2]) if tested else (self.comparisons[0] if self.comparisons else None)


def capability(a: list, b: list, measures: list[Measure]) -> CapabilityResult:
    """Does ``a`` keep capability better (+1), worse (-1) than ``b``, or undecided (0)?
    Paired over the units where both ``a``'s and ``b``'s runs met the criterion."""
    forgotten_a = [r for r in a if succeeded(r)]
    forgotten_b = [r for r in b if succeeded(r)]
    comps = []
    for m in measures:
        # signed so that positive means a is better
        sign = 1.0 if m.better > 0 else -1.0
        va, vb = values_by_unit(forgotten_a, m), values_by_unit(forgotten_b, m)
        c = stats.paired({u: sign * v for u, v in va.items()}, {u: sign * v for u, v in vb.items()}, m.minimum)
        comps.append((m, c))
    adjusted = stats.holm([c.p for _, c in comps])

    def holds(c, p, sign) -> bool:  # significant after Holm, in that direction, beyond the minimum
        if math.isnan(p) or p >= stats.ALPHA or sign * c.effect <= 0:
            return False
        return c.minimum == 0 or (not math.isnan(c.p_minimum) and max(p, c.p_minimum) < stats.ALPHA)

    better = any(holds(c, p, +1) for (_, c), p in zip(comps, adjusted))
    worse = any(holds(c, p, -1) for (_, c), p in zip(comps, adjusted))
    direction = 1 if better and not worse else -1 if worse and not better else 0
    n = max((c.n for _, c in comps), default=0)
    pairs = len({unit(r) for r in a} & {unit(r) for r in b})
    forgotten_pairs = len({unit(r) for r in forgotten_a} & {unit(r) for r in forgotten_b})
    return CapabilityResult(direction, [(m, c, p) for (m, c), p in zip(comps, adjusted)], n, pairs, forgotten_pairs)


def hierarchical(a: list, b: list, minimum_log_ppl: float = 0.0) -> stats.WinRatio:
    """The primary endpoint of C3, C4 and C6, stated before the data: per unit both ran,
    a run that forgot beats one that did not; when both forgot, capability at forgetting
    decides (Pile perplexity after unlearning, lower wins; within ``minimum_log_ppl`` a tie);
    when both failed, the final MA decides (lower wins: it forgot more).  Every pair counts,
    so a method that never forgets still enters; tested exactly (:func:`stats.win_ratio`)."""
    by_a = {unit(r): r for r in a}
    by_b = {unit(r): r for r in b}
    outcomes = {}
    for u in sorted(set(by_a) & set(by_b), key=str):
        x, y = by_a[u], by_b[u]
        if succeeded(x) != succeeded(y):
            outcomes[u] = 1 if succeeded(x) else -1
        elif succeeded(x):
            px, py = field_of(x, "pile_ppl"), field_of(y, "pile_ppl")
            if px is None or py is None:
                outcomes[u] = 0
            else:
                d = math.log(py) - math.log(px)  # > 0: a kept perplexity lower
                outcomes[u] = 0 if abs(d) <= minimum_log_ppl else (1 if d > 0 else -1)
        else:
            mx, my = field_of(x, "final_ma"), field_of(y, "final_ma")
            outcomes[u] = 0 if mx is None or my is None or mx == my else (1 if mx < my else -1)
    return stats.win_ratio(outcomes)


def all_hold(directions: list[int], n: int) -> str:
    """A claim made of several parts that must all hold (intersection–union test)."""
    if any(d < 0 for d in directions):
        return "does not hold"
    if all(d > 0 for d in directions):
        return "holds"
    return f"inconclusive (n = {n})"


def fails_or_costs(lora: list, full: list, measures: list[Measure], max_epochs: int, minimum_epochs: float = 0.0):
    """C3: LoRA needs more epochs (failures censored) *or* keeps capability worse than full
    fine-tuning; Holm over the two parts.  Returns ``(verdict, epochs comparison, capability,
    failure comparison)``."""
    e = epochs_comparison(lora, full, max_epochs, minimum_epochs)
    cap = capability(lora, full, measures)
    prim = cap.primary()
    p_epochs, p_cap = stats.holm([e.p, prim[2] if prim else float("nan")])
    slower = p_epochs < stats.ALPHA and e.effect > 0 and (not e.minimum or e.p_minimum < stats.ALPHA)
    holds = slower or (p_cap < stats.ALPHA and cap.direction < 0)
    against = p_epochs < stats.ALPHA and e.effect < 0 and cap.direction >= 0
    verdict = "holds" if holds else "does not hold" if against else f"inconclusive (n = {e.n})"
    return verdict, e, cap, stats.failures(failed_by_unit(lora), failed_by_unit(full))
