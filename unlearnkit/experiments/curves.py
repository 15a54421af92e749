"""Unlearning curves: the per-epoch history of fixed-budget runs as a table, and when each
curve first crosses a threshold (the gradient and FILA chapters' figures).

The runs are :func:`unlearnkit.experiments.fixed_budget` (cached); this module only tabulates.
"""

from __future__ import annotations

import pandas as pd

from . import runs


def training_curves(
    model_name: str,
    draw: int,
    variants: dict[str, tuple[str, str | None]],
    epochs: int,
    lr: float,
    forget_rows: int | None = None,
    label: str = "variant",
) -> pd.DataFrame:
    """Per-epoch history of fixed-budget runs (:func:`unlearnkit.experiments.fixed_budget`), one
    per ``{label value: (method, LoRA init or None)}``: epoch, loss, MA, forget and retain NLL."""
    rows = []
    for name, (method, init) in variants.items():
        rec = runs.fixed_budget(model_name, draw, method, epochs, lr, lora_init=init, forget_rows=forget_rows)
        rows += [
            {
                label: name,
                "epoch": h.epoch,
                "loss": h.loss,
                "MA": h.ma,
                "forget NLL": h.get("forget_nll"),
                "retain NLL": h.get("retain_nll"),
            }
            for h in rec.history
        ]
    return pd.DataFrame(rows)


def first_epoch_below(curves: pd.DataFrame, by: str, threshold: float, column: str = "MA") -> dict[str, int | None]:
    """For each group of ``curves`` the first epoch whose ``column`` is below ``threshold``
    (``None`` if none within the budget)."""
    out = {}
    for name, g in curves.groupby(by, sort=False):
        below = g[g[column] < threshold]
        out[name] = int(below.epoch.min()) if len(below) else None
    return out
