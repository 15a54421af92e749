"""The run specs of a chapter's grid, built from the chapter's parameters as its notebook builds them.

A long profile's chapter is a list of unlearning runs (:class:`~.runs.RunSpec`) that can take
hours; :func:`sections` lists them as the chapter groups them (its tables' sections and arms),
:func:`specs` lists them without running anything, in the order that makes a partial
grid most useful: one complete unit of every arm before the next unit, so that an interrupted
grid still gives paired comparisons on the units it reached.  ``python -m unlearnkit.book.grid``
plans, runs and reports on these lists; the records go where :func:`~.runs.run` puts every
record (the cache, and with ``record_runs`` the repository's ``results/<profile>/records``).

Grids: Table 1 (its learning-rate sweep included), the module sweep, the rank sweep, the
capability chapter's pilot and the robustness audit's runs (the runs it attacks; the attacks
themselves are :mod:`.robustness`'s, run by the grid command unit by unit after the runs).
Only the runs whose specs are fixed in advance are listed: a chapter's later, data-dependent
runs (Table 1 at the forgetting rate chosen from the sweep) are run by the chapter itself.
This module lists; it runs nothing and is imported by no computing module (no cache key moves
when it changes).
"""

from __future__ import annotations

from collections.abc import Callable

from ..models import keys
from .runs import RunSpec, table1_specs

COMMON = (
    "rank",
    "max_epochs",
    "seed",
    "heldout_rows",
    "retain_rows",
    "downstream",
    "forget_rows",
    "retain_source",
    "fisher_estimator",
    "thresholds",
)


Sections = dict[str, dict]  # {section: {arm label: [RunSpec per unit]}}


def _flat(groups: dict) -> list[RunSpec]:
    return [s for specs in groups.values() for s in specs]


def table1(p: dict) -> Sections:
    """Table 1's runs as ``book/table1.ipynb`` makes them: section ``table1`` (the paper's methods
    on every unit and the extra arms, PiSSA + IHL, on theirs) and one section per swept rate pair
    (``rate <lr_full>/<lr_lora>``, the rate methods on the rate units)."""
    common = {k: p[k] for k in COMMON if k in p}
    model, draws = p["model_name"], p["forget_draws"]
    rates = {"lr_full": p["lr_full"], "lr_lora": p["lr_lora"]}
    main = table1_specs(model, draws, forget_parts=p["forget_parts"], **rates, **common)
    if p.get("extra_methods"):
        main |= table1_specs(
            model, draws, forget_parts=p["extra_parts"], methods_=p["extra_methods"], **rates, **common
        )
    out = {"table1": main}
    rate_common = common | {"max_epochs": p.get("rate_max_epochs") or p["max_epochs"]}
    for lr_full, lr_lora in [tuple(r) for r in p.get("rate_pairs") or []]:
        if p.get("rate_methods"):
            out[f"rate {lr_full:g}/{lr_lora:g}"] = table1_specs(
                model,
                p["rate_draws"],
                lr_full=lr_full,
                lr_lora=lr_lora,
                forget_parts=p["rate_parts"],
                methods_=p["rate_methods"],
                **rate_common,
            )
    return out


def _ablation_common(p: dict) -> dict:
    keys = ("max_epochs", "seed", "heldout_rows", "retain_rows", "downstream", "forget_rows")
    return {"lr": p["lr_lora"]} | {k: p[k] for k in keys}


def module_sweep(p: dict) -> Sections:
    """The module sweep's runs as ``book/module_sweep.ipynb`` makes them: ``{(method, module set): specs}``."""
    from . import ablation

    grid = ablation.module_grid(
        p["model_name"], p["forget_draws"], p["module_sets"], p["methods"], p["rank"], **_ablation_common(p)
    )
    return {"module_sweep": grid}


def rank_sweep(p: dict) -> Sections:
    """The rank sweep's runs as ``book/rank_sweep.ipynb`` makes them: ``{(method, rank): specs}`` and
    the full-GD runs its C3 compares with (section ``gd``)."""
    from . import ablation

    common = _ablation_common(p)
    grid = ablation.rank_grid(p["model_name"], p["forget_draws"], p["ranks"], p["methods"], **common)
    gd = [RunSpec(p["model_name"], d, "gd", **(common | {"lr": p["lr_full"]})) for d in p["forget_draws"]]
    return {"rank_sweep": grid, "gd": {"GD": gd}}


def capability(p: dict) -> Sections:
    """The capability chapter's pilot as ``book/capability.ipynb`` makes it: ``{(method, rate): specs}``,
    the pilot's methods at each of its rates (one rate for full and adapter runs alike) on its units."""
    _check_injected(p)
    common = {k: p[k] for k in COMMON if k in p}
    pilot = {}
    for lr in p["pilot_rates"]:
        specs = table1_specs(
            p["model_name"],
            p["forget_draws"],
            lr_full=lr,
            lr_lora=lr,
            forget_parts=p["forget_parts"],
            methods_=p["pilot_methods"],
            **common,
        )
        pilot |= {(label, lr): s for label, s in specs.items()}
    return {"pilot": pilot}


def audit_specs(
    model_name: str,
    forget_draws: list[int],
    forget_parts: list[int],
    audit_methods: list[str],
    other_rates: list,
    other_rate_methods: list[str],
    lr_full: float,
    lr_lora: float,
    **common,
) -> dict[str, list[RunSpec]]:
    """The runs the robustness audit attacks, as ``book/robustness.ipynb`` makes them:
    ``audit_methods`` at the chapter's rates (Table 1's runs), and ``other_rate_methods`` at each
    other ``[lr_full, lr_lora]`` pair that differs from them, labelled ``"<method> @ <rate>"``."""
    out = table1_specs(
        model_name,
        forget_draws,
        lr_full=lr_full,
        lr_lora=lr_lora,
        forget_parts=forget_parts,
        methods_=audit_methods,
        **common,
    )
    for full, lora in [tuple(r) for r in other_rates or []]:
        if (full, lora) != (lr_full, lr_lora):
            extra = table1_specs(
                model_name,
                forget_draws,
                lr_full=full,
                lr_lora=lora,
                forget_parts=forget_parts,
                methods_=other_rate_methods,
                **common,
            )
            out |= {f"{k} @ {v[0].lr:g}": v for k, v in extra.items()}
    return out


def robustness(p: dict) -> Sections:
    """The robustness chapter's runs (section ``audit``: :func:`audit_specs` with the chapter's
    parameters); the grid command attacks them after running them."""
    common = {k: p[k] for k in COMMON if k in p}
    names = ("forget_draws", "forget_parts", "audit_methods", "other_rates", "other_rate_methods", "lr_full", "lr_lora")
    return {"audit": audit_specs(p["model_name"], **{k: p[k] for k in names}, **common)}


def audit_settings(p: dict):
    """The :class:`~.robustness.AuditSettings` of the robustness chapter's parameters (the
    attacker relearns at ``relearn_lr``, default the chapter's full fine-tuning rate)."""
    from .robustness import AuditSettings

    return AuditSettings(
        quantisation=tuple(p["quantisation"]),
        group_size=p["group_size"],
        relearn_steps=tuple(p["relearn_steps"]),
        relearn_lr=p.get("relearn_lr") or p["lr_full"],
        heldout_rows=p["audit_heldout_rows"],
        el=p["audit_el"],
    )


def audit_units(p: dict) -> list[tuple[int, int]]:
    """The units the robustness audit attacks, set-major (the order the grid command attacks them)."""
    from .runs import units

    return [tuple(u) for u in units(p["forget_draws"], p["forget_parts"])]


def reference_units(p: dict) -> list[tuple[int, int]]:
    """The units whose exact references are built together (``exact_units``, default every
    audited unit): the same for every unit the grid command attacks, so each unit's reference
    is the model the whole chapter would build."""
    return [tuple(u) for u in p.get("exact_units") or []] or audit_units(p)


def _check_injected(p: dict) -> None:
    """A clear error when the pilot would unlearn rows its injected model was never taught: a
    forget set of 32 rows on a model that learnt only the first 8 measures forgetting of text the
    model did not memorise (the first pilot did, on the one-set model)."""
    rows = p.get("forget_rows") or 32
    for draw in p["forget_draws"]:
        taught = keys.injected_rows(p["model_name"], draw)
        for part in p.get("forget_parts") or [0]:
            if taught is not None and (part + 1) * rows > taught:
                raise ValueError(
                    f"capability: model_name {p['model_name']!r} was injected with the first {taught} rows of "
                    f"forget set {draw}, but forget_rows={p.get('forget_rows')!r}, part {part} unlearns rows "
                    f"{part * rows}-{(part + 1) * rows - 1}; use an injection that teaches them (e.g. '+tdec:full')"
                )


GRIDS: dict[str, Callable[[dict], Sections]] = {
    "table1": table1,
    "module_sweep": module_sweep,
    "rank_sweep": rank_sweep,
    "capability": capability,
    "robustness": robustness,
}


def baseline(chapter: str, params: dict) -> dict:
    """The arguments of :func:`~.runs.before` the chapter's tables and verdicts use (the model's
    thresholds and scores before unlearning)."""
    out = {
        "model_name": params["model_name"],
        "heldout_rows": params["heldout_rows"],
        "downstream_preset": params["downstream"],
    }
    return out | ({"thresholds_source": params["thresholds"]} if chapter in ("table1", "capability") else {})


def unit_major(specs: list[RunSpec]) -> list[RunSpec]:
    """``specs`` without repeats, ordered unit by unit (in the order units first appear), each
    unit's runs in their listed order: every arm of one unit before the next unit."""
    unique = list(dict.fromkeys(specs))
    units = list(dict.fromkeys((s.model_name, s.unit) for s in unique))
    return sorted(unique, key=lambda s: (units.index((s.model_name, s.unit)), unique.index(s)))


def sections(chapter: str, params: dict) -> Sections:
    """The runs of ``chapter`` with ``params`` (the notebook's defaults with the profile's
    values) grouped as the chapter groups them; a clear error for a chapter without a grid."""
    if chapter not in GRIDS:
        raise ValueError(f"chapter {chapter!r} has no grid of its own here; chapters with one: {sorted(GRIDS)}")
    return GRIDS[chapter](params)


def specs(chapter: str, params: dict) -> list[RunSpec]:
    """The runs of :func:`sections`, unit-major and without repeats."""
    return unit_major([s for groups in sections(chapter, params).values() for s in _flat(groups)])
