"""Experiments: run specs, the cached unlearning runs and grids, dispatch, ablations, verdicts.

* ``runs``: :class:`RunSpec`, :func:`run` (train + evaluate + cache one run), grids;
  its names are re-exported here (``experiments.run(spec)``);
* ``tables``: Table 1 and the other tables and prose facts from records (presentation only);
* ``figures``: the paper's Figure 3 from records (presentation only);
* ``dispatch``: run a grid inline, in local processes or as a SLURM array;
* ``ablation``: the rank and target-module sweeps and the compute view (Figures 2–4);
* ``curves``: per-epoch histories of fixed-budget runs (the gradient and FILA chapters);
* ``exact``: the exact-unlearning reference (the model rebuilt without a forget unit);
* ``fila_study``: the FILA chapter's analyses (importance maps, closed form vs EM, init check);
* ``claims``: verdicts on the main paper's claims C1–C7, from :mod:`unlearnkit.stats`; served
  by ``claim_rules`` (the claims' wording, minimum effects: stated before the data),
  ``endpoints`` (records to paired values and tests) and ``claim_tables`` (rows and tables).

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
    memorised_units,
    run,
    run_grid,
    table1_specs,
    thresholds,
    units,
    units_ma,
)
from .tables import (
    collateral_table,
    cost_figures,
    cost_table,
    forget_rows_text,
    per_task_table,
    provenance_text,
    rate_table,
    runs_table,
    table1,
    table1_facts,
)

__all__ = [
    "RECORD_VERSION",
    "THRESHOLD_SOURCES",
    "RunSpec",
    "before",
    "capability",
    "check_run_settings",
    "collateral_table",
    "cost_figures",
    "cost_table",
    "fixed_budget",
    "forget_ids",
    "forget_memorisation",
    "forget_rows_text",
    "forget_set_name",
    "load",
    "mean_forget_memorisation",
    "memorised_units",
    "per_task_table",
    "rate_table",
    "run",
    "run_grid",
    "runs_table",
    "table1",
    "provenance_text",
    "table1_facts",
    "table1_specs",
    "thresholds",
    "units",
    "units_ma",
]
