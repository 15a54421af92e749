"""Figures drawn from run records: Cha et al.'s Figure 3 (capability per method, per unit).

Presentation only: nothing here trains, evaluates or caches (so, like
:mod:`unlearnkit.experiments.tables`, editing a figure never changes a cache key).
"""

from __future__ import annotations

import numpy as np

from ..records import RunRecord

# (record field, axis label, scale): the capability measures of the paper's Figure 3
FIGURE3_MEASURES = (
    ("reasoning", "Reasoning (mean acc., %)", 100.0),
    ("dialogue", "Dialogue (mean F1, %)", 100.0),
    ("pile_ppl", "Pile perplexity (log scale)", 1.0),
)


def figure3(groups: dict[str, list[RunRecord]], before: dict, title: str = ""):
    """The paper's Figure 3 for one model: per capability measure, one column per method,
    one point per unit (a run that met the criterion as a dot, a failed run as a cross, at
    the capability it ended with), the mean over the successful units as a short line, and
    the model before unlearning as a dashed line.  Returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    names = list(groups)
    fig, axes = plt.subplots(1, len(FIGURE3_MEASURES), figsize=(4.2 * len(FIGURE3_MEASURES), 3.6), squeeze=False)
    rng = np.random.default_rng(0)  # horizontal jitter only, so overlapping units stay visible
    for ax, (key, label, scale) in zip(axes[0], FIGURE3_MEASURES):
        for i, name in enumerate(names):
            ok = [scale * getattr(r, key) for r in groups[name] if r.succeeded and getattr(r, key) is not None]
            bad = [scale * getattr(r, key) for r in groups[name] if not r.succeeded and getattr(r, key) is not None]
            if ok:
                ax.scatter(i + rng.uniform(-0.12, 0.12, len(ok)), ok, s=18, color="C0", zorder=3)
                ax.hlines(np.mean(ok), i - 0.3, i + 0.3, color="C0", lw=2, zorder=4)
            if bad:
                ax.scatter(i + rng.uniform(-0.12, 0.12, len(bad)), bad, marker="x", s=24, color="C3", zorder=3)
        if before.get(key) is not None:
            ax.axhline(scale * before[key], color="0.3", ls="--", lw=1)
        if key == "pile_ppl":
            ax.set_yscale("log")
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_ylabel(label)
        ax.grid(axis="y", alpha=0.3)
    handles = [
        plt.Line2D([], [], marker="o", ls="", color="C0", label="unit, criterion met"),
        plt.Line2D([], [], marker="x", ls="", color="C3", label="unit, failed (end of budget)"),
        plt.Line2D([], [], color="C0", lw=2, label="mean over met units"),
        plt.Line2D([], [], color="0.3", ls="--", lw=1, label="before unlearning"),
    ]
    fig.legend(handles=handles, loc="lower center", ncol=4, frameon=False, bbox_to_anchor=(0.5, -0.02))
    if title:
        fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def tradeoff(groups: dict[str, list[RunRecord]], probe_before: float | None = None, threshold_ma: float | None = None):
    """Forgetting against capability, epoch by epoch: per method, each unit's path through
    (MA on the forget unit, log Pile perplexity of the per-epoch probe), thin; the end of a run
    that met the criterion a dot, of a failed run a cross.  Every run has a path, forgotten or
    not, so a method that never reaches the criterion still shows what its epochs cost.
    ``threshold_ma``: the criterion's MA, a vertical line; ``probe_before``: the probe on the
    model before unlearning, a dashed line.  Returns the matplotlib figure (``None`` without probes)."""
    import matplotlib.pyplot as plt

    names = [n for n, recs in groups.items() if any(e.probe for r in recs for e in r.history)]
    if not names:
        return None
    cols = min(3, len(names))
    rows = -(-len(names) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.4 * rows), squeeze=False, sharex=True, sharey=True)
    for ax, name in zip(axes.flat, names):
        for r in groups[name]:
            pts = [(e.ma, e.probe["log_pile_ppl"]) for e in r.history if e.ma is not None and "log_pile_ppl" in e.probe]
            if not pts:
                continue
            x, y = zip(*pts)
            ax.plot(x, y, color="C0" if r.succeeded else "C3", lw=0.8, alpha=0.6)
            ax.scatter(x[-1], y[-1], marker="o" if r.succeeded else "x", color="C0" if r.succeeded else "C3", s=16)
        if threshold_ma is not None:
            ax.axvline(threshold_ma, color="0.3", ls=":", lw=1)
        if probe_before is not None:
            ax.axhline(probe_before, color="0.3", ls="--", lw=1)
        ax.set_title(name, fontsize=10)
        ax.invert_xaxis()  # forgetting goes to the right
        ax.grid(alpha=0.3)
    for ax in axes.flat[len(names) :]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("MA on the forget unit (forgetting →)")
    for ax in axes[:, 0]:
        ax.set_ylabel("log Pile PPL (probe)")
    fig.tight_layout()
    return fig
