"""The results cache: one JSON record per computation, keyed by a hash of its config.

A chapter asks for ``cached("kind", config, compute)``; the first call computes and
writes ``cache_root()/results/<kind>/<hash>.json`` atomically, later calls read it.  An
interrupted build therefore resumes where it stopped.  Nothing here knows what a record
holds beyond the ``config`` it was made from.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable

from .cache import cache_root, config_hash, write_json_atomic


def results_dir() -> Path:
    return cache_root() / "results"


def record_path(kind: str, config: dict) -> Path:
    return results_dir() / kind / f"{config_hash(config)}.json"


def cached(kind: str, config: dict, compute: Callable[[], dict[str, Any]], refresh: bool = False) -> dict[str, Any]:
    """Return the record for ``(kind, config)``, computing and storing it if needed.

    The stored record is ``compute()`` plus ``cache_config`` (the ``config`` it is keyed by),
    ``kind`` and ``seconds`` (the time ``compute`` took).  A record file that cannot be parsed
    is recomputed, never trusted.
    """
    path = record_path(kind, config)
    if path.is_file() and not refresh:
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            pass
    start = time.perf_counter()
    record = dict(compute())
    record.update(kind=kind, cache_config=config, seconds=time.perf_counter() - start)
    write_json_atomic(path, record)
    return json.loads(path.read_text())
