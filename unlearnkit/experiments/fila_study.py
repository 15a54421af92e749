"""The FILA chapter's analyses: where the Fisher importance lies, what the row-wise closed form
loses against the element-wise optimum, and that the initialisation leaves the output
unchanged (the fixed-budget curves of each initialisation are :mod:`.curves`).

Each function composes :mod:`unlearnkit.fila` (the method itself) and returns numbers, a
table or a figure for ``book/fila.ipynb``; none of them changes how FILA works.
"""

from __future__ import annotations

import copy
import re

import numpy as np
import pandas as pd
import torch

from .. import fila
from ..training import targets
from . import runs


def fisher_pair(
    model_name: str, draw: int, forget_rows: int | None = None, target_groups: tuple[str, ...] = ("q", "v", "ffn")
) -> dict:
    """The model (on the CPU), its forget ids, the targeted weight names and the Fisher
    information of those weights on the forget set and on as many retain sequences."""
    loaded = runs.load(model_name)
    model = loaded.model.cpu()
    forget = runs.forget_ids(loaded, draw, forget_rows).cpu()
    retain = loaded.retain(len(forget)).cpu()
    names = targets.target_modules(model, target_groups)
    return {
        "model": model,
        "forget": forget,
        "names": names,
        "forget_fisher": fila.fisher_information(model, forget, names),
        "retain_fisher": fila.fisher_information(model, retain, names),
    }


_BLOCK_INDEX = re.compile(r"\.(\d+)\.")


def edge_layer_keys(fisher: dict[str, torch.Tensor], num_layers: int) -> list[str]:
    """The targeted weights of the first and the last transformer block, whatever the
    architecture names its blocks (GPT-Neo ``transformer.h.0.…``, LLaMA ``model.layers.0.…``):
    the block is the first dotted integer in the weight's name."""

    def block(key: str) -> int | None:
        found = _BLOCK_INDEX.search(key)
        return int(found.group(1)) if found else None

    keys = [k for k in fisher if block(k) in (0, num_layers - 1)]
    if not keys:
        raise ValueError(
            f"no targeted weight lies in block 0 or block {num_layers - 1} "
            f"(num_layers={num_layers}); weights: {sorted(fisher)[:4]}..."
        )
    return keys


def short_name(key: str) -> str:
    """A weight's name without the architecture's container prefixes, for titles and tables."""
    for prefix in ("transformer.", "model.", "attn.attention.", "self_attn."):
        key = key.replace(prefix, "")
    return key


def top_row_share(forget_fisher: dict, retain_fisher: dict, share: float = 0.1) -> float:
    """Mean over weights of the share of FILA's squared row weights held by the top ``share``
    of rows: how concentrated the forget-relative importance is (``share`` = uniform)."""
    out = []
    for key in forget_fisher:
        w2 = fila.row_weights(fila.relative_importance(forget_fisher[key], retain_fisher[key])) ** 2
        top = torch.sort(w2, descending=True).values
        out.append(float(top[: max(1, int(len(top) * share))].sum() / top.sum()))
    return float(np.mean(out))


def plot_importance(forget_fisher: dict, retain_fisher: dict, keys: list[str]):
    """Heat maps of ``log10`` relative importance ``F_forget / F_retain`` of the weights ``keys``."""
    import matplotlib.pyplot as plt

    cols = max(1, (len(keys) + 1) // 2)
    fig, axes = plt.subplots(2, cols, figsize=(3.2 * cols, 5.5), squeeze=False)
    for ax, key in zip(axes.flat, keys):
        rel = fila.relative_importance(forget_fisher[key], retain_fisher[key])
        ax.imshow(torch.log10(rel + 1e-12).numpy(), aspect="auto", cmap="magma")
        ax.set_title(short_name(key), fontsize=8)
        ax.set_xticks([]), ax.set_yticks([])
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    fig.tight_layout()
    return fig


def closed_form_vs_em(
    model, forget_fisher: dict, retain_fisher: dict, keys: list[str], rank: int, iters: int = 100
) -> pd.DataFrame:
    """Element-wise weighted error ``sum_ij F_ij (W - X)_ij^2`` (weights normalised to max 1) of
    the paper's row-wise closed form and of the element-wise EM optimum, per weight."""
    modules = dict(model.named_modules())
    rows = []
    for key in keys:
        W = modules[key].weight.detach().double()
        rel = fila.relative_importance(forget_fisher[key].double(), retain_fisher[key].double())
        B, A = fila.weighted_low_rank(W, fila.row_weights(rel), rank)
        X = fila.weighted_low_rank_em(W, rel, rank, iters=iters)
        elem = rel / rel.max()
        rows.append(
            {
                "weight": short_name(key),
                "row-wise closed form": fila.weighted_error(W, B @ A, elem),
                "element-wise EM": fila.weighted_error(W, X, elem),
            }
        )
    table = pd.DataFrame(rows).set_index("weight")
    table["EM / row-wise"] = table["element-wise EM"] / table["row-wise closed form"]
    return table


def initialisation_output_change(
    model, forget_fisher: dict, retain_fisher: dict, names: list[str], rank: int, input_ids: torch.Tensor
) -> float:
    """Largest absolute logit change caused by FILA's initialisation (0 up to round-off: the
    base weight absorbs ``-s B A``)."""
    from peft import LoraConfig, get_peft_model

    peft_model = get_peft_model(
        copy.deepcopy(model), LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=names, lora_dropout=0.0)
    )
    fila.initialise(peft_model, forget_fisher, retain_fisher)
    with torch.no_grad():
        return (peft_model(input_ids=input_ids).logits - model(input_ids=input_ids).logits).abs().max().item()
