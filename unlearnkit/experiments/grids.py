"""The run specs of a chapter's grid, built from the chapter's parameters as its notebook builds them.

A long profile's chapter is a list of unlearning runs (:class:`~.runs.RunSpec`) that can take
hours; :func:`specs` lists them without running anything, in the order that makes a partial
grid most useful: one complete unit of every arm before the next unit, so that an interrupted
grid still gives paired comparisons on the units it reached.  ``python -m unlearnkit.book.grid``
plans, runs and reports on these lists; the records go where :func:`~.runs.run` puts every
record (the cache, and with ``record_runs`` the repository's ``results/<profile>/records``).

Only the runs whose specs are fixed in advance are listed: a chapter's later, data-dependent
runs (Table 1 at the forgetting rate chosen from the sweep) are run by the chapter itself.
This module lists; it runs nothing and is imported by no computing module (no cache key moves
when it changes).
"""

from __future__ import annotations

from collections.abc import Callable

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


def _flat(groups: dict[str, list[RunSpec]]) -> list[RunSpec]:
    return [s for specs in groups.values() for s in specs]


def table1(p: dict) -> list[RunSpec]:
    """Table 1's runs as ``book/table1.ipynb`` makes them: the paper's methods on every unit, the
    extra arms (PiSSA + IHL) on theirs, and the learning-rate sweep."""
    common = {k: p[k] for k in COMMON if k in p}
    model, draws = p["model_name"], p["forget_draws"]
    out = _flat(
        table1_specs(model, draws, lr_full=p["lr_full"], lr_lora=p["lr_lora"], forget_parts=p["forget_parts"], **common)
    )
    if p.get("extra_methods"):
        out += _flat(
            table1_specs(
                model,
                draws,
                lr_full=p["lr_full"],
                lr_lora=p["lr_lora"],
                forget_parts=p["extra_parts"],
                methods_=p["extra_methods"],
                **common,
            )
        )
    rate_common = common | {"max_epochs": p.get("rate_max_epochs") or p["max_epochs"]}
    for lr_full, lr_lora in [tuple(r) for r in p.get("rate_pairs") or []]:
        if not p.get("rate_methods"):
            break
        by_method = table1_specs(
            model,
            p["rate_draws"],
            lr_full=lr_full,
            lr_lora=lr_lora,
            forget_parts=p["rate_parts"],
            methods_=p["rate_methods"],
            **rate_common,
        )
        out += _flat(by_method)
    return out


GRIDS: dict[str, Callable[[dict], list[RunSpec]]] = {"table1": table1}


def unit_major(specs: list[RunSpec]) -> list[RunSpec]:
    """``specs`` without repeats, ordered unit by unit (in the order units first appear), each
    unit's runs in their listed order: every arm of one unit before the next unit."""
    unique = list(dict.fromkeys(specs))
    units = list(dict.fromkeys((s.model_name, s.unit) for s in unique))
    return sorted(unique, key=lambda s: (units.index((s.model_name, s.unit)), unique.index(s)))


def specs(chapter: str, params: dict) -> list[RunSpec]:
    """The runs of ``chapter`` with ``params`` (the notebook's defaults with the profile's
    values), unit-major and without repeats; a clear error for a chapter without a grid."""
    if chapter not in GRIDS:
        raise ValueError(f"chapter {chapter!r} has no grid of its own here; chapters with one: {sorted(GRIDS)}")
    return unit_major(GRIDS[chapter](params))
