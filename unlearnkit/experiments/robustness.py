"""The robustness audit: does an unlearned model's forgetting survive an attack?

Meeting the MA/EL criterion says the model no longer *produces* the forget unit under greedy
decoding.  This module attacks every unlearned model of a grid (Table 1's runs; the model
itself from :mod:`unlearnkit.experiments.unlearned`, saved once) with the attacks of
:mod:`unlearnkit.evaluation.attacks`, and the same attacks hit two controls on the same unit:

* the model **before unlearning** (what full memorisation looks like under the attack);
* the **exact-unlearning reference** where one can be built (:mod:`.exact`: the testbed
  retrained without the set, an injected model injected without the unit): the model that
  never saw the unit, the control every recovery is measured against.

Every attacked model is also scored on held-out TDEC rows it never saw, so the MA half of the
forgetting criterion can be applied again after the attack ("still forgotten": forget-unit MA
no higher than held-out MA), with or without a reference.

The claims R1–R3 (:data:`CLAIMS`) compare, per method and paired over the units its run
forgot, the attacked unlearned model with the attacked reference, by the statistics layer's
exact sign-flip test with the minimum effects of :data:`MINIMUM_EFFECTS` (stated before any
audit ran) and Holm over all of them; "indistinguishable from exact unlearning" is said only
when the equivalence test (TOST, the same margin) says so.

It trains no unlearning method (the grid's runs do) and draws nothing (:mod:`.figures`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import pandas as pd
import torch

from .. import metrics, results, stats
from ..evaluation import attacks
from . import exact, runs, unlearned

VERSION = 1
BEFORE = "before unlearning"
REFERENCE = "exact reference"

# label -> (bits, scheme) of attacks.quantise
QUANTISERS = {"int8 RTN": (8, "rtn"), "int4 RTN": (4, "rtn"), "NF4": (4, "nf4")}

# Stated before any audit ran: recovery is a difference of mean MA (a fraction) or of ROC AUC,
# and five points of either is the smallest this book counts (a convention, not a paper's
# number: Zhang et al.'s recovery is 62 points).  The chapter prints the reference's spread over
# units beside it, so a reader can judge the margin.
MINIMUM_EFFECTS = {"ma": 0.05, "auc": 0.05}
MEMBERSHIP_SCORE = "min_k"  # MUSE's privacy-leak attack (Min-K % Prob)


@dataclass(frozen=True)
class AuditSettings:
    """What each model is attacked with; every field enters the cache key."""

    quantisation: tuple[str, ...] = tuple(QUANTISERS)  # labels of :data:`QUANTISERS`
    group_size: int = 64  # input weights per quantisation group
    relearn_steps: tuple[int, ...] = (5, 10, 25)  # fine-tuning steps on the unit's first half
    relearn_lr: float = 1e-4  # the attacker's AdamW rate (the profile's full-fine-tuning unlearning rate)
    heldout_rows: int = 64  # TDEC validation rows (never trained on): membership non-members, the MA control
    n: int = 10  # EL_n
    el: bool = True  # EL_n under every attack (generation: the costly part on a real model)

    def __post_init__(self):
        bad = [q for q in self.quantisation if q not in QUANTISERS]
        if bad:
            raise ValueError(f"unknown quantisation {bad}; choose from {list(QUANTISERS)}")
        if not self.relearn_steps or min(self.relearn_steps) < 1:
            raise ValueError(f"relearn_steps must be positive step counts, got {self.relearn_steps}")


CLAIMS = {
    "R1": ("quantise", "int4 RTN", "ma", "4-bit quantisation restores forgotten text (Zhang et al. 2025)"),
    "R2": ("relearn", None, "ma", "relearning half the unit restores the other half more than for exact unlearning"),
    "R3": (
        "membership",
        MEMBERSHIP_SCORE,
        "auc",
        "membership inference tells the unlearned model from exact unlearning",
    ),
}


@torch.no_grad()
def _memorisation(model, ids, heldout, settings: AuditSettings) -> dict[str, float]:
    out = {
        "ma": metrics.memorization_accuracy(model, ids).mean().item(),
        "heldout_ma": metrics.memorization_accuracy(model, heldout).mean().item(),
    }
    if settings.el:
        out["el"] = metrics.extraction_likelihood(model, ids, n=settings.n).mean().item()
    return out


def attack(model, forget, heldout, settings: AuditSettings, tokenizer=None) -> list[dict]:
    """Every attack of ``settings`` on one model: tidy rows ``{attack, strength, measure, value}``.

    ``none``: MA (and EL) on the unit as it is; ``quantise``: the same after each quantiser;
    ``relearn``: fine-tuned on the unit's first half, MA (and EL) on its **second** half after
    0 and each number of steps; ``membership``: the ROC AUC of each score, unit rows against
    ``heldout`` rows.  Every memorisation row comes with ``heldout_ma`` (the MA control)."""
    if len(forget) < 2:
        raise ValueError(f"the relearning attack needs a unit of at least 2 rows, got {len(forget)}")
    rows: list[dict] = []

    def add(kind: str, strength: str, values: dict):
        rows.extend({"attack": kind, "strength": strength, "measure": k, "value": float(v)} for k, v in values.items())

    add("none", "none", _memorisation(model, forget, heldout, settings))
    for label in settings.quantisation:
        bits, scheme = QUANTISERS[label]
        add(
            "quantise",
            label,
            _memorisation(attacks.quantise(model, bits, scheme, settings.group_size), forget, heldout, settings),
        )
    half = len(forget) // 2
    taught, held = forget[:half], forget[half:]
    add("relearn", "0 steps", _memorisation(model, held, heldout, settings))
    curve = attacks.relearn_curve(
        model, taught, settings.relearn_steps, lambda m: _memorisation(m, held, heldout, settings), settings.relearn_lr
    )
    for steps, values in curve.items():
        add("relearn", f"{steps} steps", values)
    add("membership", "AUC", {f"auc_{k}": v for k, v in attacks.membership(model, forget, heldout, tokenizer).items()})
    return rows


@dataclass
class Audit:
    """The audit of a grid: ``table`` (tidy: unit, model, status, attack, strength, measure,
    value), ``weights`` (per method and unit: :func:`attacks.weight_change`), and what it ran on."""

    table: pd.DataFrame
    weights: pd.DataFrame
    settings: AuditSettings
    model_name: str
    has_reference: bool
    seconds: float = 0.0
    methods: list[str] = field(default_factory=list)


def _cached(identity: dict, settings: AuditSettings, compute) -> dict:
    config = identity | {"settings": dataclasses.asdict(settings), "version": VERSION}
    return results.cached("attack", config, compute, code=__name__)


def audit(
    specs: dict[str, list[runs.RunSpec]],
    settings: AuditSettings = AuditSettings(),
    reference: bool = True,
    reference_units: list | None = None,
    progress: bool = True,
) -> Audit:
    """Attack every run of ``specs`` (``{method label: [RunSpec per unit]}``, one model and one
    unit size) and, on each unit, the model before unlearning and (``reference``) its exact
    reference; ``reference_units``: the units whose references are built together (an injected
    model leaves one part's units out of one build, as Table 1's ``exact_units`` do; default:
    the audited units).  Everything is cached per model and unit; unlearned models are re-run
    once and saved (:func:`unlearned.model`)."""
    from tqdm.auto import tqdm

    all_specs = [s for v in specs.values() for s in v]
    if not all_specs:
        raise ValueError("nothing to audit: no runs given")
    names = {s.model_name for s in all_specs}
    sizes = {s.forget_rows for s in all_specs}
    if len(names) > 1 or len(sizes) > 1:
        raise ValueError(f"one model and one unit size per audit, got models {names} and forget_rows {sizes}")
    model_name, rows = names.pop(), sizes.pop()
    units = sorted({(s.draw, s.part) for s in all_specs})
    folds = [tuple(u) for u in (reference_units or units)]
    original = runs.load(model_name)
    heldout = original.heldout(settings.heldout_rows)
    tasks = [(u, BEFORE, None) for u in units]
    if reference:
        tasks += [(u, REFERENCE, None) for u in units]
    tasks += [((s.draw, s.part), label, s) for label, v in specs.items() for s in v]
    table, weights, seconds = [], [], 0.0
    for (d, p), label, spec in tqdm(tasks, desc="audit", disable=not progress):
        forget = runs.forget_ids(original, d, rows, p)
        unit = f"{d}.{p}"
        if spec is None:
            name = (
                model_name
                if label == BEFORE
                else exact.reference_name(model_name, d, p, [u for u in folds if u[1] == p])
            )
            loaded = runs.load(name)

            def compute(loaded=loaded, forget=forget):
                return {"rows": attack(loaded.model, forget, heldout, settings, loaded.tokenizer)}

            record = _cached({"model": loaded.key, "unit": [d, p], "rows": rows}, settings, compute)
            status = None
        else:
            run = runs.run(spec, progress=False)

            def compute(spec=spec, forget=forget):
                m = unlearned.model(spec, check_el=settings.el)
                return {
                    "rows": attack(m, forget, heldout, settings, original.tokenizer),
                    "weights": attacks.weight_change(original.model, m, 4, settings.group_size),
                }

            record = _cached({"run": unlearned.path(spec).name, "rows": rows}, settings, compute)
            status = "forgotten" if run.succeeded else "failed"
            weights.append({"unit": unit, "model": label, "status": status, **record["weights"]})
        seconds += record["seconds"]
        table += [{"unit": unit, "model": label, "status": status, **r} for r in record["rows"]]
    return Audit(
        pd.DataFrame(table),
        pd.DataFrame(weights),
        settings,
        model_name,
        reference,
        seconds,
        list(specs),
    )


# ----------------------------------------------------------------------------- summaries


def _order(a: Audit) -> list[tuple[str, str]]:
    """The (attack, strength) columns in the order they were run."""
    s = a.settings
    return (
        [("none", "none")]
        + [("quantise", q) for q in s.quantisation]
        + [("relearn", f"{k} steps") for k in (0, *s.relearn_steps)]
    )


def _kept(a: Audit) -> pd.DataFrame:
    """The audit's rows without the units a method failed to forget (controls: status "control")."""
    t = a.table.assign(status=a.table.status.fillna("control"))
    return t[t.status != "failed"]


def criterion_after_attack(a: Audit) -> pd.DataFrame:
    """Per model and attack: the share (%) of units whose forget-unit MA after the attack is at
    or below the attacked model's own held-out MA (the MA half of the forgetting criterion
    applied again), over the units whose run forgot (controls: every unit)."""
    t = _kept(a)
    t = t[t.measure.isin(["ma", "heldout_ma"])]
    wide = t.pivot_table(index=["model", "unit", "attack", "strength"], columns="measure", values="value", sort=False)
    still = (wide["ma"] <= wide["heldout_ma"]).astype(float).rename("still forgotten").reset_index()
    out = still.pivot_table(index="model", columns=["attack", "strength"], values="still forgotten", sort=False)
    return (100 * out.reindex(columns=pd.MultiIndex.from_tuples(_order(a)))).round(0)


def summary(a: Audit, measure: str = "ma") -> pd.DataFrame:
    """Mean ``measure`` (%) per model (rows) and attack strength (columns) over the units each
    model forgot (controls: every unit); ``n`` units per model."""
    t = _kept(a)
    t = t[t.measure == measure]
    out = 100 * t.pivot_table(index="model", columns=["attack", "strength"], values="value", aggfunc="mean", sort=False)
    out = out.reindex(columns=pd.MultiIndex.from_tuples(_order(a)))
    out.insert(0, ("n", ""), t.groupby("model", sort=False).unit.nunique())
    return out.round(1)


def membership_table(a: Audit) -> pd.DataFrame:
    """ROC AUC (unit rows against held-out rows) of each membership score, mean per model;
    with a reference, MUSE's privacy leak of :data:`MEMBERSHIP_SCORE`:
    (AUC_unlearned - AUC_reference) / AUC_reference, in %."""
    t = _kept(a)
    t = t[t.attack == "membership"]
    out = t.pivot_table(index="model", columns="measure", values="value", aggfunc="mean", sort=False)
    out.columns = [c.removeprefix("auc_") for c in out.columns]
    if a.has_reference and REFERENCE in out.index:
        ref = out.loc[REFERENCE, MEMBERSHIP_SCORE]
        out["privacy leak (%)"] = 100 * (out[MEMBERSHIP_SCORE] - ref) / ref
    return out.round(3)


def weight_table(a: Audit) -> pd.DataFrame:
    """Per method, the median over units of :func:`attacks.weight_change`: how far unlearning
    moved the weights in 4-bit steps, and the share whose 4-bit value changed (%)."""
    if a.weights.empty:
        return pd.DataFrame()
    g = a.weights.groupby("model", sort=False)
    w = g[["median_steps", "share_above_half_step", "share_codes_changed"]].median()
    w[["share_above_half_step", "share_codes_changed"]] *= 100
    w.insert(0, "units forgotten", g.status.apply(lambda s: f"{(s == 'forgotten').sum()}/{len(s)}"))
    return w.rename(
        columns={
            "median_steps": "median |ΔW| (4-bit steps)",
            "share_above_half_step": "moved > ½ step (%)",
            "share_codes_changed": "4-bit code changed (%)",
        }
    ).round(3)


# ----------------------------------------------------------------------------- verdicts


def _strength(claim: str, settings: AuditSettings) -> str:
    attack_, strength, _, _ = CLAIMS[claim]
    if attack_ == "relearn":
        return f"{max(settings.relearn_steps)} steps"
    if attack_ == "membership":
        return "AUC"
    return strength


def _measure(claim: str) -> str:
    attack_, strength, measure, _ = CLAIMS[claim]
    return f"auc_{strength}" if attack_ == "membership" else measure


def by_unit(a: Audit, model: str, claim: str) -> dict[str, float]:
    """``{unit: value}`` of ``claim``'s primary endpoint for ``model`` (a method: only the units
    its run forgot; forgetting is what the attack tests)."""
    attack_ = CLAIMS[claim][0]
    t = _kept(a)
    t = t[(t.model == model) & (t.attack == attack_) & (t.strength == _strength(claim, a.settings))]
    t = t[t.measure == _measure(claim)]
    return dict(zip(t.unit, t.value))


def verdicts(a: Audit, minimums: dict | None = None) -> list[dict]:
    """R1–R3 for every method: the attacked unlearned model minus the attacked exact reference,
    paired over the units the method forgot; "holds" needs the exact sign-flip test (Holm over
    every row) beyond the minimum effect; "indistinguishable from exact unlearning" needs TOST
    at the same margin.  Without a reference there is nothing to decide."""
    minimums = MINIMUM_EFFECTS | (minimums or {})
    rows, comparisons = [], []
    for method in a.methods:
        for claim, (_, _, measure, statement) in CLAIMS.items():
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
            failed = a.table[(a.table.model == method) & (a.table.status == "failed")].unit.nunique()
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
    adjusted = stats.holm([c.p if c is not None else float("nan") for c in comparisons])
    for row, c, p in zip(rows, comparisons, adjusted):
        if c is None:
            continue
        e = row.pop("equivalence")
        verdict = stats.decide(c, supports=1, p=p)
        if verdict != "holds" and e.equivalent():
            verdict = f"does not hold: indistinguishable from exact unlearning (±{c.minimum:g})"
        scale = 100.0 if CLAIMS[row["claim"]][2] == "ma" else 1.0
        unit = " MA points" if scale == 100 else " AUC"
        row["verdict"] = verdict
        row["evidence"] = (
            f"{c.text(unit, scale)}; Holm p = {p:.3g}; {e.text(unit, scale)}; "
            f"{row.pop('failed')} unit(s) not forgotten left out; {c.power_text(scale)}"
            if not math.isnan(p)
            else f"{c.text(unit, scale)}; {c.power_text(scale)}"
        )
        row.pop("comparison")
    return rows


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
        "audit_reference": "the exact-unlearning reference" if a.has_reference else "no exact reference (see below)",
    }
