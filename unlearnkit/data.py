"""Shipped data: locating, checksum-verifying and loading the files in ``data/``.

Every file the project reads lives in ``data/`` with a row in ``data/MANIFEST.tsv``
(source repository, commit, licence, sha256).  Every loader here goes through
:func:`data_file`, which verifies the sha256 on first use and raises
:class:`DataFileError` naming the file when it is missing or modified.

This module knows the raw formats (TDEC ``.npy`` token arrays, Jang et al.'s forget-set
CSVs, WikiText, the Pile sample).  It does *not* know about models: turning TDEC rows into
a particular tokenizer's ids is :func:`encode_tdec`, the only place a tokenizer appears.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

TDEC_LENGTH = 200  # tokens per TDEC sequence: 100 pre-prefix + 50 prefix + 50 suffix
FORGET_SET_SIZES = (1, 4, 8, 32, 128)
FORGET_SET_DRAWS = 5
# Five more whole 32-row forget sets, draws 5 … 9, for a second, independent source of units
# (issue 46): Jang et al.'s 128-row draws hold their 32-row draw of the same number and 96 rows
# more; draw 5 + d is the first 32 rows of ``lm_extraction_128_<d>``, in file order, that are in
# no 32-row draw and in no 128-row draw before it (the five 128-row draws share 9 rows).  Text
# disjoint from draws 0 … 4 and from each other, of the same kind and source (TDEC train rows).
EXTRA_DRAWS = 5
ALL_DRAWS = FORGET_SET_DRAWS + EXTRA_DRAWS


class DataFileError(RuntimeError):
    """A shipped data file is missing, modified, or not listed in the manifest."""


def data_dir() -> Path:
    """The data folder: ``$UNLEARNKIT_DATA`` if set, else ``data/`` at the repository root."""
    env = os.environ.get("UNLEARNKIT_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[1] / "data"


@functools.cache
def manifest() -> dict[str, dict[str, str]]:
    """Rows of ``data/MANIFEST.tsv`` keyed by the path relative to the data folder."""
    path = data_dir() / "MANIFEST.tsv"
    if not path.is_file():
        raise DataFileError(f"data manifest not found: {path}")
    with path.open(newline="") as fh:
        return {row["path"]: row for row in csv.DictReader(fh, delimiter="\t")}


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


_verified: dict[tuple[str, int, int], bool] = {}


def data_file(relpath: str) -> Path:
    """Path of a shipped data file, after checking it against the manifest.

    Args:
        relpath: path relative to the data folder, e.g. ``"tdec/train_prefix.npy"``.

    Raises:
        DataFileError: the file is not in the manifest, is missing, or its sha256 differs.
    """
    rows = manifest()
    if relpath not in rows:
        raise DataFileError(f"{relpath!r} is not listed in {data_dir() / 'MANIFEST.tsv'}")
    path = data_dir() / relpath
    if not path.is_file():
        raise DataFileError(f"shipped data file is missing: {path}")
    stat = path.stat()
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        expected = rows[relpath]["sha256"]
        actual = sha256_of(path)
        if actual != expected:
            raise DataFileError(f"shipped data file was modified: {path} (sha256 {actual}, manifest says {expected})")
        _verified[key] = True
    return path


# ---------------------------------------------------------------------------- TDEC


@functools.cache
def tdec_sequences(split: str = "train") -> np.ndarray:
    """TDEC token ids (GPT-2/GPT-Neo vocabulary), shape ``(N, 200)``, dtype uint16.

    Rebuilt as ``concat(preprefix, prefix, suffix)`` exactly as the official
    ``train_dataset.npy`` (not shipped) was made; ``split`` is ``"train"`` (15,000 rows)
    or ``"val"`` (1,000 rows).
    """
    if split not in ("train", "val"):
        raise ValueError(f"TDEC split must be 'train' or 'val', got {split!r}")
    parts = [np.load(data_file(f"tdec/{split}_{p}.npy")) for p in ("preprefix", "prefix", "suffix")]
    out = np.concatenate(parts, axis=1)
    out.setflags(write=False)
    return out


@dataclass(frozen=True)
class ForgetSet:
    """One of Jang et al.'s forget-set draws: ``lm_extraction_{size}_{draw}.csv``."""

    name: str
    doc_ids: tuple[int, ...]  # row indices into the TDEC train split
    corpus: tuple[str, ...]  # Pile subset of each row

    def token_ids(self) -> np.ndarray:
        """The rows' TDEC (GPT-2 vocabulary) ids, shape ``(len(self), 200)``."""
        return tdec_sequences("train")[list(self.doc_ids)]

    def __len__(self) -> int:
        return len(self.doc_ids)


def forget_set(size: int = 32, draw: int = 0) -> ForgetSet:
    """Load forget set ``lm_extraction_{size}_{draw}`` mapped to TDEC rows via ``doc_id``; for
    ``size=32``, draws 5 … 9 are the extra sets of :data:`EXTRA_DRAWS` (:func:`extra_forget_set`)."""
    if size not in FORGET_SET_SIZES:
        raise ValueError(f"forget-set size must be one of {FORGET_SET_SIZES}, got {size}")
    if size == 32 and draw in range(FORGET_SET_DRAWS, ALL_DRAWS):
        return extra_forget_set(draw)
    if draw not in range(FORGET_SET_DRAWS):
        top = ALL_DRAWS - 1 if size == 32 else FORGET_SET_DRAWS - 1
        raise ValueError(f"forget-set draw of size {size} must be in 0..{top}, got {draw}")
    name = f"lm_extraction_{size}_{draw}"
    df = pd.read_csv(data_file(f"knowledge_unlearning/main/{name}.csv"), lineterminator="\n")
    return ForgetSet(name, tuple(int(i) for i in df["doc_id"]), tuple(df["corpus"]))


@functools.cache
def extra_forget_set(draw: int) -> ForgetSet:
    """Extra 32-row forget set ``draw`` (5 … 9, :data:`EXTRA_DRAWS`): the first 32 rows of
    ``lm_extraction_128_<draw - 5>`` in no 32-row draw and in no earlier 128-row draw."""
    if draw not in range(FORGET_SET_DRAWS, ALL_DRAWS):
        raise ValueError(f"extra forget-set draw must be in {FORGET_SET_DRAWS}..{ALL_DRAWS - 1}, got {draw}")
    taken = {i for d in range(FORGET_SET_DRAWS) for i in forget_set(32, d).doc_ids}
    for d in range(draw - FORGET_SET_DRAWS):
        taken |= set(forget_set(128, d).doc_ids)
    source = forget_set(128, draw - FORGET_SET_DRAWS)
    rows = [(i, c) for i, c in zip(source.doc_ids, source.corpus) if i not in taken][:32]
    if len(rows) < 32:
        raise ValueError(f"{source.name} has only {len(rows)} rows outside the earlier forget sets; 32 needed")
    name = f"{source.name}-rest[:32]"
    return ForgetSet(name, tuple(i for i, _ in rows), tuple(c for _, c in rows))


@functools.lru_cache(maxsize=1)
def gpt2_tokenizer():
    """The GPT-2 / GPT-Neo tokenizer (50,257 tokens) from the shipped ``tokenizer.json``."""
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(
        tokenizer_file=str(data_file("tokenizer_gpt2/tokenizer.json")),
        eos_token="<|endoftext|>",
        bos_token="<|endoftext|>",
        unk_token="<|endoftext|>",
        clean_up_tokenization_spaces=False,
    )
    return tok


def decode_tdec(rows: np.ndarray) -> list[str]:
    """Text of TDEC rows (GPT-2 ids), without any clean-up of tokenization spaces."""
    tok = gpt2_tokenizer()
    return [tok.decode(r.tolist(), clean_up_tokenization_spaces=False) for r in np.atleast_2d(rows)]


def is_gpt2_vocabulary(tokenizer) -> bool:
    """True if ``tokenizer`` maps ids exactly like GPT-2 (so TDEC ids can be used as they are)."""
    ref = gpt2_tokenizer()
    if len(tokenizer) != len(ref):
        return False
    probe = " Hello world, the Pile!\n\tdef f(x): return x"
    return tokenizer.encode(probe) == ref.encode(probe)


def encode_tdec(rows: np.ndarray, tokenizer, length: int = TDEC_LENGTH, short: str = "raise") -> np.ndarray:
    """TDEC rows as ``tokenizer``'s ids, ``(N, length)`` int64.

    For a GPT-2-vocabulary tokenizer (GPT-Neo, GPT-2) the shipped ids are used as they are.
    Otherwise each row is decoded to text and re-encoded, keeping the first ``length`` tokens.
    A row that encodes to fewer tokens raises ``ValueError`` naming the row (``short="raise"``,
    for sets whose rows are fixed, like a forget set) or is left out (``short="skip"``, for
    pools such as held-out or general rows; fewer than ``N`` rows come back).
    """
    if short not in ("raise", "skip"):
        raise ValueError(f"short must be 'raise' or 'skip', got {short!r}")
    rows = np.atleast_2d(rows)
    if is_gpt2_vocabulary(tokenizer) and rows.shape[1] >= length:
        return rows[:, :length].astype(np.int64)
    out = []
    for k, text in enumerate(decode_tdec(rows)):
        ids = tokenizer.encode(text, add_special_tokens=False)
        if len(ids) < length:
            if short == "skip":
                continue
            raise ValueError(
                f"TDEC row {k} encodes to {len(ids)} < {length} tokens with this tokenizer; "
                f"a shorter fixed length is needed (see OfflineModel.tdec_length)"
            )
        out.append(ids[:length])
    return np.asarray(out, dtype=np.int64).reshape(len(out), length)


# ---------------------------------------------------------------------- general text


def tofu_answer_rows(path: str = "tofu/retain90.json") -> list[str]:
    """The ``answer`` of every row of TOFU's retain-90 split, stripped, in file order (empty
    strings kept: callers choose what to do with them)."""
    import json

    file = data_file(path)
    try:
        rows = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise DataFileError(f"{file}: not valid JSON ({err})") from err
    return [str(r.get("answer", "")).strip() for r in rows if isinstance(r, dict)]


def pile_sample() -> pd.DataFrame:
    """Jang et al.'s Pile validation-style sample: 1,500 documents (``doc_id, text, corpus``)."""
    return pd.read_csv(data_file("knowledge_unlearning/validation_data/pile.csv"), lineterminator="\n")


def wikitext_raw_chunks() -> list[str]:
    """500 raw WikiText validation chunks (~2.3k characters each), Jang et al.'s eval copy."""
    df = pd.read_csv(data_file("knowledge_unlearning/validation_data/wikitext.csv"), lineterminator="\n")
    return [t for t in df["text"].astype(str)]


def wikitext2(split: str = "test") -> list[str]:
    """WikiText-2 (tokenized version, ``<unk>`` kept) articles of ``split`` ('test' or 'valid').

    Articles are split at top-level headings (lines ``= Title =``).
    """
    if split not in ("test", "valid"):
        raise ValueError(f"WikiText-2 split must be 'test' or 'valid', got {split!r}")
    lines = data_file(f"wikitext/wikitext-2_{split}.txt").read_text(encoding="utf-8").splitlines()
    articles, current = [], []
    for line in lines:
        s = line.strip()
        if s.startswith("= ") and s.endswith(" =") and not s.startswith("= ="):
            if current:
                articles.append("\n".join(current).strip())
            current = []
        current.append(line)
    if current:
        articles.append("\n".join(current).strip())
    return [a for a in articles if a]
