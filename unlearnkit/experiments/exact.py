"""Exact unlearning as the reference: the testbed retrained without a forget set.

Retraining without the forget set is what every unlearning method approximates.  On the
testbed it is affordable: :func:`reference` builds the testbed a second time with the same
recipe and seed but forget set ``draw`` left out of pretraining
(``testbed:<size>:without-<draw>``, :func:`unlearnkit.models.testbed.build`), and measures on it
what "never seen" means for that set (its MA and EL10), with the same capability evaluation
as Table 1.  :func:`comparison_table` sets it beside the original testbed, the criterion's
held-out thresholds, and the unlearned models of Table 1 on that set.

Only testbeds can be retrained here (a pretrained model's data and recipe are not
available); anything else raises ``ValueError``.  Results are cached like every run.
"""

from __future__ import annotations

import pandas as pd

from ..records import RunRecord
from .runs import before, forget_memorisation, forget_set_name, load


def reference_name(model_name: str, draw: int) -> str:
    """``testbed:default`` → ``testbed:default:without-<draw>``; refuses non-testbed models."""
    if not model_name.startswith("testbed:"):
        raise ValueError(
            f"the exact-unlearning reference retrains the model without the forget set, which only "
            f"the embedded testbed can do here; got model {model_name!r}"
        )
    if ":without-" in model_name:
        raise ValueError(f"{model_name!r} is already a retrained testbed")
    return f"{model_name}:without-{draw}"


def reference(
    model_name: str,
    draw: int = 0,
    heldout_rows: int = 128,
    downstream: str | None = "cpu",
    forget_rows: int | None = None,
    n: int = 10,
    thresholds_source: str = "heldout",
) -> dict:
    """Forget set ``draw`` on the testbed retrained without it, beside the original testbed.

    Returns a dict: ``name`` (the retrained model), ``forget_set``, ``ma`` / ``el`` (forget set
    ``draw`` on the retrained model), ``ma_original`` / ``el_original`` (on the original),
    ``thresholds`` (the original's criterion) and ``thresholds_retrained`` (the same held-out
    rows on the retrained model), ``reasoning`` / ``dialogue`` / ``pile_ppl`` / ``downstream``
    of the retrained model, ``build_seconds`` and ``times_each_forget_sequence_seen`` (of the
    sets it still memorises; ``times_seen_original``: the same on the original).
    """
    name = reference_name(model_name, draw)
    original = before(model_name, heldout_rows, downstream or "cpu", n, thresholds_source)
    retrained = before(name, heldout_rows, downstream or "cpu", n, thresholds_source)
    mem = forget_memorisation(name, draw, n=n, rows=forget_rows)
    mem_original = forget_memorisation(model_name, draw, n=n, rows=forget_rows)
    info = load(name).testbed.info
    return {
        "name": name,
        "forget_set": forget_set_name(draw, forget_rows),
        "draw": draw,
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
        "build_seconds": float(info["build_seconds"]),
        "times_each_forget_sequence_seen": float(info["times_each_forget_sequence_seen"]),
        "times_seen_original": float(load(model_name).testbed.info["times_each_forget_sequence_seen"]),
    }


def comparison_table(ref: dict, groups: dict[str, list[RunRecord]] | None = None) -> pd.DataFrame:
    """Forget set ``draw``: MA and EL10 (%) on the original testbed, on the one retrained without
    it, the held-out thresholds, and after each unlearning method of ``groups`` (its run on that
    set, successful or not), with Pile perplexity where measured."""
    th, th_r = ref["thresholds"], ref["thresholds_retrained"]
    rows = [
        {
            "model": "original testbed (before unlearning)",
            "MA (%)": 100 * ref["ma_original"],
            "EL10 (%)": 100 * ref["el_original"],
            "Pile PPL": None,
            "status": "memorised",
        },
        {
            "model": "retrained without the set (exact unlearning)",
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
            if (r.spec or {}).get("draw") == ref["draw"]:
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
        "exact_times_seen": f"{ref['times_each_forget_sequence_seen']:.1f}",
        "exact_times_seen_original": f"{ref['times_seen_original']:.1f}",
    }
