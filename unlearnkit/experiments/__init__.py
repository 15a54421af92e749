"""Experiments: run specs, the cached unlearning runs and grids, dispatch, ablations, verdicts.

* ``runs``: :class:`RunSpec`, :func:`run` (train + evaluate + cache one run), grids;
  its names are re-exported here (``experiments.run(spec)``);
* ``tables``: Table 1 and the other tables and prose facts from records (presentation only);
* ``dispatch``: run a grid inline, in local processes or as a SLURM array;
* ``ablation``: the rank and target-module sweeps and the compute view (Figures 2–4);
* ``curves``: per-epoch histories of fixed-budget runs (the gradient and FILA chapters);
* ``exact``: the exact-unlearning reference (the testbed retrained without a forget set);
* ``fila_study``: the FILA chapter's analyses (importance maps, closed form vs EM, init check);
* ``claims``: verdicts on the main paper's claims C1–C7, from :mod:`unlearnkit.stats`.

Experiments orchestrate and judge; the loop is :mod:`unlearnkit.trainer`, the measures are
in :mod:`unlearnkit.metrics` and :mod:`unlearnkit.evaluation`.
"""

from .runs import (
    RECORD_VERSION,
    THRESHOLD_SOURCES,
    RunSpec,
    before,
    capability,
    check_run_settings,
    fixed_budget,
    forget_ids,
    forget_memorisation,
    forget_set_name,
    load,
    mean_forget_memorisation,
    run,
    run_grid,
    table1_specs,
    thresholds,
)
from .tables import forget_rows_text, per_task_table, rate_table, runs_table, table1, table1_facts

__all__ = [
    "RECORD_VERSION",
    "THRESHOLD_SOURCES",
    "RunSpec",
    "before",
    "capability",
    "check_run_settings",
    "fixed_budget",
    "forget_ids",
    "forget_memorisation",
    "forget_rows_text",
    "forget_set_name",
    "load",
    "mean_forget_memorisation",
    "per_task_table",
    "rate_table",
    "run",
    "run_grid",
    "runs_table",
    "table1",
    "table1_facts",
    "table1_specs",
    "thresholds",
]
