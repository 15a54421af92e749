"""The paper's ablations and cost view (Figures 2–4): LoRA rank sweep, target-module sweep,
and training FLOPs against capability — grids of :class:`~unlearnkit.experiments.RunSpec`,
their records as tables, the figures, and verdicts on claims C3, C5, C6 and C7.

A grid is a list of independent runs (:func:`rank_grid`, :func:`module_grid`); run it with
:func:`unlearnkit.dispatch.run_specs` (inline, local processes or SLURM), all writing into
the results cache.  Runs that never met the criterion are kept and drawn as crosses.
This module builds grids and judges records; the training is :mod:`unlearnkit.trainer`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .claims import CAPABILITY, capability
from .experiments import RunSpec

LORA_METHODS = {  # label -> (objective, LoRA init)
    "LoRA (GD)": ("gd", "random"),
    "LoRA + IHL": ("ihl", "random"),
    "FILA + GD": ("gd", "fila"),
    "FILA + IHL": ("ihl", "fila"),
}
# Target-module combinations of the module sweep (paper names; "o" is attention out_proj).
MODULE_SETS = {"QV": ("q", "v"), "QKVO": ("q", "k", "v", "o"), "FFN": ("ffn",), "QV+FFN": ("q", "v", "ffn"),
               "all": ("q", "k", "v", "o", "ffn")}


def _spec(model_name, draw, method, init, rank, targets, common: dict) -> RunSpec:
    return RunSpec(model_name, draw, method, lora_init=init, rank=rank, targets=tuple(targets), **common)


def rank_grid(model_name: str, draws: list[int], ranks: list[int], methods: list[str] | None = None,
              **common) -> dict[tuple[str, int], list[RunSpec]]:
    """``{(method label, rank): [spec per forget set]}`` on Q, V and the FFN."""
    return {(m, r): [_spec(model_name, d, *LORA_METHODS[m], r, ("q", "v", "ffn"), common) for d in draws]
            for m in (methods or list(LORA_METHODS)) for r in ranks}


def module_grid(model_name: str, draws: list[int], module_sets: list[str], methods: list[str], rank: int = 16,
                **common) -> dict[tuple[str, str], list[RunSpec]]:
    """``{(method label, module set): [spec per forget set]}`` at one rank."""
    unknown = [s for s in module_sets if s not in MODULE_SETS]
    if unknown:
        raise ValueError(f"unknown module set(s) {unknown}; choose from {list(MODULE_SETS)}")
    return {(m, s): [_spec(model_name, d, *LORA_METHODS[m], rank, MODULE_SETS[s], common) for d in draws]
            for m in methods for s in module_sets}


def frame(groups: dict[tuple, list[dict]], key_names: tuple[str, str]) -> pd.DataFrame:
    """One row per run: the grid key, status, epochs, capability and training FLOPs."""
    rows = []
    for key, records in groups.items():
        for r in records:
            rows.append({key_names[0]: key[0], key_names[1]: key[1], "forget set": r["tags"]["forget_set"],
                         "forgotten": r["status"] == "forgotten", "status": r["status"],
                         "epochs": r["epochs"], "epochs run": r["epochs_run"],
                         "Reasoning %": 100 * r["reasoning"] if r.get("reasoning") is not None else np.nan,
                         "Dialogue F1 %": 100 * r["dialogue"] if r.get("dialogue") is not None else np.nan,
                         "Pile PPL": r.get("pile_ppl", np.nan),
                         "train FLOPs": r["train_flops"] + r.get("setup_flops", 0.0),  # FILA's Fisher included
                         "setup FLOPs": r.get("setup_flops", 0.0),
                         "params %": 100 * r["trainable_share"], "wall s": r["wall_seconds"]})
    return pd.DataFrame(rows)


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
            sns.scatterplot(data=bad, x=x, y=label, hue=hue, palette=palette, marker="X", s=70, ax=ax,
                            legend=ax is axes[0] and not len(ok))
        if before.get(key) is not None:
            ax.axhline(scale * before[key], ls="--", c="k", lw=1)
        if log_x:
            ax.set_xscale("log")
        ax.set_title(f"{label} (× = never met the criterion)", fontsize=10)
    plt.tight_layout()
    return fig


def _records(groups: dict, select) -> list[dict]:
    return [r for key, recs in groups.items() if select(key) for r in recs]


def _epochs_or_budget(r: dict) -> float:
    """Epochs to the criterion; a failed run counts as one more than its budget."""
    return r["epochs"] if r["status"] == "forgotten" else r["config"]["max_epochs"] + 1


def rank_verdicts(groups: dict[tuple[str, int], list[dict]], gd_records: list[dict]) -> list[dict]:
    """C3, C5, C6 over every rank of the sweep (``gd_records``: full GD runs, e.g. Table 1's)."""
    out = []
    lora = _records(groups, lambda k: k[0] == "LoRA (GD)")
    failed = sum(r["status"] != "forgotten" for r in lora)
    cc, ev = capability(lora, gd_records)
    out.append({"claim": "C3", "verdict": "holds" if failed or cc < 0 else "does not hold" if cc > 0 else "inconclusive",
                "evidence": f"LoRA (GD) failed {failed}/{len(lora)} runs over all ranks; vs full GD: {ev}"})
    # C5: FILA vs random init at the same rank, objective and forget set (failed = budget + 1)
    wins = losses = 0
    for (m, rank), recs in groups.items():
        if not m.startswith("FILA"):
            continue
        partner = groups.get(("LoRA (GD)" if m == "FILA + GD" else "LoRA + IHL", rank))
        for a, b in zip(recs, partner or []):
            ea, eb = _epochs_or_budget(a), _epochs_or_budget(b)
            wins += ea < eb
            losses += ea > eb
    v = "holds" if wins > losses and wins >= 2 * max(losses, 1) else "does not hold" if losses > wins else "inconclusive"
    out.append({"claim": "C5", "verdict": v,
                "evidence": f"FILA needed fewer epochs than random init in {wins} paired runs, more in {losses}"})
    fila_ihl = _records(groups, lambda k: k[0] == "FILA + IHL")
    others = {m: _records(groups, lambda k, m=m: k[0] == m) for m in LORA_METHODS if m != "FILA + IHL"}
    signs = {m: capability(fila_ihl, recs) for m, recs in others.items() if recs}
    v = ("holds" if signs and all(c > 0 for c, _ in signs.values())
         else "does not hold" if any(c < 0 for c, _ in signs.values()) else "inconclusive")
    out.append({"claim": "C6", "verdict": v,
                "evidence": " | ".join(f"FILA+IHL vs {m}: {e}" for m, (_, e) in signs.items())})
    return out


def module_verdict(groups: dict[tuple[str, str], list[dict]]) -> dict:
    """C7: LoRA on Q and V alone is not enough; adding the FFN makes unlearning succeed."""
    def share(name):
        recs = _records(groups, lambda k: k[1] == name)
        return sum(r["status"] == "forgotten" for r in recs), len(recs), [_epochs_or_budget(r) for r in recs]

    qv_ok, qv_n, qv_ep = share("QV")
    ffn_ok, ffn_n, ffn_ep = share("QV+FFN")
    if not qv_n or not ffn_n:
        return {"claim": "C7", "verdict": "not tested", "evidence": "the sweep lacks QV or QV+FFN"}
    if qv_ok / qv_n < ffn_ok / ffn_n and ffn_ok == ffn_n:
        v = "holds"
    elif qv_ok / qv_n >= ffn_ok / ffn_n:
        v = "does not hold"
    else:
        v = "inconclusive"
    return {"claim": "C7", "verdict": v,
            "evidence": f"QV succeeded in {qv_ok}/{qv_n} runs (epochs {np.mean(qv_ep):.1f} counting failures as budget+1), "
                        f"QV+FFN in {ffn_ok}/{ffn_n} ({np.mean(ffn_ep):.1f})"}
