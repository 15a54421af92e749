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


def sentence_bleus(hypotheses: list[str], references: list[str]) -> list[float]:
    """Sentence BLEU (sacrebleu, exponential smoothing) of each pair, scaled to 0–1."""
    import sacrebleu

    _check(hypotheses, references)
    return [sacrebleu.sentence_bleu(h, [r]).score / 100 for h, r in zip(hypotheses, references)]


def bleu(hypotheses: list[str], references: list[str]) -> float:
    """Mean sentence BLEU over pairs, 0–1."""
    return float(np.mean(sentence_bleus(hypotheses, references)))


def cosines(hypotheses: list[str], references: list[str]) -> list[float]:
    """Cosine similarity of each pair's all-MiniLM-L6-v2 embeddings."""
    _check(hypotheses, references)
    return [float(x) for x in np.sum(embed(hypotheses) * embed(references), axis=1)]


def cosine(hypotheses: list[str], references: list[str]) -> float:
    """Mean cosine similarity of the pairs' all-MiniLM-L6-v2 embeddings."""
    return float(np.mean(cosines(hypotheses, references)))
