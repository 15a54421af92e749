"""The paper's ablations and cost view (Figures 2–4): LoRA rank sweep, target-module sweep,
and training FLOPs against capability — grids of :class:`~unlearnkit.experiments.RunSpec`,
their records as tables, the figures, and verdicts on claims C3, C5, C6 and C7.

A grid is a list of independent runs (:func:`rank_grid`, :func:`module_grid`); run it with
:func:`unlearnkit.experiments.dispatch.run_specs` (inline, local processes or SLURM), all writing into
the results cache.  Runs that never met the criterion are kept and drawn as crosses.
This module builds grids and judges records; the training is :mod:`unlearnkit.trainer`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .. import methods, stats
from ..store.records import field_of
from . import claims, matched
from .runs import RunSpec

# The LoRA methods the rank sweep compares (names of unlearnkit.methods.METHODS).
LORA_METHODS = ("LoRA (GD)", "LoRA + IHL", "FILA + GD", "FILA + IHL")
# Target-module combinations of the module sweep (paper names; "o" is attention out_proj).
MODULE_SETS = {
    "QV": ("q", "v"),
    "QKVO": ("q", "k", "v", "o"),
    "FFN": ("ffn",),
    "QV+FFN": ("q", "v", "ffn"),
    "all": ("q", "k", "v", "o", "ffn"),
}


def _spec(model_name, draw, name: str, rank, targets, common: dict) -> RunSpec:
    m = lora_method(name)
    return RunSpec(model_name, draw, m.objective, lora_init=m.lora_init, rank=rank, targets=tuple(targets), **common)


def lora_method(name: str) -> methods.Method:
    """The adapter method called ``name``; full fine-tuning methods have no rank or modules to sweep."""
    m = methods.get(name)
    if m.full_finetuning:
        lora = [k for k, v in methods.METHODS.items() if not v.full_finetuning]
        raise ValueError(f"method {name!r} trains every weight; the ablations sweep LoRA methods: {lora}")
    return m


def rank_grid(
    model_name: str, draws: list[int], ranks: list[int], methods: list[str] | None = None, **common
) -> dict[tuple[str, int], list[RunSpec]]:
    """``{(method label, rank): [spec per forget set]}`` on Q, V and the FFN."""
    return {
        (m, r): [_spec(model_name, d, m, r, ("q", "v", "ffn"), common) for d in draws]
        for m in (methods or list(LORA_METHODS))
        for r in ranks
    }


def module_grid(
    model_name: str, draws: list[int], module_sets: list[str], methods: list[str], rank: int = 16, **common
) -> dict[tuple[str, str], list[RunSpec]]:
    """``{(method label, module set): [spec per forget set]}`` at one rank."""
    unknown = [s for s in module_sets if s not in MODULE_SETS]
    if unknown:
        raise ValueError(f"unknown module set(s) {unknown}; choose from {list(MODULE_SETS)}")
    return {
        (m, s): [_spec(model_name, d, m, rank, MODULE_SETS[s], common) for d in draws]
        for m in methods
        for s in module_sets
    }


# Capability columns drawn by the figures: record field, label, +1 if higher is better, display scale
CAPABILITY = (
    ("reasoning", "Reasoning %", +1, 100.0),
    ("dialogue", "Dialogue F1 %", +1, 100.0),
    ("pile_ppl", "Pile PPL", -1, 1.0),
)


def frame(groups: dict[tuple, list], key_names: tuple[str, str]) -> pd.DataFrame:
    """One row per run: the grid key, status, epochs, capability and training FLOPs."""
    f = field_of
    rows = []
    for key, records in groups.items():
        for r in records:
            rows.append(
                {
                    key_names[0]: key[0],
                    key_names[1]: key[1],
                    "forget set": claims.unit(r)[0],
                    "forgotten": claims.succeeded(r),
                    "status": f(r, "status"),
                    "epochs": f(r, "epochs"),
                    "epochs run": f(r, "epochs_run"),
                    "Reasoning %": 100 * f(r, "reasoning") if f(r, "reasoning") is not None else np.nan,
                    "Dialogue F1 %": 100 * f(r, "dialogue") if f(r, "dialogue") is not None else np.nan,
                    "Pile PPL": f(r, "pile_ppl") if f(r, "pile_ppl") is not None else np.nan,
                    "train FLOPs": f(r, "train_flops") + (f(r, "setup_flops") or 0.0),  # FILA's Fisher included
                    "setup FLOPs": f(r, "setup_flops") or 0.0,
                    "params %": 100 * f(r, "trainable_share"),
                    "wall s": f(r, "wall_seconds"),
                }
            )
    return pd.DataFrame(rows)


def summary(df: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per grid cell: runs, successes, mean epochs to criterion (failures at budget + 1), mean
    capability and the trainable share."""
    return df.groupby(keys, observed=True).agg(
        runs=("forgotten", "size"),
        succeeded=("forgotten", "sum"),
        epochs=("epochs", "mean"),
        reasoning=("Reasoning %", "mean"),
        dialogue=("Dialogue F1 %", "mean"),
        pile_ppl=("Pile PPL", "mean"),
        params_pct=("params %", "first"),
    )


def grid_facts(df: pd.DataFrame) -> dict[str, str]:
    """What a sweep chapter's prose quotes about its grid: runs, failures and compute hours."""
    return {
        "n_runs": str(len(df)),
        "n_failed": str(int((~df["forgotten"]).sum())),
        "grid_hours": f"{df['wall s'].sum() / 3600:.1f}",
    }


def compute_frame(full_groups: dict[str, list], sweep_groups: dict[tuple[str, int], list]) -> pd.DataFrame:
    """The compute view's runs: full fine-tuning (``{"GA": records, "GD": records}``) and the
    rank sweep's adapters, one row each, with a ``full fine-tuning`` flag."""
    groups = {(name, "full"): recs for name, recs in full_groups.items()}
    groups |= {(m, f"rank {r}"): recs for (m, r), recs in sweep_groups.items()}
    df = frame(groups, ("method", "grid"))
    df["full fine-tuning"] = df["params %"] > 50
    return df


def compute_facts(df: pd.DataFrame, rank: int) -> dict[str, str]:
    """Median training FLOPs of successful full and adapter runs, and the per-epoch cost of
    LoRA (GD) at ``rank`` against GD's."""
    ok = df[df["forgotten"]]
    full, adapters = ok[ok["full fine-tuning"]], ok[~ok["full fine-tuning"]]
    per_epoch = (df["train FLOPs"] - df["setup FLOPs"]) / df["epochs run"]
    ratio = (
        per_epoch[(df["method"] == "LoRA (GD)") & (df["grid"] == f"rank {rank}")].median()
        / per_epoch[df["method"] == "GD"].median()
    )
    return {
        "flops_full": f"{full['train FLOPs'].median():.2e}" if len(full) else "n/a",
        "flops_adapter": f"{adapters['train FLOPs'].median():.2e}" if len(adapters) else "n/a",
        "n_points": str(len(df)),
        "epoch_ratio": f"{ratio:.2f}",
        "epoch_ratio_inv": f"{1 / ratio:.1f}",
        "rank_text": str(rank),
    }


def plot_capability(df: pd.DataFrame, x: str, hue: str, before: dict, log_x: bool = False):
    """One panel per capability against ``x``: successful runs as dots, failed as crosses,
    lines through the means of successful runs, dashed line for the model before unlearning."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    fig, axes = plt.subplots(1, len(CAPABILITY), figsize=(5 * len(CAPABILITY), 3.8))
    palette = dict(zip(df[hue].unique(), sns.color_palette(n_colors=df[hue].nunique())))
    for ax, (key, label, _, scale) in zip(axes, CAPABILITY):
        ok, bad = df[df["forgotten"]], df[~df["forgotten"]]
        if len(ok):
            sns.scatterplot(data=ok, x=x, y=label, hue=hue, palette=palette, ax=ax, legend=ax is axes[0], s=40)
            if pd.api.types.is_numeric_dtype(df[x]):
                means = ok.groupby([hue, x], sort=True, observed=True)[label].mean().reset_index()
                sns.lineplot(data=means, x=x, y=label, hue=hue, palette=palette, ax=ax, legend=False)
        if len(bad):
            sns.scatterplot(
                data=bad,
                x=x,
                y=label,
                hue=hue,
                palette=palette,
                marker="X",
                s=70,
                ax=ax,
                legend=ax is axes[0] and not len(ok),
            )
        if before.get(key) is not None:
            ax.axhline(scale * before[key], ls="--", c="k", lw=1)
        if log_x:
            ax.set_xscale("log")
        ax.set_title(f"{label} (× = never met the criterion)", fontsize=10)
    plt.tight_layout()
    return fig


def _records(groups: dict, select) -> list:
    return [r for key, recs in groups.items() if select(key) for r in recs]


def _keyed(records: list, extra) -> list[dict]:
    """Records whose pairing unit also names ``extra`` (rank, method…), so that runs of a
    sweep pair with the right partner."""
    keys = ("status", "epochs", "pile_ppl", "reasoning", "dialogue", "downstream", "final_ma", "history")
    return [
        {k: field_of(r, k) for k in keys}
        | {
            "config": field_of(r, "config", {}),
            "tags": {"forget_set": f"{claims.unit(r)[0]}|{extra}"},
            "seed": claims.unit(r)[1],
        }
        for r in records
    ]


def _row(claim, verdict, comparison, evidence, effect_unit=""):
    return claims.verdict_row(claim, claims.CLAIMS[claim], verdict, comparison, evidence, effect_unit)


def rank_verdicts(groups: dict[tuple[str, int], list], gd_records: list, before: dict) -> list[dict]:
    """C3, C5, C6 over every rank of the sweep (``gd_records``: full GD runs, e.g. Table 1's),
    paired on (forget set, seed, rank) with :mod:`unlearnkit.stats`.  C3 and C6 are decided as in
    Table 1 (:func:`.claims.verdicts`): C3 by the win ratio of GD over LoRA (GD), C6 by Pile
    perplexity at matched forgetting (:mod:`.matched`); until 2026-12-06 both were decided
    where both runs forgot, and that rule's verdict is shown beside."""
    measures, _ = claims.capability_measures(before)
    mins = claims.minimum_effects()
    budget = claims.budget({"all": _records(groups, lambda k: True) + list(gd_records)})
    ranks = sorted({k[1] for k in groups})
    out = []
    # C3: LoRA (GD) at every rank against full GD on the same forget set
    lora = [r for rank in ranks for r in _keyed(groups.get(("LoRA (GD)", rank), []), rank)]
    gd = [r for rank in ranks if ("LoRA (GD)", rank) in groups for r in _keyed(gd_records, rank)]
    w = claims.hierarchical(gd, lora, mins["log_ppl"])
    v_old, e, cap, fails = claims.fails_or_costs(lora, gd, measures, budget, claims.MINIMUM_EFFECTS["epochs"])
    out.append(
        claims.win_row(
            "C3",
            claims.CLAIMS["C3"],
            w,
            claims.win_verdict(w, +1),
            f"primary, GD vs LoRA (GD) over ranks {ranks} (forgot beats not; both forgot: Pile PPL; both "
            f"failed: final MA): {w.text()} | earlier rule, until 2026-12-06 ({v_old}): epochs: {e.text()}; "
            f"{fails.text()}; capability where both forgot: {cap.text()}",
        )
    )
    # C5: FILA vs random init at the same rank, objective and forget set
    fila_runs, plain_runs = [], []
    for (m, rank), recs in groups.items():
        if not m.startswith("FILA"):
            continue
        partner = "LoRA (GD)" if m == "FILA + GD" else "LoRA + IHL"
        if (partner, rank) in groups:
            fila_runs += _keyed(recs, f"{m}|{rank}")
            plain_runs += _keyed(groups[(partner, rank)], f"{m}|{rank}")
    e = claims.epochs_comparison(fila_runs, plain_runs, budget, claims.MINIMUM_EFFECTS["epochs"])
    fails = stats.failures(claims.failed_by_unit(fila_runs), claims.failed_by_unit(plain_runs))
    out.append(
        _row(
            "C5",
            stats.decide(e, -1),
            e,
            f"epochs FILA − random init (same rank, objective, forget set; failures censored): "
            f"{e.text()}; {fails.text()}",
            "epochs",
        )
    )
    # C6: FILA + IHL against each other LoRA method, rank by rank, at matched forgetting
    keyed = {m: [r for rank in ranks for r in _keyed(groups.get((m, rank), []), rank)] for m in LORA_METHODS}
    start = matched.starts(keyed)
    log_before, start_note = matched.start_log_ppl(before)
    ms, parts, old, texts = {}, {}, [], []
    for m in LORA_METHODS:
        a = [r for rank in ranks if (m, rank) in groups for r in _keyed(groups.get(("FILA + IHL", rank), []), rank)]
        if m == "FILA + IHL" or not a or not keyed[m]:
            continue
        ms[m] = matched.compare(a, keyed[m], log_before, mins["log_ppl"], start)
        parts[m] = matched.verdict(ms[m])
        c = claims.capability(a, keyed[m], measures)
        old.append((c.direction, c.n))
        texts.append(f"FILA + IHL vs {m} at matched forgetting ({parts[m]}; {start_note}): {ms[m].text()}")
    if not ms:
        out.append(_row("C6", "not tested", None, "no FILA + IHL runs beside another LoRA method"))
        return out
    old_v = claims.all_hold([d for d, _ in old], min(n for _, n in old))
    deciding = ms.get("LoRA + IHL") or next(iter(ms.values()))
    out.append(
        claims.matched_row(
            "C6",
            claims.CLAIMS["C6"],
            deciding,
            claims.every_part_holds(parts),
            " | ".join(texts) + f" | earlier rule, until 2026-12-06, where both forgot: {old_v}",
        )
    )
    return out


def module_verdict(groups: dict[tuple[str, str], list]) -> dict:
    """C7: LoRA on Q and V alone is not enough; adding the FFN makes unlearning succeed.

    Paired on (method, forget set, seed): epochs of QV minus epochs of QV+FFN, failures
    censored (a failure is more than the budget: :func:`stats.censored_paired`); failure counts
    compared with McNemar's test."""
    methods = sorted({k[0] for k in groups})
    qv = [r for m in methods for r in _keyed(groups.get((m, "QV"), []), m)]
    ffn = [r for m in methods for r in _keyed(groups.get((m, "QV+FFN"), []), m)]
    if not qv or not ffn:
        return _row("C7", "not tested", None, "the sweep lacks QV or QV+FFN")
    budget = claims.budget({"all": qv + ffn})
    e = claims.epochs_comparison(qv, ffn, budget, claims.MINIMUM_EFFECTS["epochs"])
    fails = stats.failures(claims.failed_by_unit(qv), claims.failed_by_unit(ffn))
    return _row(
        "C7",
        stats.decide(e, +1),
        e,
        f"epochs QV − QV+FFN (failures censored: exact sign test): {e.text()}; QV vs QV+FFN {fails.text()}",
        "epochs",
    )
