"""Run a grid of independent unlearning runs here, in local worker processes, or on SLURM.

A grid is a list of :class:`unlearnkit.experiments.RunSpec`; each run writes one record into
the results cache (atomically, keyed by its spec), so the same grid can be computed by any
mix of backends and machines sharing the cache folder, and a chapter that later calls
:func:`unlearnkit.experiments.run_grid` on it only reads the records.

Backends of :func:`run_specs`:

* ``"inline"``: one after the other in this process (what the chapters do);
* ``"processes"``: a pool of local worker processes (``spawn``), each limited to
  ``threads`` CPU threads — for a machine with several GPUs or many cores;
* ``"submitit"``: a SLURM job array through submitit (``slurm`` holds the executor's
  parameters, e.g. ``{"slurm_partition": "gpu", "gpus_per_node": 1, "timeout_min": 60}``);
  ``cluster="debug"`` runs the same path in this process, which the tests use.

This module schedules; what a run does is in :mod:`unlearnkit.experiments`.
"""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

from ..store.cache import cache_root

BACKENDS = ("inline", "processes", "submitit")


def _run_one(spec: dict, cache_dir: str, threads: int | None = None, records: dict | None = None) -> dict:
    """Worker entry point: run one spec (a plain dict) into the cache at ``cache_dir``, and (``records``:
    the caller's ``$UNLEARNKIT_RECORDS`` and ``$UNLEARNKIT_RESULTS``) record it where the caller would."""
    os.environ["UNLEARNKIT_CACHE"] = cache_dir
    for key, value in (records or {}).items():
        os.environ[key] = value
    if threads:
        import torch

        torch.set_num_threads(threads)
    from .runs import RunSpec, run

    spec = dict(spec)
    spec["targets"] = tuple(spec.get("targets", ()))
    return run(RunSpec(**spec), progress=False)


def run_specs(
    specs,
    backend: str = "inline",
    workers: int = 2,
    threads: int | None = None,
    folder: str | Path | None = None,
    slurm: dict | None = None,
    cluster: str | None = None,
    progress: bool = True,
) -> list[dict]:
    """Run every spec with ``backend``; return their records in the order of ``specs``.

    Records already in the cache are returned without running anything, whichever backend.
    """
    from .runs import run_grid

    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    specs = list(specs)
    if backend == "inline":
        return run_grid(specs, progress=progress)
    cache_dir = str(cache_root())
    dicts = [dataclasses.asdict(s) for s in specs]
    from ..store import results

    records = {k: os.environ[k] for k in (results.RECORDS_ENV, results.RESULTS_ENV) if os.environ.get(k)}
    if backend == "processes":
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers}")
        threads = threads or max(1, (os.cpu_count() or 1) // workers)
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            futures = [pool.submit(_run_one, d, cache_dir, threads, records) for d in dicts]
            return [f.result() for f in futures]
    try:
        import submitit
    except ImportError as err:  # pragma: no cover - submitit is a declared dependency
        raise ImportError("backend 'submitit' needs the submitit package (pip install submitit)") from err
    folder = Path(folder or cache_root() / "submitit")
    executor = submitit.AutoExecutor(folder=str(folder), cluster=cluster)
    if slurm:
        executor.update_parameters(**slurm)
    n = len(dicts)
    jobs = executor.map_array(_run_one, dicts, [cache_dir] * n, [threads] * n, [records] * n)
    return [job.result() for job in jobs]
