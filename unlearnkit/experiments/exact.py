"""Exact unlearning as the reference: the model taught everything but the forget unit.

Retraining without the forget data is what every unlearning method approximates.  Two kinds
of model here can be rebuilt without it:

- the testbed: :func:`reference` builds it a second time with the same recipe and seed but
  forget set ``draw`` left out of pretraining (``testbed:<size>:without-<draw>``,
  :func:`unlearnkit.models.testbed.build`): the reference of every unit of that set;
- a model with injected memorisation (``<base>+tdec:<recipe>``): the same injection with
  the one unit left out (``<base>+tdec:<recipe>:without-<d>.<p>``,
  :mod:`unlearnkit.models.injection`).

On the reference it measures what "never seen" means for the unit (its MA and EL10), with
the same capability evaluation as Table 1.  :func:`comparison_table` sets it beside the
original, the criterion's held-out thresholds, and the unlearned models on that unit.

A pretrained model's own data and recipe are not available, so anything else raises
``ValueError``.  Results are cached like every run.
"""

from __future__ import annotations

import pandas as pd

from ..models import injection
from ..store.records import RunRecord
from .runs import before, forget_memorisation, forget_set_name, load


def reference_name(model_name: str, draw: int, part: int = 0, fold: list | None = None) -> str:
    """``testbed:default`` → ``testbed:default:without-<draw>`` (the whole set);
    ``smollm2-135m+tdec:full`` → ``smollm2-135m+tdec:full:without-<draw>.<part>`` (the unit), or,
    with ``fold`` (units ``(d, p)`` that include this one), one model without all of them, the
    reference of each (an injection costs the same with one unit or five left out);
    refuses any other model."""
    if ":without-" in model_name:
        raise ValueError(f"{model_name!r} is already an exact-unlearning reference")
    if model_name.startswith("testbed:") and injection.SUFFIX not in model_name:
        return f"{model_name}:without-{draw}"
    parsed = injection.parse_name(model_name)
    if parsed is None:
        raise ValueError(
            f"the exact-unlearning reference rebuilds the model without the forget unit, which only "
            f"the embedded testbed or a model with injected memorisation ('<base>+tdec:<recipe>') can "
            f"do here; got model {model_name!r}"
        )
    base, recipe = parsed
    fold = sorted({tuple(u) for u in (fold or [])} | {(draw, part)})
    name = f"{base}{injection.SUFFIX}:{recipe}" + "".join(f":without-{d}.{p}" for d, p in fold)
    injection.parse_name(name)  # the unit must be one the recipe injects
    return name


def _build_info(loaded) -> tuple[float, float | None]:
    """(seconds to build, times each forget sequence was seen) of a testbed or an injected model."""
    if loaded.testbed is not None:
        info = loaded.testbed.info
        return float(info["build_seconds"]), float(info["times_each_forget_sequence_seen"])
    return float(loaded.injection["seconds"]), None


def reference(
    model_name: str,
    draw: int = 0,
    heldout_rows: int = 128,
    downstream: str | None = "cpu",
    forget_rows: int | None = None,
    n: int = 10,
    thresholds_source: str = "heldout",
    part: int = 0,
    fold: list | None = None,
) -> dict:
    """Forget unit ``(draw, part)`` on the model rebuilt without it (:func:`reference_name`),
    beside the original.

    Returns a dict: ``name`` (the retrained model), ``forget_set``, ``ma`` / ``el`` (forget set
    ``draw`` on the retrained model), ``ma_original`` / ``el_original`` (on the original),
    ``thresholds`` (the original's criterion) and ``thresholds_retrained`` (the same held-out
    rows on the retrained model), ``reasoning`` / ``dialogue`` / ``pile_ppl`` / ``downstream``
    of the retrained model, ``build_seconds`` and ``times_each_forget_sequence_seen`` (of the
    sets it still memorises; ``times_seen_original``: the same on the original).
    """
    name = reference_name(model_name, draw, part, fold)
    original = before(model_name, heldout_rows, downstream or "cpu", n, thresholds_source)
    retrained = before(name, heldout_rows, downstream or "cpu", n, thresholds_source)
    mem = forget_memorisation(name, draw, n=n, rows=forget_rows, part=part)
    mem_original = forget_memorisation(model_name, draw, n=n, rows=forget_rows, part=part)
    build_seconds, times_seen = _build_info(load(name))
    return {
        "name": name,
        "forget_set": forget_set_name(draw, forget_rows, part),
        "draw": draw,
        "part": part,
        "ma": mem["ma"],
        "el": mem["el"],
        "ma_original": mem_original["ma"],
        "el_original": mem_original["el"],
        "thresholds": original["thresholds"],
        "thresholds_retrained": retrained["thresholds"],
        "reasoning": retrained["reasoning"],
        "dialogue": retrained["dialogue"],
        "pile_ppl": retrained["pile_ppl"],
        "downstream": retrained["downstream"],
        "build_seconds": build_seconds,
        "times_each_forget_sequence_seen": times_seen,
        "times_seen_original": _build_info(load(model_name))[1],
    }


def references(model_name: str, units: list, **settings) -> dict:
    """``{(draw, part): reference}`` for every unit of ``units`` (:func:`reference` with
    ``settings``): a testbed rebuilt once per forget set; an injected model once per part, all
    of that part's units left out together (a fold), so ten units cost two injections."""
    out = {}
    for d, p in units:
        fold = [u for u in units if u[1] == p]
        out[(d, p)] = reference(model_name, d, part=p, fold=fold, **settings)
    return out


def comparison_table(ref: dict, groups: dict[str, list[RunRecord]] | None = None) -> pd.DataFrame:
    """Forget set ``draw``: MA and EL10 (%) on the original testbed, on the one retrained without
    it, the held-out thresholds, and after each unlearning method of ``groups`` (its run on that
    set, successful or not), with Pile perplexity where measured."""
    th, th_r = ref["thresholds"], ref["thresholds_retrained"]
    rows = [
        {
            "model": "original (before unlearning)",
            "MA (%)": 100 * ref["ma_original"],
            "EL10 (%)": 100 * ref["el_original"],
            "Pile PPL": None,
            "status": "memorised",
        },
        {
            "model": "rebuilt without the unit (exact unlearning)",
            "MA (%)": 100 * ref["ma"],
            "EL10 (%)": 100 * ref["el"],
            "Pile PPL": ref["pile_ppl"],
            "status": "never seen",
        },
        {
            "model": "held-out TDEC rows on the original (the criterion)",
            "MA (%)": 100 * th["ma"],
            "EL10 (%)": 100 * th["el"],
            "Pile PPL": None,
            "status": "threshold",
        },
        {
            "model": "held-out TDEC rows on the retrained",
            "MA (%)": 100 * th_r["ma"],
            "EL10 (%)": 100 * th_r["el"],
            "Pile PPL": None,
            "status": "threshold",
        },
    ]
    for name, recs in (groups or {}).items():
        for r in recs:
            if (r.spec or {}).get("draw") == ref["draw"] and (r.spec or {}).get("part", 0) == ref.get("part", 0):
                rows.append(
                    {
                        "model": f"unlearned: {name}",
                        "MA (%)": 100 * r.final_ma,
                        "EL10 (%)": None if r.final_el is None else 100 * r.final_el,
                        "Pile PPL": r.pile_ppl,
                        "status": r.status,
                    }
                )
    return pd.DataFrame(rows).set_index("model")


def facts(ref: dict | None, draw: int = 0) -> dict[str, str]:
    """The numbers the chapter's prose quotes about the reference, as text for ``glue``;
    ``ref=None`` (not run in this profile) gives "not run" in their place."""
    if ref is None:
        keys = (
            "exact_ma",
            "exact_el",
            "exact_ma_original",
            "exact_el_original",
            "exact_th_ma",
            "exact_th_el",
            "exact_times_seen",
            "exact_times_seen_original",
        )
        return {
            "exact_draw": str(draw),
            "exact_status": "not run in this profile: set exact_reference = True",
            **{k: "(not run)" for k in keys},
        }
    return {
        "exact_draw": str(ref["draw"]),
        "exact_ma": f"{100 * ref['ma']:.1f}",
        "exact_el": f"{100 * ref['el']:.1f}",
        "exact_ma_original": f"{100 * ref['ma_original']:.1f}",
        "exact_el_original": f"{100 * ref['el_original']:.1f}",
        "exact_th_ma": f"{100 * ref['thresholds']['ma']:.1f}",
        "exact_th_el": f"{100 * ref['thresholds']['el']:.1f}",
        "exact_status": f"{ref['name']}, built in {ref['build_seconds']:.0f} s",
        "exact_times_seen": _times(ref["times_each_forget_sequence_seen"]),
        "exact_times_seen_original": _times(ref["times_seen_original"]),
    }


def _times(x: float | None) -> str:
    return "(not counted: injected)" if x is None else f"{x:.1f}"
