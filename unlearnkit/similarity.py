"""Similarity of generated text to reference text: BLEU (sacrebleu) and embedding cosine.

The second paper's text says its copyright similarity is BLEU; its code computed the
cosine of sentence embeddings.  Both are reported, on a 0–1 scale, as means over pairs.
"""

from __future__ import annotations

import numpy as np

from .text_classifier import embed


def _check(hypotheses: list[str], references: list[str]) -> None:
    if len(hypotheses) != len(references):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(references)} references")
    if not hypotheses:
        raise ValueError("no text pairs to compare")


def bleu(hypotheses: list[str], references: list[str]) -> float:
    """Mean sentence BLEU (sacrebleu, exponential smoothing) over pairs, scaled to 0–1."""
    import sacrebleu

    _check(hypotheses, references)
    return float(np.mean([sacrebleu.sentence_bleu(h, [r]).score for h, r in zip(hypotheses, references)]) / 100)


def cosine(hypotheses: list[str], references: list[str]) -> float:
    """Mean cosine similarity of the pairs' all-MiniLM-L6-v2 embeddings."""
    _check(hypotheses, references)
    return float(np.mean(np.sum(embed(hypotheses) * embed(references), axis=1)))
