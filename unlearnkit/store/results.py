"""The results cache: one JSON record per computation, keyed by its config and its code.

A chapter asks for ``cached("kind", config, compute, code="unlearnkit.experiments.runs")``; the
first call computes and writes ``cache_root()/results/<kind>/<hash>.json`` atomically, later
calls read it.  The hash covers ``config`` and the digest of the code that computes the record
(:func:`unlearnkit.store.codehash.code_digest` of ``code`` and everything of the package it imports),
so a change to a loss, the trainer, a metric or an evaluation is a cache miss, with no
constant to bump, while a change to a notebook, a docstring or the book builder is not.  An
interrupted build resumes where it stopped.  Nothing here knows what a record holds beyond
the ``config`` it was made from.

**Recorded in the repository.**  The cache lives on one machine; machines are replaced and
long grids outlive them.  So every record is also looked up in the repository's
``results/<profile>/records/<kind>/<hash>.json`` (any profile's: the hash is the whole key),
and, while ``$UNLEARNKIT_RECORDS`` names such a folder (the book builder sets it for
profiles with ``record_runs: true``), every record computed or found in the cache is written
there too, atomically, the moment its computation ends.  Committed, those files let a fresh
clone resume a grid where the last machine stopped.  A record there that cannot be parsed, or
whose content is not the key its name says, is moved aside (``*.corrupt``, never used, never
deleted) with a warning naming the file, and recomputed.  :func:`local_only` turns the
repository off for a block (a spot check must recompute, not read its own record back);
:func:`read_only` turns computing off (a table assembled from recorded runs must not start a
grid): a record that is neither cached nor recorded raises :class:`NotRecorded`.

Each record computed while recording also says where it was made (``made``: commit, machine,
date; :mod:`unlearnkit.store.origin`), which is not part of its key.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import codehash
from .cache import cache_root, config_hash, write_json_atomic

RECORDS_ENV = "UNLEARNKIT_RECORDS"  # the folder computed records are also written to
RESULTS_ENV = "UNLEARNKIT_RESULTS"  # the repository's results/ (the tests use a temporary one)
REPOSITORY = Path(__file__).resolve().parents[2]
_LOCAL_ONLY = [False]
_READ_ONLY = [False]


class NotRecorded(LookupError):
    """A record asked for inside :func:`read_only` that is neither cached nor recorded."""


def results_dir() -> Path:
    return cache_root() / "results"


def repository_results() -> Path:
    """The repository's recorded-results folder: ``$UNLEARNKIT_RESULTS`` if set, else ``results/``."""
    return Path(os.environ.get(RESULTS_ENV) or REPOSITORY / "results")


def records_dir() -> Path | None:
    """Where computed records are also written (``$UNLEARNKIT_RECORDS``), or None."""
    raw = os.environ.get(RECORDS_ENV)
    return Path(raw) if raw else None


@contextlib.contextmanager
def local_only():
    """Within the block, records come from this machine's cache or are computed: the
    repository's recorded ones are neither read nor written."""
    _LOCAL_ONLY.append(True)
    try:
        yield
    finally:
        _LOCAL_ONLY.pop()


@contextlib.contextmanager
def read_only():
    """Within the block, records come from the cache or the repository, or :class:`NotRecorded`
    is raised: nothing is computed."""
    _READ_ONLY.append(True)
    try:
        yield
    finally:
        _READ_ONLY.pop()


def _set_aside(path: Path, why: str) -> None:
    aside = path.with_name(path.name + ".corrupt")
    os.replace(path, aside)
    warnings.warn(f"{path}: {why}; moved aside to {aside.name} (never used) and recomputing", stacklevel=3)


def _recorded(kind: str, name: str, full: dict) -> dict | None:
    """The record ``<kind>/<name>`` from any profile's ``records`` folder in the repository,
    checked against the key ``full`` its name stands for; None when there is none."""
    root = repository_results()
    candidates = [records_dir()] if records_dir() else []
    candidates += sorted(root.glob("*/records")) if root.is_dir() else []
    for folder in candidates:
        path = folder / kind / name
        if not path.is_file():
            continue
        try:
            record = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            _set_aside(path, f"not a readable record ({err.__class__.__name__}: {err})")
            continue
        same_key = isinstance(record, dict) and config_hash(record.get("cache_config")) == config_hash(full)
        if not same_key or record.get("kind") != kind:
            _set_aside(path, f"its content is not the {kind!r} record its name {name} stands for")
            continue
        return record
    return None


def _made() -> dict:
    """Where and when a recorded record was computed (commit of the code, machine, UTC date)."""
    from . import origin

    return {
        "commit": origin.commit(ignore=("results/",)),
        "machine": origin.machine(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


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
    name = f"{config_hash(full)}.json"
    path = results_dir() / kind / name
    repository = not _LOCAL_ONLY[-1]
    recording = repository and records_dir() is not None  # also written to the repository's records
    record = None
    if path.is_file() and not refresh:
        try:
            record = json.loads(path.read_text())
        except json.JSONDecodeError:
            pass
    if record is None and repository and not refresh:
        record = _recorded(kind, name, full)
        if record is not None:
            write_json_atomic(path, record)  # this machine's cache has it from now on
    if record is not None:
        if recording and not (records_dir() / kind / name).is_file():
            write_json_atomic(records_dir() / kind / name, record)  # made here before recording began
        return record
    if _READ_ONLY[-1]:
        raise NotRecorded(f"no {kind!r} record {name} in the cache or under {repository_results()}")
    start = time.perf_counter()
    record = dict(compute())
    record.update(
        kind=kind,
        cache_config=full,
        seconds=time.perf_counter() - start,
        code={"digest": full["code"], "modules": codehash.module_digests(*_modules(code))},
    )
    if recording:
        record["made"] = _made()
    write_json_atomic(path, record)
    if recording:
        write_json_atomic(records_dir() / kind / name, record)  # recorded the moment it ends
    return json.loads(path.read_text())
