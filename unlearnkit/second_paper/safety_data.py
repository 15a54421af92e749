"""Harmful and benign question–answer data for the second paper (Gundavarapu et al. 2024).

Loads the shipped CSVs with row-level validation (an empty or malformed row is reported
with its file and line number, then skipped or rejected — never dropped silently):

* harmful pairs — the BeaverTails 140-row unsafe sample (``prompt, response``) and AdvBench
  behaviours (``goal, target``); AdvBench harmful strings (harmful text without a question);
* benign data — TruthfulQA v1 (question, best answer, correct and incorrect answers);
* random answers for yao3's L_rdn — TOFU retain-90 answers (fictitious authors), a source
  disjoint from the classifier's benign class, so that learning to give them cannot lower
  the harmful rate merely by sounding like the classifier's benign examples;

and splits them with a fixed seed into disjoint parts: one for training the harm
classifier, one the language model is fine-tuned on and then unlearns, one held out for
evaluation.  ``harmful_pairs(source="hub")`` reads PKU-SafeRLHF by name (network needed),
as the paper does.  This module knows data only; encoding for a model is :mod:`unlearnkit.second_paper.qa`.
"""

from __future__ import annotations

import csv
import random
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from ..data import DataFileError, data_file

BEAVERTAILS = "harmful_and_benign/beavertails_30k_train_sample140.csv"
ADVBENCH_BEHAVIOURS = "harmful_and_benign/advbench_harmful_behaviors.csv"
ADVBENCH_STRINGS = "harmful_and_benign/advbench_harmful_strings.csv"
TRUTHFULQA = "harmful_and_benign/TruthfulQA.csv"
TOFU_RETAIN = "tofu/retain90.json"
BAD_ROW_POLICIES = ("skip", "raise")


class BadRowsError(ValueError):
    """A CSV has empty or malformed rows and the policy is ``"raise"``."""


@dataclass
class CsvTable:
    """Rows of a CSV file that passed validation, and the ones that did not."""

    path: Path
    rows: list[dict[str, str]]
    bad: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)


def read_csv(path: str | Path, required: list[str], bad_rows: str = "skip") -> CsvTable:
    """Read a CSV with a header, keeping rows whose ``required`` columns are non-empty.

    A row with the wrong number of fields or an empty required field is *bad*: with
    ``bad_rows="skip"`` it is left out and a warning names the file and the line numbers;
    with ``"raise"`` a :class:`BadRowsError` lists them.  A missing required column is
    always an error naming the file and the columns it has.
    """
    if bad_rows not in BAD_ROW_POLICIES:
        raise ValueError(f"bad_rows must be one of {BAD_ROW_POLICIES}, got {bad_rows!r}")
    path = Path(path)
    rows, bad = [], []
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        try:
            header = next(reader)
        except StopIteration:
            raise BadRowsError(f"{path}: empty file (no header line)") from None
        missing = [c for c in required if c not in header]
        if missing:
            raise BadRowsError(f"{path}: missing column(s) {missing}; the header has {header}")
        index = {c: header.index(c) for c in header}
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as err:
                bad.append((reader.line_num, f"unparsable ({err})"))
                continue
            line = reader.line_num
            if not any(x.strip() for x in fields):
                bad.append((line, "empty row"))
            elif len(fields) != len(header):
                bad.append((line, f"{len(fields)} fields, header has {len(header)}"))
            else:
                row = {c: fields[i] for c, i in index.items()}
                empty = [c for c in required if not row[c].strip()]
                if empty:
                    bad.append((line, f"empty {', '.join(empty)}"))
                else:
                    rows.append(row)
    if bad:
        listing = "; ".join(f"line {n}: {why}" for n, why in bad[:20]) + (" …" if len(bad) > 20 else "")
        if bad_rows == "raise":
            raise BadRowsError(f"{path}: {len(bad)} bad row(s): {listing}")
        warnings.warn(f"{path}: skipped {len(bad)} bad row(s): {listing}", stacklevel=2)
    return CsvTable(path, rows, bad)


@dataclass(frozen=True)
class QAPair:
    question: str
    answer: str
    source: str


@dataclass(frozen=True)
class TruthfulItem:
    question: str
    best: str
    correct: tuple[str, ...]
    incorrect: tuple[str, ...]


def _split_answers(cell: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in cell.split(";") if a.strip())


def harmful_pairs(source: str = "local", bad_rows: str = "skip") -> list[QAPair]:
    """Harmful (question, answer) pairs: BeaverTails then AdvBench (``local``), or
    PKU-SafeRLHF's unsafe responses from the hub (``hub``, network needed)."""
    if source == "hub":
        return _pku_saferlhf()
    if source != "local":
        raise ValueError(f"source must be 'local' or 'hub', got {source!r}")
    beaver = read_csv(data_file(BEAVERTAILS), ["prompt", "response"], bad_rows)
    adv = read_csv(data_file(ADVBENCH_BEHAVIOURS), ["goal", "target"], bad_rows)
    pairs = [QAPair(r["prompt"].strip(), r["response"].strip(), "beavertails") for r in beaver.rows] + [
        QAPair(r["goal"].strip(), r["target"].strip(), "advbench") for r in adv.rows
    ]
    return _unique_answers(pairs)


def _unique_answers(pairs: list[QAPair]) -> list[QAPair]:
    """Keep the first pair of each answer text (AdvBench repeats 16 targets under different
    goals), so that splits by pair are also disjoint by answer."""
    seen, out = set(), []
    for p in pairs:
        if p.answer not in seen:
            seen.add(p.answer)
            out.append(p)
    return out


def harmful_strings(bad_rows: str = "skip") -> list[str]:
    """AdvBench's harmful strings (harmful text with no question)."""
    return [r["target"].strip() for r in read_csv(data_file(ADVBENCH_STRINGS), ["target"], bad_rows).rows]


def truthfulqa(bad_rows: str = "skip") -> list[TruthfulItem]:
    """TruthfulQA v1: question, best answer, correct and incorrect answers."""
    table = read_csv(
        data_file(TRUTHFULQA), ["Question", "Best Answer", "Correct Answers", "Incorrect Answers"], bad_rows
    )
    return [
        TruthfulItem(
            r["Question"].strip(),
            r["Best Answer"].strip(),
            _split_answers(r["Correct Answers"]),
            _split_answers(r["Incorrect Answers"]),
        )
        for r in table.rows
    ]


def tofu_answers(bad_rows: str = "skip") -> list[str]:
    """The answers of TOFU's retain-90 split (non-empty, in file order)."""
    from ..data import tofu_answer_rows

    path = data_file(TOFU_RETAIN)
    answers = tofu_answer_rows()
    empty = sum(not a for a in answers)
    if empty and bad_rows == "raise":
        raise BadRowsError(f"{path}: {empty} row(s) without an answer")
    if empty:
        warnings.warn(f"{path}: skipped {empty} row(s) without an answer", stacklevel=2)
    return [a for a in answers if a]


def _pku_saferlhf(split: str = "train", limit: int = 2000) -> list[QAPair]:
    try:
        from datasets import load_dataset

        ds = load_dataset("PKU-Alignment/PKU-SafeRLHF", split=split)
    except Exception as err:  # offline, or the hub's layout changed
        raise DataFileError(
            f"could not load PKU-Alignment/PKU-SafeRLHF from the hub ({err}); use source='local' to work offline"
        ) from err
    pairs = []
    for row in ds:
        for k in (0, 1):
            if not row.get(f"is_response_{k}_safe", True):
                pairs.append(QAPair(row["prompt"].strip(), row[f"response_{k}"].strip(), "pku_saferlhf"))
                break
        if len(pairs) >= limit:
            break
    return _unique_answers(pairs)


def split(items: list, fractions: dict[str, float], seed: int = 0) -> dict[str, list]:
    """Shuffle ``items`` with ``seed`` and cut them into disjoint named parts.

    ``fractions`` must sum to at most 1; parts get ``round(f * len)`` items in order, the
    last part whatever is left when the fractions sum to 1.
    """
    total = sum(fractions.values())
    if any(f < 0 for f in fractions.values()) or total > 1 + 1e-9:
        raise ValueError(f"fractions must be >= 0 and sum to at most 1, got {fractions}")
    order = list(items)
    random.Random(seed).shuffle(order)
    parts, start, names = {}, 0, list(fractions)
    for i, name in enumerate(names):
        stop = (
            len(order)
            if (i == len(names) - 1 and abs(total - 1) < 1e-9)
            else start + round(fractions[name] * len(order))
        )
        parts[name] = order[start:stop]
        start = stop
    return parts


@dataclass
class HarmfulData:
    """The harmful-response experiment's disjoint parts (see :func:`harmful_data`)."""

    classifier_harmful: list[str]  # harmful texts the classifier trains on
    classifier_benign: list[str]  # benign texts the classifier trains on
    test_harmful: list[str]  # held-out harmful answers (classifier test)
    test_benign: list[str]  # held-out benign answers (classifier test)
    train_pairs: list[QAPair]  # harmful pairs the model is fine-tuned on, then unlearns (forget set)
    eval_pairs: list[QAPair]  # held-out harmful prompts: harmful rate
    normal_train: list[TruthfulItem]  # benign pairs for fine-tuning, retain (KL) and random answers
    normal_eval: list[TruthfulItem]  # held-out benign prompts: similarity to the original, MC accuracy
    random_pool: list[str] = field(
        default_factory=list
    )  # yao3's random answers (TOFU: not the classifier's benign source)
    cross_fit_harmful: list[str] = field(default_factory=list)  # cross-source test: fit on one harmful source…
    cross_test_harmful: list[str] = field(default_factory=list)  # …test on the other one
    cross_test_benign: list[str] = field(default_factory=list)  # …and on a benign source never fitted (TOFU)


def harmful_data(
    seed: int = 0, source: str = "local", max_train: int | None = None, max_eval: int | None = None
) -> HarmfulData:
    """Disjoint splits: harmful pairs 1/3 classifier, 1/3 train (forget), 1/3 eval; TruthfulQA
    likewise.  AdvBench harmful strings go to the classifier's harmful side only.  TOFU answers
    (local source) are split in two: yao3's random answers, and the unseen benign source of the
    classifier's cross-source test, which is fitted on BeaverTails answers alone and tested on
    the AdvBench targets (the hub source has one harmful source: no cross-source test, and the
    random answers come from TruthfulQA as in the paper).

    ``max_train`` / ``max_eval`` cap the forget and evaluation sets (cpu profile)."""
    pairs = split(harmful_pairs(source), {"classifier": 1 / 3, "train": 1 / 3, "eval": 1 / 3}, seed)
    normal = split(truthfulqa(), {"classifier": 1 / 3, "train": 1 / 3, "eval": 1 / 3}, seed)
    cls_h, test_h = split(pairs["classifier"], {"fit": 0.8, "test": 0.2}, seed).values()
    cls_b, test_b = split(normal["classifier"], {"fit": 0.8, "test": 0.2}, seed).values()
    benign_texts = [a for item in cls_b for a in (item.best, *item.correct, *item.incorrect)]
    tofu = split(tofu_answers() if source == "local" else [], {"random": 0.5, "cross": 0.5}, seed)
    by_source = {}
    for p in cls_h + test_h:
        by_source.setdefault(p.source, []).append(p.answer)
    fit_source = "beavertails" if source == "local" else None
    return HarmfulData(
        classifier_harmful=[p.answer for p in cls_h] + (harmful_strings() if source == "local" else []),
        classifier_benign=benign_texts,
        test_harmful=[p.answer for p in test_h],
        test_benign=[item.best for item in test_b],
        train_pairs=pairs["train"][:max_train],
        eval_pairs=pairs["eval"][:max_eval],
        normal_train=normal["train"],
        normal_eval=normal["eval"][:max_eval],
        random_pool=tofu["random"] or [a for i in normal["train"] for a in (i.best, *i.correct)],
        cross_fit_harmful=by_source.get(fit_source, []),
        cross_test_harmful=[a for s, texts in by_source.items() if s != fit_source for a in texts],
        cross_test_benign=tofu["cross"][: len(test_b) * 4],  # a few times the in-source benign test: cheap to embed
    )
