"""Figures drawn from run records: Cha et al.'s Figure 3 (capability per method, per unit).

Presentation only: nothing here trains, evaluates or caches (so, like
:mod:`unlearnkit.experiments.tables`, editing a figure never changes a cache key).
"""

from __future__ import annotations

import numpy as np

from ..store.records import RunRecord

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


def robustness(audit):
    """The robustness audit (:class:`unlearnkit.experiments.robustness.Audit`) in three panels:
    MA on the forget unit after each quantiser, MA on the unit's held-out half after each number
    of relearning steps, and the membership attack's ROC AUC.  One line (or bar) per method, the
    mean over the units its run forgot; the exact reference as a grey band (its range over
    units), the model before unlearning dashed and the runs' MA threshold dotted (below it, the
    criterion's MA half holds)."""
    import matplotlib.pyplot as plt

    from . import robustness as rb
    from .robustness_report import MEMBERSHIP_SCORE

    t = audit.table
    t = t[t.status.fillna("control") != "failed"]
    fig, axes = plt.subplots(1, 3, figsize=(14, 3.8))
    cols = rb.columns(audit.settings)
    panels = (
        ("quantise", [s for k, s in cols if k != "relearn"], "ma", "MA on the forget unit (%)", "quantisation"),
        (
            "relearn",
            [s for k, s in cols if k == "relearn"],
            "ma",
            "MA on the unit's other half (%)",
            "relearning steps on half the unit",
        ),
    )
    for ax, (kind, strengths, measure, ylabel, xlabel) in zip(axes, panels):
        sel = t[(t.measure == measure) & ((t.attack == kind) | ((t.attack == "none") & (kind == "quantise")))]
        x = np.arange(len(strengths))
        for name, g in sel.groupby("model", sort=False):
            means = g.groupby("strength").value.mean().reindex(strengths) * 100
            if name == rb.REFERENCE:
                lo = g.groupby("strength").value.min().reindex(strengths) * 100
                hi = g.groupby("strength").value.max().reindex(strengths) * 100
                ax.fill_between(x, lo, hi, color="0.8", label=f"{name} (range)", zorder=1)
                ax.plot(x, means, color="0.5", lw=1, zorder=2)
            elif name == rb.BEFORE:
                ax.plot(x, means, "k--", lw=1.2, label=name, zorder=2)
            else:
                ax.plot(x, means, marker="o", lw=1.5, label=name, zorder=3)
        if np.isfinite(audit.threshold_ma):
            ax.axhline(100 * audit.threshold_ma, color="0.3", ls=":", lw=1, label="MA threshold", zorder=1)
        ax.set_xticks(x, [s.removesuffix(" steps") for s in strengths])
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
    ax = axes[2]
    score = f"auc_{MEMBERSHIP_SCORE}"
    sel = t[t.measure == score]
    names = [n for n in sel.model.unique() if n not in (rb.BEFORE, rb.REFERENCE)]
    means = sel.groupby("model").value.mean()
    ax.bar(np.arange(len(names)), [means[n] for n in names], color=[f"C{i}" for i in range(len(names))])
    if rb.REFERENCE in means:
        ref = sel[sel.model == rb.REFERENCE].value
        ax.axhspan(ref.min(), ref.max(), color="0.8", zorder=0, label=f"{rb.REFERENCE} (range)")
    if rb.BEFORE in means:
        ax.axhline(means[rb.BEFORE], color="k", ls="--", lw=1.2, label=rb.BEFORE)
    ax.axhline(0.5, color="0.3", ls=":", lw=1)
    ax.set_xticks(np.arange(len(names)), names, rotation=30, ha="right")
    ax.set_ylabel(f"membership ROC AUC ({MEMBERSHIP_SCORE})")
    ax.set_ylim(0, 1)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper center", ncol=min(len(labels), 5), bbox_to_anchor=(0.5, 1.08), frameon=False)
    fig.tight_layout()
    return fig
