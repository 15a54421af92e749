"""Scores that others published for the offline models, to check this library's evaluation against.

A capability figure measured here means something only if it agrees with a table nobody here
wrote.  :data:`PUBLISHED` holds, per offline model (:mod:`unlearnkit.models.offline`), the
scores on its model card, with where they come from and how they were measured;
:func:`comparison` puts them beside the scores :func:`unlearnkit.evaluation.downstream.evaluate`
measured.  This module holds numbers and lines them up; it measures nothing.

Only tasks that both evaluations share are compared: HellaSwag, PIQA, ARC (the card's "ARC
(Average)" is the mean of ARC-Easy and ARC-Challenge) and, from the base model's table,
Winogrande.  The card's numbers are lighteval's zero-shot "cloze" formulation on the full
validation/test sets, length-normalised where the task calls for it; ours are lm-eval's ``acc``
and ``acc_norm`` on a fixed random subsample (``docs`` per task), so each difference has a
sampling error of about ``sqrt(p (1 - p) / docs)`` on top of prompt and quantisation effects.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd


@dataclass(frozen=True)
class PublishedScores:
    """One model card's table: percentages per task, and how they were made."""

    model: str
    source: str
    harness: str
    instruct: dict[str, float]  # the evaluated model (the instruct version)
    base: dict[str, float]  # its base (pre-trained) version, for the tasks the instruct table lacks


# HuggingFaceTB's SmolLM2-135M model card, "Evaluation" (lighteval, zero-shot unless stated).
PUBLISHED: dict[str, PublishedScores] = {
    "smollm2-135m": PublishedScores(
        model="SmolLM2-135M-Instruct",
        source="HuggingFaceTB SmolLM2-135M model card, section 'Evaluation' "
        "(https://huggingface.co/HuggingFaceTB/SmolLM2-135M); SmolLM2 paper, arXiv:2502.02737",
        harness="lighteval, zero-shot, full evaluation sets",
        instruct={"hellaswag": 40.9, "arc (average)": 37.3, "piqa": 66.3},
        base={"hellaswag": 42.1, "arc (average)": 43.9, "piqa": 68.4, "winogrande": 51.3},
    ),
}

# Our task(s) behind each published row.
_ROWS = {
    "hellaswag": ("hellaswag",),
    "arc (average)": ("arc_easy", "arc_challenge"),
    "piqa": ("piqa",),
    "winogrande": ("winogrande",),
}


def comparison(downstream: dict, model: str = "smollm2-135m") -> pd.DataFrame:
    """Published against measured, one row per shared task (percentages).

    ``downstream`` is :func:`~unlearnkit.evaluation.downstream.evaluate`'s result for the
    model.  Columns: our ``acc`` and ``acc_norm``, the published instruct and base scores, the
    documents we scored, one binomial standard error of ours, and ``acc_norm − published``
    (instruct where published, else base) in those standard errors.
    """
    if model not in PUBLISHED:
        raise KeyError(f"no published scores for {model!r}; known: {sorted(PUBLISHED)}")
    if "reasoning_norm" not in downstream:
        raise KeyError(
            "this evaluation record has no 'reasoning_norm' (length-normalised accuracy): it was "
            "made before that was kept; evaluate the model again"
        )
    pub = PUBLISHED[model]
    rows = []
    for row, tasks in _ROWS.items():
        if not all(t in downstream["reasoning"] for t in tasks):
            continue
        acc = 100 * sum(downstream["reasoning"][t] for t in tasks) / len(tasks)
        norm = 100 * sum(downstream["reasoning_norm"].get(t, downstream["reasoning"][t]) for t in tasks) / len(tasks)
        docs = sum(downstream["docs"].get(t, 0) for t in tasks)
        se = 100 * math.sqrt(max(norm / 100 * (1 - norm / 100), 1e-12) / docs) if docs else float("nan")
        ref = pub.instruct.get(row, pub.base[row])  # every compared row is on the base card
        rows.append(
            {
                "task": row,
                "docs": docs,
                "ours acc": acc,
                "ours acc_norm": norm,
                f"published ({pub.model})": pub.instruct.get(row, float("nan")),
                "published (base model)": pub.base.get(row, float("nan")),
                "standard error": se,
                "acc_norm − published (SE)": (norm - ref) / se,
            }
        )
    return pd.DataFrame(rows).set_index("task")
