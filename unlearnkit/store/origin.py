"""Where a result was made: the commit of the working tree and a one-line machine description.

Shared by the Measured page's records (:mod:`unlearnkit.book.measured`) and the recorded
real-model results (:mod:`unlearnkit.experiments.recorded`). It computes no result and keys no
cache.
"""

from __future__ import annotations

import os
import platform
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _git(*args: str, root: Path = ROOT) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return out.stdout.rstrip() if out.returncode == 0 else None  # rstrip: porcelain lines start with a space


def commit(root: Path = ROOT, ignore: tuple[str, ...] = ()) -> str:
    """The short commit the working tree at ``root`` is at, with ``+dirty`` when it has
    uncommitted changes to tracked files outside the paths starting with ``ignore`` (the
    records being written); ``unknown`` outside a git checkout."""
    head = _git("rev-parse", "--short", "HEAD", root=root)
    if head is None:
        return "unknown"
    status = _git("status", "--porcelain", "--untracked-files=no", root=root) or ""
    dirty = [line for line in status.splitlines() if not line[3:].startswith(ignore)]
    return head + ("+dirty" if dirty else "")


def last_commit(path: Path, root: Path = ROOT) -> str | None:
    """``"<short hash> (<date>)"`` of the last commit that touched ``path``; None when none did
    (or outside a git checkout)."""
    here = Path(path) if Path(path).is_dir() else root  # the checkout that holds ``path``
    return _git("log", "-1", "--format=%h (%cs)", "--", str(path), root=here) or None


def machine() -> str:
    """A one-line description of the machine: cores, memory, GPU, processor, OS."""
    mem = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        mem = f", {pages * size / 2**30:.0f} GiB"
    except (ValueError, OSError, AttributeError):
        pass
    gpu = ""
    try:
        import torch

        if torch.cuda.is_available():
            gpu = f", {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return f"{os.cpu_count()} cores{mem}{gpu}, {platform.machine()}, {platform.system()} {platform.release()}"
