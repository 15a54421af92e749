"""The results cache: one JSON record per computation, keyed by its config and its code.

A chapter asks for ``cached("kind", config, compute, code="unlearnkit.experiments.runs")``; the
first call computes and writes ``cache_root()/results/<kind>/<hash>.json`` atomically, later
calls read it.  The hash covers ``config`` and the digest of the code that computes the record
(:func:`unlearnkit.store.codehash.code_digest` of ``code`` and everything of the package it imports),
so a change to a loss, the trainer, a metric or an evaluation is a cache miss, with no
constant to bump, while a change to a notebook, a docstring or the book builder is not.  An
interrupted build resumes where it stopped.  Nothing here knows what a record holds beyond
the ``config`` it was made from.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import codehash
from .cache import cache_root, config_hash, write_json_atomic


def results_dir() -> Path:
    return cache_root() / "results"


def _modules(code: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (code,) if isinstance(code, str) else tuple(code)


def keyed(config: dict, code: str | tuple[str, ...]) -> dict:
    """``config`` with the digest of the code that computes it added (what a cache key hashes)."""
    return dict(config) | {"code": codehash.code_digest(*_modules(code))}


def record_path(kind: str, config: dict, code: str | tuple[str, ...]) -> Path:
    return results_dir() / kind / f"{config_hash(keyed(config, code))}.json"


def cached(
    kind: str,
    config: dict,
    compute: Callable[[], dict[str, Any]],
    *,
    code: str | tuple[str, ...],
    refresh: bool = False,
) -> dict[str, Any]:
    """Return the record for ``(kind, config, code)``, computing and storing it if needed.

    ``code``: the module (or modules) that computes the record; its import closure's digest
    is part of the key.  The stored record is ``compute()`` plus ``cache_config`` (``config``
    with that digest), ``kind``, ``seconds`` (the time ``compute`` took) and ``code``
    (the digest of each module of the closure, so a stale copy can say what changed).  A
    record file that cannot be parsed is recomputed, never trusted.
    """
    full = keyed(config, code)
    path = results_dir() / kind / f"{config_hash(full)}.json"
    if path.is_file() and not refresh:
        try:
            return json.loads(path.read_text())
        except json.JSONDecodeError:
            pass
    start = time.perf_counter()
    record = dict(compute())
    record.update(
        kind=kind,
        cache_config=full,
        seconds=time.perf_counter() - start,
        code={"digest": full["code"], "modules": codehash.module_digests(*_modules(code))},
    )
    write_json_atomic(path, record)
    return json.loads(path.read_text())
