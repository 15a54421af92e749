"""Experiments: run specs, the cached unlearning runs and grids, dispatch, ablations, verdicts.

* ``runs``: :class:`RunSpec`, :func:`run` (train + evaluate + cache one run), grids, Table 1;
  its names are re-exported here (``experiments.run(spec)``);
* ``dispatch``: run a grid inline, in local processes or as a SLURM array;
* ``ablation``: the rank and target-module sweeps and the compute view (Figures 2–4);
* ``claims``: verdicts on the main paper's claims C1–C7, from :mod:`unlearnkit.stats`.

Experiments orchestrate and judge; the loop is :mod:`unlearnkit.trainer`, the measures are
in :mod:`unlearnkit.metrics` and :mod:`unlearnkit.evaluation`.
"""

from .runs import (RECORD_VERSION, TABLE1_METHODS, RunSpec, before, fixed_budget, forget_ids,
                   forget_memorisation, forget_rows_text, forget_set_name, load, run, run_grid, table1,
                   thresholds)

__all__ = ["RECORD_VERSION", "TABLE1_METHODS", "RunSpec", "before", "fixed_budget", "forget_ids",
           "forget_memorisation", "forget_rows_text", "forget_set_name", "load", "run", "run_grid", "table1",
           "thresholds"]
