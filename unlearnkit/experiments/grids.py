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
    """The capability chapter's runs as ``book/capability.ipynb`` makes them: section ``pilot``,
    ``{(method, rate): specs}``, the pilot's methods at each of its rates (one rate for full and
    adapter runs alike) on its units; and, once the profile states ``confirm_rate``, the
    confirmatory grid (:func:`confirmatory`)."""
    _check_injected(p)
    return {"pilot": _pilot(p)} | confirmatory(p)


def confirmatory(p: dict) -> Sections:
    """The confirmatory grid of C4 and C6, stated before it runs (empty while ``confirm_rate`` is
    None): section ``confirmatory``, ``{method: specs}``, every method of ``confirm_methods`` at
    ``confirm_rate`` on every whole forget set of every source in ``confirm_sources``
    (``[[model_name, forget_draws], …]``, independently injected models), training seed
    ``seed``; and one section per extra training seed (``seed <s>``), the same methods on the
    first ``confirm_seed_units`` units, sources alternating (:func:`confirm_units`), which measure
    the seed-to-seed spread and enter no paired test."""
    if p.get("confirm_rate") is None:
        return {}
    lr = float(p["confirm_rate"])
    common = {k: p[k] for k in COMMON if k in p} | {"forget_rows": None}
    for model, draws in p["confirm_sources"]:
        _check_injected(p | {"model_name": model, "forget_draws": draws, "forget_rows": None, "forget_parts": [0]})

    def arms(units: list[tuple[str, int]], seed: int) -> dict[str, list[RunSpec]]:
        out: dict[str, list[RunSpec]] = {}
        for model, draw in units:
            one = table1_specs(
                model, [draw], lr_full=lr, lr_lora=lr, methods_=p["confirm_methods"], **(common | {"seed": seed})
            )
            for label, specs in one.items():
                out.setdefault(label, []).extend(specs)
        return out

    units = confirm_units(p["confirm_sources"])
    out = {"confirmatory": arms(units, int(p.get("seed", 0)))}
    for seed in p.get("confirm_seeds") or []:
        out[f"seed {seed}"] = arms(units[: int(p["confirm_seed_units"])], int(seed))
    return out


def confirm_units(sources: list) -> list[tuple[str, int]]:
    """The confirmatory units ``(model_name, draw)``, sources alternating (the first set of each
    source, then the second of each, …), so that a grid stopped early, and the first units that
    get a second seed, cover every source."""
    columns = [[(model, int(d)) for d in draws] for model, draws in sources]
    depth = max((len(c) for c in columns), default=0)
    return [c[i] for i in range(depth) for c in columns if i < len(c)]


def _pilot(p: dict) -> dict:
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
    return pilot


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


def baselines(chapter: str, params: dict) -> list[dict]:
    """:func:`baseline` of every model the chapter's runs unlearn: the chapter's model first, then
    each other model its grid names (the confirmatory grid's second source)."""
    models = [params["model_name"]] + [s.model_name for s in specs(chapter, params)]
    return [baseline(chapter, params | {"model_name": m}) for m in dict.fromkeys(models)]


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
    unit's runs in their listed order: every arm of one unit before the next unit.  A unit is a
    model's forget rows under one training seed, so a second seed listed after the first (the
    confirmatory grid's spread) runs after every unit of the first."""
    unique = list(dict.fromkeys(specs))
    units = list(dict.fromkeys(_unit_of(s) for s in unique))
    return sorted(unique, key=lambda s: (units.index(_unit_of(s)), unique.index(s)))


def _unit_of(spec: RunSpec) -> tuple:
    return spec.model_name, spec.unit, spec.seed


def sections(chapter: str, params: dict) -> Sections:
    """The runs of ``chapter`` with ``params`` (the notebook's defaults with the profile's
    values) grouped as the chapter groups them; a clear error for a chapter without a grid."""
    if chapter not in GRIDS:
        raise ValueError(f"chapter {chapter!r} has no grid of its own here; chapters with one: {sorted(GRIDS)}")
    return GRIDS[chapter](params)


def specs(chapter: str, params: dict) -> list[RunSpec]:
    """The runs of :func:`sections`, unit-major and without repeats."""
    return unit_major([s for groups in sections(chapter, params).values() for s in _flat(groups)])
