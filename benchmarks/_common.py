"""Shared set-up for the benchmarks: the model, forget set 0, retain data and thresholds."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def testbed_problem(model_name: str = "testbed:default", draw: int = 0, heldout_rows: int = 128):
    from unlearnkit import models
    from unlearnkit.evaluation import memorisation

    loaded = models.load(model_name)
    forget = loaded.forget_set(draw)
    th = memorisation.thresholds(loaded.model, loaded.heldout(heldout_rows), model_key=loaded.key)
    return loaded, forget, loaded.retain(), th
