"""Verdicts on the main paper's claims (:data:`CLAIMS`, C1–C7) from run records.

Every verdict comes from :mod:`unlearnkit.stats`: the two methods are paired on the units
both ran (forget unit × seed); epochs to the criterion treat a failed run as "more than the
budget" (the censoring-aware exact sign test) and failure counts are compared too;
capability differences use the exact sign-flip test; tests are two-sided at α = 0.05, each
claim needs its effect beyond :data:`MINIMUM_EFFECTS`, and a "holds" must survive Holm over
the claims a chapter decides; fewer than :data:`unlearnkit.stats.MIN_UNITS` pairs give
``"inconclusive (n = …)"``.

Capability is judged on the measures that carry signal (:func:`capability_measures`):
Pile perplexity (on a log scale) always; reasoning and dialogue only over the tasks the
model before unlearning scores significantly above chance (one-sided), so a testbed at
chance adds no noise.  One method keeps capability better than another when, after
Holm's correction over those measures, some measure is significantly better and none
significantly worse.  Capability is compared only on the units where *both* runs met the
forgetting criterion (the paper reports capability at forgetting): a run that never forgot
has spent less of the model, and comparing it with one that did would credit the failure.
Where fewer than :data:`unlearnkit.stats.MIN_UNITS` such pairs remain, a capability claim
is inconclusive, and the evidence says how many runs failed.

Each verdict row: claim, statement, n, effect with its 95 % interval, p, verdict, evidence.
Records are :class:`~unlearnkit.store.records.RunRecord` or plain dicts with at least
``status``, ``epochs``, ``pile_ppl``, ``reasoning``, ``dialogue`` and ``tags["forget_set"]``
(paired on it, and on ``seed`` where present).  This module judges; it runs nothing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import stats
from ..store.records import field_of

# Chance accuracy of each reasoning task (LAMBADA is exact-word generation: 0); dialogue F1's floor is 0.
CHANCE = {
    "lambada": 0.0,
    "hellaswag": 0.25,
    "winogrande": 0.5,
    "copa": 0.5,
    "arc_easy": 0.25,
    "arc_challenge": 0.25,
    "piqa": 0.5,
    "mathqa": 0.2,
    "pubmedqa": 1 / 3,
}
DIALOGUE_CHANCE = 0.0
DEFAULT_BUDGET = 20
# The smallest effect that counts for a claim, stated before the data and taken from the paper's
# magnitudes (Table 1: FILA saves epochs, GA multiplies Pile PPL by x32, IHL keeps reasoning
# within a point or two): "holds" needs the effect significantly beyond it.  A profile may
# state others (its ``minimum_effects``); the chapter prints the ones it used.
MINIMUM_EFFECTS = {
    "epochs": 1.0,  # epochs to the criterion
    "log_ppl": math.log(1.25),  # Pile PPL ratio x1.25
    "reasoning": 0.01,  # one accuracy point
    "dialogue": 0.01,  # one F1 point
}

# Cha et al.'s claims as this book states and tests them (arXiv 2408.06621, Sec. 3-4, Table 1, Fig. 4).
CLAIMS = {
    "C1": "GA degrades the model (Pile PPL rises)",
    "C2": "GD needs fewer epochs and keeps capability better than GA",
    "C3": "LoRA (GD) fails within the budget or costs capability (vs full GD)",
    "C4": "IHL keeps capability closer to the original (LoRA + IHL vs LoRA (GD))",
    "C5": "FILA reaches the criterion in fewer epochs than plain LoRA",
    "C5b": "FILA reaches it in fewer epochs than PiSSA (Fisher weighting, not any principal start)",
    "C6": "IHL + FILA has the best capability among the LoRA methods",
    "C7": "LoRA on Q and V alone is not enough; adding the FFN makes unlearning succeed",
}


# ------------------------------------------------------------------ records -> values


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


def minimum_effects(overrides: dict | None = None) -> dict[str, float]:
    """:data:`MINIMUM_EFFECTS` with a profile's ``overrides`` (``ppl_ratio`` sets ``log_ppl``);
    an already resolved dict passes through unchanged."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(MINIMUM_EFFECTS) - {"ppl_ratio"}
    if unknown:
        raise ValueError(
            f"unknown minimum effect(s) {sorted(unknown)}; choose from {sorted(MINIMUM_EFFECTS)} or ppl_ratio"
        )
    if "ppl_ratio" in overrides:
        overrides["log_ppl"] = math.log(float(overrides.pop("ppl_ratio")))
    return MINIMUM_EFFECTS | {k: float(v) for k, v in overrides.items()}


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


# ------------------------------------------------------------------ comparisons


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


# ------------------------------------------------------------------ verdicts


def verdicts(groups: dict[str, list], before: dict, minimums: dict | None = None) -> list[dict]:
    """Verdicts for C1–C7 from records grouped by Table 1 method name ("GA", "GD",
    "LoRA (GD)", "+ IHL", "+ FILA", and C5b when "PiSSA + IHL" is there too); ``before`` holds the model's ``pile_ppl``,
    ``reasoning``, ``dialogue`` before unlearning (and ``downstream`` per task, when known).

    Pre-stated rules: epochs are compared with the censoring-aware exact sign test
    (:func:`stats.censored_paired`), capability with the exact sign-flip test on the units
    where both runs forgot; each claim needs its effect beyond the minimum of
    :data:`MINIMUM_EFFECTS` (``minimums`` overrides), and a "holds" must survive Holm's
    adjustment over the claims decided here (C1–C6, C5b): the rows give the Holm p.
    """
    mins = minimum_effects(minimums)
    max_epochs = budget(groups)
    measures, _ = capability_measures(before, mins)
    fail = {k: failed_by_unit(v) for k, v in groups.items()}
    ep = {k: epochs_by_unit(v, max_epochs) for k, v in groups.items()}

    def epochs(x, y):
        return epochs_comparison(groups[x], groups[y], max_epochs, mins["epochs"])

    def paper_view(x, y):  # the paper's view and the old rule: failures entered as budget + 1
        units = sorted(set(ep[x]) & set(ep[y]), key=str)
        d = [ep[x][u] - ep[y][u] for u in units]
        mean = float(np.mean(d)) if d else float("nan")
        return (
            f"paper's view (failures = budget + 1): mean {mean:+.2f}, old rule's paired t p = {stats.paired_t_p(d):.3g}"
        )

    out, claim_p = [], []

    # C1: GA degrades the model: log Pile PPL after GA vs before (primary), GA vs GD reported
    ppl = Measure("Pile PPL", -1)
    rise = stats.one_sample(values_by_unit(groups["GA"], ppl), math.log(before["pile_ppl"]), mins["log_ppl"])
    vs_gd = stats.paired(values_by_unit(groups["GA"], ppl), values_by_unit(groups["GD"], ppl))
    out.append(
        verdict_row(
            "C1",
            CLAIMS["C1"],
            stats.decide(rise, +1),
            rise,
            f"log PPL GA − before: {rise.text()} (×{math.exp(rise.effect) if rise.n else float('nan'):.2f}); "
            f"GA − GD: {vs_gd.text()}",
            "log PPL",
        )
    )
    claim_p.append(max(rise.p, rise.p_minimum) if rise.minimum else rise.p)

    # C2: GD needs fewer epochs than GA AND keeps capability better (both parts: intersection-union)
    e = epochs("GD", "GA")
    cap = capability(groups["GD"], groups["GA"], measures)
    faster = 1 if stats.decide(e, -1) == "holds" else (-1 if e.direction > 0 else 0)
    v = all_hold([faster, cap.direction], e.n) if e.tested else stats.decide(e, -1)
    out.append(
        verdict_row(
            "C2",
            CLAIMS["C2"],
            v,
            e,
            f"epochs GD − GA: {e.text()}; {paper_view('GD', 'GA')}; "
            f"{stats.failures(fail['GD'], fail['GA']).text()}; capability GD vs GA: {cap.text()}",
            "epochs",
        )
    )
    prim = cap.primary()
    claim_p.append(max(e.p, prim[2] if prim else float("nan")))

    # C3: LoRA (GD) fails within budget OR costs capability, against full GD. Primary: the
    # hierarchical win ratio of GD over LoRA (GD); the epochs-or-capability test beside it.
    w = hierarchical(groups["GD"], groups["LoRA (GD)"], mins["log_ppl"])
    v_old, e, cap, fails = fails_or_costs(groups["LoRA (GD)"], groups["GD"], measures, max_epochs, mins["epochs"])
    out.append(
        win_row(
            "C3",
            CLAIMS["C3"],
            w,
            win_verdict(w, +1),
            f"primary, GD vs LoRA (GD) (forgot beats not; both forgot: Pile PPL; both failed: final MA): {w.text()} | "
            f"earlier rule ({v_old}): epochs LoRA(GD) − GD: {e.text()}; {paper_view('LoRA (GD)', 'GD')}; "
            f"{fails.text()}; capability where both forgot: {cap.text()}",
        )
    )
    claim_p.append(w.p)

    # C4: IHL keeps capability closer to the original than GA-based GD (both with LoRA). Primary:
    # the win ratio; the paper's view (capability over the units where both forgot) beside it.
    w = hierarchical(groups["+ IHL"], groups["LoRA (GD)"], mins["log_ppl"])
    cap = capability(groups["+ IHL"], groups["LoRA (GD)"], measures)
    out.append(
        win_row(
            "C4",
            CLAIMS["C4"],
            w,
            win_verdict(w, +1),
            f"primary, LoRA+IHL vs LoRA(GD): {w.text()} | paper's view, where both forgot "
            f"({capability_verdict(cap)}): {cap.text()}",
        )
    )
    claim_p.append(w.p)

    def fewer_epochs(claim, statement, a, b, a_label, b_label):  # a needs fewer epochs than b
        e = epochs(a, b)
        out.append(
            verdict_row(
                claim,
                statement,
                stats.decide(e, -1),
                e,
                f"epochs {a_label} − {b_label}: {e.text()}; {paper_view(a, b)}; {stats.failures(fail[a], fail[b]).text()}",
                "epochs",
            )
        )
        claim_p.append(max(e.p, e.p_minimum) if e.minimum else e.p)

    # C5: FILA reaches the criterion in fewer epochs than plain LoRA (same objective, IHL)
    fewer_epochs(
        "C5",
        CLAIMS["C5"],
        "+ FILA",
        "+ IHL",
        "FILA + IHL",
        "LoRA + IHL",
    )
    # C5b (when the PiSSA arm ran): the speed comes from the Fisher weighting, not from any
    # principal-component start: FILA + IHL against PiSSA + IHL, same objective and rank
    if PISSA in groups:
        fewer_epochs(
            "C5b",
            CLAIMS["C5b"],
            "+ FILA",
            PISSA,
            "FILA + IHL",
            "PiSSA + IHL",
        )

    # C6: IHL + FILA beats each other LoRA method (both comparisons). Primary: the win ratios.
    wins = {k: hierarchical(groups["+ FILA"], groups[k], mins["log_ppl"]) for k in ("LoRA (GD)", "+ IHL")}
    caps = {k: capability(groups["+ FILA"], groups[k], measures) for k in wins}
    n = min(w.n for w in wins.values())
    v = all_hold([w.direction for w in wins.values()], n)
    if v.startswith("inconclusive") and any(w.smallest_p >= stats.ALPHA for w in wins.values()):
        v = win_verdict(min(wins.values(), key=lambda w: w.wins + w.losses), +1)
    out.append(
        win_row(
            "C6",
            CLAIMS["C6"],
            wins["+ IHL"],
            v,
            " | ".join(f"primary, FILA + IHL vs {k}: {w.text()}" for k, w in wins.items())
            + " | paper's view, where both forgot: "
            + "; ".join(f"vs {k} ({capability_verdict(c)}): {c.text()}" for k, c in caps.items()),
        )
    )
    claim_p.append(max((w.p for w in wins.values()), default=float("nan")))

    # Holm over the claims decided here: a "holds" must survive it
    for row, p_holm in zip(out, stats.holm(claim_p)):
        row["Holm p"] = None if math.isnan(p_holm) else float(f"{p_holm:.3g}")
        if row["verdict"] == "holds" and not (p_holm < stats.ALPHA):
            row["verdict"] = f"inconclusive (n = {row['n']}: not significant after Holm over the claims decided here)"
    out.append(
        {
            "claim": "C7",
            "statement": CLAIMS["C7"],
            "n": None,
            "effect": None,
            "95% CI": None,
            "p": None,
            "effect unit": "",
            "verdict": "judged elsewhere",
            "evidence": "Table 1 uses Q, V and the FFN only; see the chapter 'Ablation: which modules get the adapter'",
        }
    )
    return out


PISSA = "PiSSA + IHL"  # the PiSSA arm of Table 1 (not a row of the paper's table)


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


FORGETTING_SHARE = 0.5  # stated before the sweep: LoRA "forgets" at a rate where at least half its units do


def forgetting_rate(by_rate: dict, method: str = "LoRA (GD)", share: float = FORGETTING_SHARE) -> float | None:
    """The lowest LoRA learning rate of a sweep at which ``method`` meets the criterion on at
    least ``share`` of its units (the rule stated before the sweep ran), or ``None`` when no
    swept rate does.  ``by_rate``: ``{(lr_full, lr_lora): {method: [records]}}``."""
    return min(
        (
            ll
            for (_, ll), groups in by_rate.items()
            if groups.get(method) and np.mean([succeeded(r) for r in groups[method]]) >= share
        ),
        default=None,
    )
