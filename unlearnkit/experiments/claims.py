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

Three modules serve it, one job each: :mod:`.claim_rules` (the claims' wording and the
minimum effects, stated before the data), :mod:`.endpoints` (records to paired values and
tests) and :mod:`.claim_tables` (verdict rows and tables).  Their public names are
re-exported here, so a chapter asks this one module for its verdicts and their table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .. import stats
from ..store.records import field_of
from . import matched
from .claim_rules import (
    CHANCE,
    CLAIMS,
    DEFAULT_BUDGET,
    DIALOGUE_CHANCE,
    FORGETTING_SHARE,
    MINIMUM_EFFECTS,
    PISSA,
    SEED_BAND_PAIRS,
    minimum_effects,
)
from .claim_tables import (
    capability_verdict,
    excluded_measures,
    matched_row,
    verdict_row,
    verdict_table,
    win_row,
    win_verdict,
)
from .endpoints import (
    CapabilityResult,
    Measure,
    all_hold,
    budget,
    capability,
    capability_measures,
    epochs_by_unit,
    epochs_comparison,
    failed_by_unit,
    fails_or_costs,
    hierarchical,
    observed_epochs_by_unit,
    reasoning_at_chance,
    succeeded,
    unit,
    values_by_unit,
)

__all__ = [
    "CHANCE",
    "CLAIMS",
    "DEFAULT_BUDGET",
    "DIALOGUE_CHANCE",
    "FORGETTING_SHARE",
    "MINIMUM_EFFECTS",
    "PISSA",
    "CapabilityResult",
    "Measure",
    "all_hold",
    "budget",
    "capability",
    "capability_measures",
    "capability_verdict",
    "epochs_by_unit",
    "epochs_comparison",
    "excluded_measures",
    "failed_by_unit",
    "fails_or_costs",
    "forgetting_rate",
    "hierarchical",
    "minimum_effects",
    "observed_epochs_by_unit",
    "reasoning_at_chance",
    "succeeded",
    "unit",
    "values_by_unit",
    "verdict_row",
    "verdict_table",
    "verdicts",
    "every_part_holds",
    "matched_row",
    "win_row",
    "win_verdict",
]


def every_part_holds(parts: dict[str, str]) -> str:
    """The verdict of a claim made of parts that must all hold (C6: FILA + IHL against each
    other LoRA method): a part that does not hold decides (a significant one first); all
    holding, "holds"; otherwise the reason of the first part that does not hold yet."""
    against = [k for k, x in parts.items() if x.startswith("does not hold")]
    if against:
        return "does not hold" if "does not hold" in parts.values() else parts[against[0]]
    if all(x == "holds" for x in parts.values()):
        return "holds"
    return next(x for x in parts.values() if x != "holds")


@dataclass
class _Context:
    """What every claim of :func:`verdicts` reads: the records, the model before, the rules."""

    groups: dict[str, list]
    before: dict
    mins: dict
    max_epochs: int = field(init=False)
    measures: list = field(init=False)
    fail: dict = field(init=False)
    ep: dict = field(init=False)
    start: dict = field(init=False)
    log_before: float = field(init=False)
    start_note: str = field(init=False)

    def __post_init__(self):
        self.max_epochs = budget(self.groups)
        self.measures, _ = capability_measures(self.before, self.mins)
        self.fail = {k: failed_by_unit(v) for k, v in self.groups.items()}
        self.ep = {k: epochs_by_unit(v, self.max_epochs) for k, v in self.groups.items()}
        self.start = matched.starts(self.groups)
        self.log_before, self.start_note = matched.start_log_ppl(self.before)

    def epochs(self, x: str, y: str):
        return epochs_comparison(self.groups[x], self.groups[y], self.max_epochs, self.mins["epochs"])

    def capability(self, x: str, y: str):
        return capability(self.groups[x], self.groups[y], self.measures)

    def hierarchical(self, x: str, y: str):
        return hierarchical(self.groups[x], self.groups[y], self.mins["log_ppl"])

    def at_matched(self, x: str, y: str):
        return matched.compare(self.groups[x], self.groups[y], self.log_before, self.mins["log_ppl"], self.start)

    def paper_view(self, x: str, y: str) -> str:
        """The paper's view and the old rule: failures entered as budget + 1."""
        units = sorted(set(self.ep[x]) & set(self.ep[y]), key=str)
        d = [self.ep[x][u] - self.ep[y][u] for u in units]
        mean = float(np.mean(d)) if d else float("nan")
        return (
            f"paper's view (failures = budget + 1): mean {mean:+.2f}, old rule's paired t p = {stats.paired_t_p(d):.3g}"
        )


# Each claim below returns its verdict row and the p-value its verdict needs (entered into Holm).


def _c1(c: _Context) -> tuple[dict, float]:
    """C1: GA degrades the model: log Pile PPL after GA vs before (primary), GA vs GD reported."""
    ppl = Measure("Pile PPL", -1)
    ga = values_by_unit(c.groups["GA"], ppl)
    rise = stats.one_sample(ga, math.log(c.before["pile_ppl"]), c.mins["log_ppl"])
    vs_gd = stats.paired(ga, values_by_unit(c.groups["GD"], ppl))
    ratio = math.exp(rise.effect) if rise.n else float("nan")
    row = verdict_row(
        "C1",
        CLAIMS["C1"],
        stats.decide(rise, +1),
        rise,
        f"log PPL GA − before: {rise.text()} (×{ratio:.2f}); GA − GD: {vs_gd.text()}",
        "log PPL",
    )
    return row, (max(rise.p, rise.p_minimum) if rise.minimum else rise.p)


def _c2(c: _Context) -> tuple[dict, float]:
    """C2: GD needs fewer epochs than GA AND keeps capability better (both parts: intersection-union)."""
    e = c.epochs("GD", "GA")
    cap = c.capability("GD", "GA")
    faster = 1 if stats.decide(e, -1) == "holds" else (-1 if e.direction > 0 else 0)
    v = all_hold([faster, cap.direction], e.n) if e.tested else stats.decide(e, -1)
    row = verdict_row(
        "C2",
        CLAIMS["C2"],
        v,
        e,
        f"epochs GD − GA: {e.text()}; {c.paper_view('GD', 'GA')}; "
        f"{stats.failures(c.fail['GD'], c.fail['GA']).text()}; capability GD vs GA: {cap.text()}",
        "epochs",
    )
    prim = cap.primary()
    return row, max(e.p, prim[2] if prim else float("nan"))


def _c3(c: _Context) -> tuple[dict, float]:
    """C3: LoRA (GD) fails within budget OR costs capability, against full GD.  Primary: the
    hierarchical win ratio of GD over LoRA (GD); the epochs-or-capability test beside it."""
    w = c.hierarchical("GD", "LoRA (GD)")
    v_old, e, cap, fails = fails_or_costs(
        c.groups["LoRA (GD)"], c.groups["GD"], c.measures, c.max_epochs, c.mins["epochs"]
    )
    row = win_row(
        "C3",
        CLAIMS["C3"],
        w,
        win_verdict(w, +1),
        f"primary, GD vs LoRA (GD) (forgot beats not; both forgot: Pile PPL; both failed: final MA): {w.text()} | "
        f"earlier rule ({v_old}): epochs LoRA(GD) − GD: {e.text()}; {c.paper_view('LoRA (GD)', 'GD')}; "
        f"{fails.text()}; capability where both forgot: {cap.text()}",
    )
    return row, w.p


def _c4(c: _Context) -> tuple[dict, float]:
    """C4: IHL keeps capability closer to the original than GA-based GD (both with LoRA).  Primary
    (since 2026-12-06): Pile perplexity at matched forgetting (:mod:`.matched`); the earlier
    primary (the win ratio) and the paper's view (capability where both forgot) beside it."""
    m = c.at_matched("+ IHL", "LoRA (GD)")
    w = c.hierarchical("+ IHL", "LoRA (GD)")
    cap = c.capability("+ IHL", "LoRA (GD)")
    row = matched_row(
        "C4",
        CLAIMS["C4"],
        m,
        matched.verdict(m),
        f"primary, LoRA+IHL vs LoRA(GD) at matched forgetting ({c.start_note}): {m.text()} | "
        f"earlier primary, until 2026-12-06 ({win_verdict(w, +1)}): win ratio {w.text()} | "
        f"paper's view, where both forgot ({capability_verdict(cap)}): {cap.text()}",
    )
    return row, m.p()


def _fewer_epochs(c: _Context, claim: str, a: str, b: str, a_label: str, b_label: str) -> tuple[dict, float]:
    """A speed claim: ``a`` needs fewer epochs than ``b`` (C5, C5b)."""
    e = c.epochs(a, b)
    row = verdict_row(
        claim,
        CLAIMS[claim],
        stats.decide(e, -1),
        e,
        f"epochs {a_label} − {b_label}: {e.text()}; {c.paper_view(a, b)}; "
        f"{stats.failures(c.fail[a], c.fail[b]).text()}",
        "epochs",
    )
    return row, (max(e.p, e.p_minimum) if e.minimum else e.p)


def _c6(c: _Context) -> tuple[dict, float]:
    """C6: IHL + FILA keeps capability better than each other LoRA method (both comparisons).
    Primary (since 2026-12-06): Pile perplexity at matched forgetting; the earlier primary (the
    win ratios) and the paper's view beside it."""
    others = ("LoRA (GD)", "+ IHL")
    ms = {k: c.at_matched("+ FILA", k) for k in others}
    wins = {k: c.hierarchical("+ FILA", k) for k in others}
    caps = {k: c.capability("+ FILA", k) for k in others}
    parts = {k: matched.verdict(x) for k, x in ms.items()}
    old_v = all_hold([x.direction for x in wins.values()], min(x.n for x in wins.values()))
    evidence = (
        " | ".join(
            f"primary, FILA + IHL vs {k} at matched forgetting ({parts[k]}; {c.start_note}): {x.text()}"
            for k, x in ms.items()
        )
        + f" | earlier primary, until 2026-12-06 ({old_v}): "
        + "; ".join(f"win ratio vs {k}: {x.text()}" for k, x in wins.items())
        + " | paper's view, where both forgot: "
        + "; ".join(f"vs {k} ({capability_verdict(x)}): {x.text()}" for k, x in caps.items())
    )
    row = matched_row("C6", CLAIMS["C6"], ms["+ IHL"], every_part_holds(parts), evidence)
    return row, max((x.p() for x in ms.values()), default=float("nan"))


def _holm(rows: list[dict], claim_p: list[float]) -> None:
    """Holm over the claims decided here, both directions: each row enters with the p of the
    verdict it reached ("does not hold": its test's p; otherwise the p a "holds" needs), and a
    "holds" or a "does not hold" must survive the adjustment (until 2026-12-05 only "holds" did)."""
    deciding = [
        row["p"] if row["verdict"] == "does not hold" and row.get("p") is not None else p
        for row, p in zip(rows, claim_p)
    ]
    for row, p_holm in zip(rows, stats.holm([float("nan") if p is None else p for p in deciding])):
        row["Holm p"] = None if math.isnan(p_holm) else float(f"{p_holm:.3g}")
        if row["verdict"] in ("holds", "does not hold") and not (p_holm < stats.ALPHA):
            row["verdict"] = f"inconclusive (n = {row['n']}: not significant after Holm over the claims decided here)"


C7_ROW = {
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
    c = _Context(groups, before, minimum_effects(minimums))
    decided = [
        _c1(c),
        _c2(c),
        _c3(c),
        _c4(c),
        # C5: FILA reaches the criterion in fewer epochs than plain LoRA (same objective, IHL)
        _fewer_epochs(c, "C5", "+ FILA", "+ IHL", "FILA + IHL", "LoRA + IHL"),
    ]
    if PISSA in groups:  # C5b: the speed comes from the Fisher weighting, not any principal-component start
        decided.append(_fewer_epochs(c, "C5b", "+ FILA", PISSA, "FILA + IHL", "PiSSA + IHL"))
    decided.append(_c6(c))
    rows = [row for row, _ in decided]
    _holm(rows, [p for _, p in decided])
    return rows + [dict(C7_ROW)]


CONFIRMATORY_ARMS = ("LoRA (GD)", "+ IHL", "+ FILA", PISSA)


def confirmatory_verdicts(
    groups: dict[str, list], befores: dict[str, dict], minimums: dict | None = None
) -> list[dict]:
    """The capability chapter's confirmatory verdicts (issue 46): C4 and C6 at matched
    forgetting, C5 and C5b on epochs, from the four LoRA arms of :data:`CONFIRMATORY_ARMS` on
    units that may come from several independently injected models (``befores``:
    ``{model_name: before}``, the first giving the capability measures above chance).

    Each unit is a pair within one model, read against that model's probe before unlearning; the
    pairs of all models are pooled into one exact sign test (valid for independent pairs, which
    units of distinct forget sets and injections are).  Runs of a second training seed on the
    same unit are not independent of the first: pass seed-0 records only (the chapter shows the
    seed-to-seed spread beside).  One Holm family over the four claims, both directions."""
    missing = [arm for arm in CONFIRMATORY_ARMS if arm not in groups]
    if missing or not befores:
        raise ValueError(
            f"confirmatory_verdicts needs the arms {list(CONFIRMATORY_ARMS)} and a before; missing: {missing}"
        )
    c = _Context(groups, next(iter(befores.values())), minimum_effects(minimums))
    c.log_before, c.start_note = matched.start_log_ppls(befores)
    decided = [
        _c4(c),
        _fewer_epochs(c, "C5", "+ FILA", "+ IHL", "FILA + IHL", "LoRA + IHL"),
        _fewer_epochs(c, "C5b", "+ FILA", PISSA, "FILA + IHL", "PiSSA + IHL"),
        _c6(c),
    ]
    rows = [row for row, _ in decided]
    _holm(rows, [p for _, p in decided])
    return rows


def seed_spread(first: dict[str, list], second: dict[str, list]) -> list[dict]:
    """Per arm and unit run under two training seeds: epochs to the criterion (None: not met)
    under each, and their difference: the seed-to-seed spread that the epochs' tie band is read
    against (the units of ``second`` only)."""
    rows = []
    for arm, records in second.items():
        by_unit = {unit(r)[0]: r for r in first.get(arm, [])}
        for r in records:
            other = by_unit.get(unit(r)[0])
            if other is None:
                continue
            e1, e2 = (field_of(x, "epochs") if succeeded(x) else None for x in (other, r))
            rows.append(
                {
                    "arm": arm,
                    "unit": unit(r)[0],
                    "epochs, first seed": e1,
                    "epochs, second seed": e2,
                    "difference": None if e1 is None or e2 is None else e2 - e1,
                }
            )
    return rows


def epochs_tie_band(spread: list[dict]) -> tuple[float, str]:
    """The confirmatory grid's minimum effect for epochs from :func:`seed_spread`'s rows, by the
    rule stated before the second seed ran (:data:`~.claim_rules.SEED_BAND_PAIRS`): the larger of
    the default and the median absolute seed-to-seed difference, once enough pairs forgot under
    both seeds; returns ``(band, how it was set)``."""
    default = MINIMUM_EFFECTS["epochs"]
    diffs = [abs(r["difference"]) for r in spread if r["difference"] is not None]
    if len(diffs) < SEED_BAND_PAIRS:
        return default, (
            f"{default:g} epoch(s), the default: {len(diffs)} unit-arm pair(s) forgot under both seeds, "
            f"fewer than the {SEED_BAND_PAIRS} the rule needs to measure the spread"
        )
    spread_median = float(np.median(diffs))
    band = max(default, spread_median)
    return band, (
        f"{band:g} epoch(s): the larger of the default {default:g} and the median |seed-to-seed difference| "
        f"{spread_median:g} over {len(diffs)} unit-arm pairs that forgot under both seeds"
    )


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
