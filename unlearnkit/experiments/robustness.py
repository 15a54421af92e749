"""The robustness audit: every unlearned model of a grid and its controls, attacked.

Meeting the MA/EL criterion says the model no longer *produces* the forget unit under greedy
decoding.  :func:`audit` attacks every unlearned model of a grid (Table 1's runs; the model
itself from :mod:`unlearnkit.experiments.unlearned`, saved once) with the attacks of
:mod:`unlearnkit.evaluation.attacks`, and the same attacks hit two controls on the same unit:

* the model **before unlearning** (what full memorisation looks like under the attack);
* the **exact-unlearning reference** where one can be built (:mod:`.exact`: the testbed
  retrained without the set, an injected model injected without the unit): the model that
  never saw the unit, the control every recovery is measured against.

Every attacked model is also scored on held-out TDEC rows it never saw (``heldout_ma``).
Results are cached per model, unit and settings.  The tables and the verdicts R1-R3 are
:mod:`.robustness_report`'s (so editing them never recomputes an attack); nothing here draws.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import pandas as pd
import torch

from .. import metrics
from ..evaluation import attacks
from ..store import results
from . import exact, runs, unlearned

BEFORE = "before unlearning"
REFERENCE = "exact reference"

# label -> (bits, scheme) of attacks.quantise
QUANTISERS = {"int8 RTN": (8, "rtn"), "int4 RTN": (4, "rtn"), "NF4": (4, "nf4")}


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


def relearn_label(steps: int) -> str:
    """The ``strength`` of the relearning rows after ``steps`` steps."""
    return f"{steps} steps"


def columns(settings: AuditSettings) -> list[tuple[str, str]]:
    """Every ``(attack, strength)`` of the memorisation rows, in the order they are run."""
    return (
        [("none", "none")]
        + [("quantise", q) for q in settings.quantisation]
        + [("relearn", relearn_label(k)) for k in (0, *settings.relearn_steps)]
    )


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
    add("relearn", relearn_label(0), _memorisation(model, held, heldout, settings))
    curve = attacks.relearn_curve(
        model, taught, settings.relearn_steps, lambda m: _memorisation(m, held, heldout, settings), settings.relearn_lr
    )
    for steps, values in curve.items():
        add("relearn", relearn_label(steps), values)
    add("membership", "AUC", {f"auc_{k}": v for k, v in attacks.membership(model, forget, heldout, tokenizer).items()})
    return rows


@dataclass
class Audit:
    """The audit of a grid: ``table`` (tidy: unit, model, status, attack, strength, measure,
    value), ``weights`` (per method and unit: :func:`attacks.weight_change`), and what it ran on."""

    table: pd.DataFrame
    weights: pd.DataFrame
    settings: AuditSettings
    has_reference: bool
    seconds: float = 0.0
    methods: list[str] = field(default_factory=list)
    threshold_ma: float = float("nan")  # the runs' MA threshold (held-out MA before unlearning)


def _cached(identity: dict, settings: AuditSettings, compute) -> dict:
    config = identity | {"settings": dataclasses.asdict(settings)}
    return results.cached("attack", config, compute, code=__name__)


def _audited(specs: dict[str, list[runs.RunSpec]], settings: AuditSettings):
    """``(every spec, the model as loaded, held-out rows, the runs' MA threshold)`` of an audit:
    one model and one unit size, or a ``ValueError`` naming them."""
    all_specs = [s for v in specs.values() for s in v]
    if not all_specs:
        raise ValueError("nothing to audit: no runs given")
    names = {s.model_name for s in all_specs}
    sizes = {s.forget_rows for s in all_specs}
    if len(names) > 1 or len(sizes) > 1:
        raise ValueError(f"one model and one unit size per audit, got models {names} and forget_rows {sizes}")
    first = all_specs[0]
    threshold_ma = runs.thresholds(first.model_name, first.heldout_rows, first.n, first.thresholds)["ma"]
    original = runs.load(first.model_name)
    return all_specs, original, original.heldout(settings.heldout_rows), threshold_ma


def _attack_unlearned(unlearned_model, identity: dict, forget, heldout, settings: AuditSettings, original) -> dict:
    """The cached attack of one unlearned model (``unlearned_model()`` builds it only on a cache
    miss): its rows and how far its weights moved from ``original``'s."""

    def compute():
        m = unlearned_model()
        return {
            "rows": attack(m, forget, heldout, settings, original.tokenizer),
            "weights": attacks.weight_change(original.model, m, 4, settings.group_size),
        }

    return _cached(identity, settings, compute)


def audit(
    specs: dict[str, list[runs.RunSpec]],
    settings: AuditSettings = AuditSettings(),
    reference: bool = True,
    reference_units: list | None = None,
    progress: bool = True,
    attack_failed: bool = False,
    key_of=None,
) -> Audit:
    """Attack every run of ``specs`` (``{method label: [RunSpec per unit]}``, one model and one
    unit size) and, on each unit, the model before unlearning and (``reference``) its exact
    reference; ``reference_units``: the units whose references are built together (an injected
    model leaves one part's units out of one build, as Table 1's ``exact_units`` do; default:
    the audited units).  Everything is cached per model and unit; unlearned models are re-run
    once and saved (:func:`unlearned.model`).

    A run that did not meet the criterion forgot nothing for an attack to bring back, and the
    verdicts leave it out: unless ``attack_failed``, it is neither re-run nor attacked, only
    listed in ``weights`` with status "failed" (its measures empty).  On SmolLM2 at the paper's
    2e-4, LoRA (GD) and + IHL fail on every unit; re-running their 20 epochs would be about
    an hour of the audit.

    ``key_of``: the cache key of a control model from its name without building it
    (:func:`unlearnkit.models.keys.key_of`; default: load the model); a control is then loaded
    only when its attack is not cached or recorded, so a recorded audit reads back, inside
    :func:`unlearnkit.store.results.read_only`, without building its exact references."""
    from tqdm.auto import tqdm

    all_specs, original, heldout, threshold_ma = _audited(specs, settings)
    model_name, rows = all_specs[0].model_name, all_specs[0].forget_rows
    units = sorted({(s.draw, s.part) for s in all_specs})
    folds = [tuple(u) for u in (reference_units or units)]
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
            key = key_of(name) if key_of is not None else runs.load(name).key

            def compute(name=name, forget=forget):
                loaded = runs.load(name)
                return {"rows": attack(loaded.model, forget, heldout, settings, loaded.tokenizer)}

            record = _cached({"model": key, "unit": [d, p], "rows": rows}, settings, compute)
            status = None
        else:
            run = runs.run(spec, progress=False)
            status = "forgotten" if run.succeeded else "failed"
            if not run.succeeded and not attack_failed:
                weights.append({"unit": unit, "model": label, "status": status})
                continue

            record = _attack_unlearned(
                lambda spec=spec: unlearned.model(spec, check_el=settings.el),
                {"run": unlearned.path(spec).name, "rows": rows},
                forget,
                heldout,
                settings,
                original,
            )
            weights.append({"unit": unit, "model": label, "status": status, **record["weights"]})
        seconds += record["seconds"]
        table += [{"unit": unit, "model": label, "status": status, **r} for r in record["rows"]]
    return Audit(
        pd.DataFrame(table),
        pd.DataFrame(weights),
        settings,
        reference,
        seconds,
        list(specs),
        threshold_ma,
    )


def audit_at_budget(
    specs: dict[str, list[runs.RunSpec]], epochs: int, settings: AuditSettings = AuditSettings(), progress: bool = True
) -> Audit:
    """Attack every run of ``specs`` after exactly ``epochs`` epochs, whether or not it met the
    criterion (:func:`unlearned.model_at`): Zhang et al.'s regime, where the paper's small rates
    move weights by less than a 4-bit step and quantisation is expected to bring memorisation
    back.  The rows carry the status the run had by then ("forgotten" or "not forgotten by
    then").  No controls are attacked here (they are the criterion audit's); nothing here
    enters the verdicts R1-R3, which are decided on the runs at the criterion."""
    from tqdm.auto import tqdm

    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    _, original, heldout, threshold_ma = _audited(specs, settings)
    table, weights, seconds = [], [], 0.0
    tasks = [(label, s) for label, v in specs.items() for s in v]
    for label, spec in tqdm(tasks, desc=f"audit at {epochs} epochs", disable=not progress):
        status = unlearned.status_at(runs.run(spec, progress=False), epochs)
        record = _attack_unlearned(
            lambda spec=spec: unlearned.model_at(spec, epochs),
            {"run": unlearned.path(spec).name, "rows": spec.forget_rows, "epochs": epochs},
            runs.forget_ids(original, spec.draw, spec.forget_rows, spec.part),
            heldout,
            settings,
            original,
        )
        unit = f"{spec.draw}.{spec.part}"
        weights.append({"unit": unit, "model": label, "status": status, **record["weights"]})
        seconds += record["seconds"]
        table += [{"unit": unit, "model": label, "status": status, **r} for r in record["rows"]]
    return Audit(pd.DataFrame(table), pd.DataFrame(weights), settings, False, seconds, list(specs), threshold_ma)
