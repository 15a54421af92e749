"""Dialogue tasks of Jang et al. (2023): prompts from conversation turns and unigram F1.

Each dialogue is a list of turns.  The model sees every turn but the last, written as
``"User 1: …\\nUser 2: …\\n…User k:"`` (speakers alternate, ``k`` is the speaker of the
missing turn), greedily generates at most 32 new tokens, cut at ``"\\nUser "``, and is
scored by SQuAD-style unigram F1 against the held-back last turn (lower-case, punctuation
and the articles a/an/the removed, whitespace collapsed).

This module only builds documents and scores strings; generation goes through lm-eval
(see :mod:`unlearnkit.evaluation.downstream`).
"""

from __future__ import annotations

import collections
import json
import re
import string
from pathlib import Path

DIALOGUE_TASKS = ("blended_skill_talk", "empathetic_dialogues", "wizard_of_internet", "wizard_of_wikipedia")
STOP = "\nUser "
MAX_NEW_TOKENS = 32

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower-case, drop punctuation, drop articles, collapse spaces."""
    text = "".join(ch for ch in text.lower() if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def f1_score(prediction: str, reference: str) -> float:
    """Unigram F1 between normalised token bags (SQuAD's ``f1_score``); 0 when either is empty."""
    pred, ref = normalize_answer(prediction).split(), normalize_answer(reference).split()
    common = collections.Counter(pred) & collections.Counter(ref)
    overlap = sum(common.values())
    if overlap == 0:
        return 0.0
    precision, recall = overlap / len(pred), overlap / len(ref)
    return 2 * precision * recall / (precision + recall)


def prompt(turns: list[str]) -> str:
    """The prompt for predicting ``turns[-1]`` from ``turns[:-1]``."""
    if len(turns) < 2:
        raise ValueError(f"a dialogue needs at least two turns, got {len(turns)}")
    lines = [f"User {i % 2 + 1}: {t.strip()}" for i, t in enumerate(turns[:-1])]
    return "\n".join(lines) + f"\nUser {(len(turns) - 1) % 2 + 1}:"


def cut(generation: str) -> str:
    """The generated reply up to the next speaker tag."""
    return generation.split(STOP)[0].strip()


def documents(path: Path) -> list[dict]:
    """``{"prompt", "target"}`` documents from one of Jang et al.'s validation JSON files.

    The files hold ``{"text": {"0": [turn, …], …}}``; dialogues with fewer than two turns
    are skipped.
    """
    try:
        table = json.loads(Path(path).read_text())["text"]
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as err:
        raise ValueError(f"{path}: not a dialogue file with a 'text' table ({err})") from err
    docs = []
    for key in sorted(table, key=int):
        turns = [t for t in table[key] if isinstance(t, str) and t.strip()]
        if len(turns) >= 2:
            docs.append({"prompt": prompt(turns), "target": turns[-1].strip()})
    return docs


def process_results(doc: dict, results: list[str]) -> dict[str, float]:
    """lm-eval hook: F1 of the (cut) generation against the document's target."""
    return {"f1": f1_score(cut(results[0]), doc["target"])}
