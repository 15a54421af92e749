"""Grids of unlearning runs with a results cache, and the tables the book builds from them.

A run is named by a plain dict (:class:`RunSpec` as dict): model, forget set, method, LoRA
settings, learning rate, epochs budget, seed, evaluation sizes.  :func:`run` executes it with
:func:`unlearnkit.trainer.unlearn`, evaluates the unlearned model
(:func:`unlearnkit.downstream.evaluate`: reasoning, dialogue, Pile/WikiText perplexity)
and stores one JSON record in the results cache keyed by a hash of the spec, so
re-executing a chapter reuses finished runs and an interrupted grid resumes where it
stopped.  :func:`table1` turns records into the paper's Table 1 layout.
This module orchestrates; the loop is in :mod:`unlearnkit.trainer`, metrics in
:mod:`unlearnkit.metrics`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from . import downstream, memorisation, metrics, models, results, trainer

RECORD_VERSION = 3  # bump when what a record means changes (3: early-deciding EL test)

# The paper's Table 1 rows: name -> (objective, LoRA init or None)
TABLE1_METHODS: dict[str, tuple[str, str | None]] = {
    "GA": ("ga", None),
    "GD": ("gd", None),
    "LoRA (GD)": ("gd", "random"),
    "+ IHL": ("ihl", "random"),
    "+ FILA": ("ihl", "fila"),
}


@dataclass(frozen=True)
class RunSpec:
    model_name: str
    draw: int
    method: str
    lora_init: str | None = None  # None: full fine-tuning
    rank: int = 16
    targets: tuple[str, ...] = ("q", "v", "ffn")
    lr: float = 5e-5
    max_epochs: int = 20
    seed: int = 0
    heldout_rows: int = 128
    retain_rows: int = 256
    downstream: str | None = "cpu"  # a size preset of unlearnkit.downstream.SIZES; None: no evaluation
    n: int = 10
    forget_rows: int | None = None  # unlearn only the first rows of the forget set (None: all 32)

    def lora(self) -> trainer.LoraSettings | None:
        if self.lora_init is None:
            return None
        return trainer.LoraSettings(rank=self.rank, targets=tuple(self.targets), init=self.lora_init)


_LOADED: dict[str, models.LoadedModel] = {}


def forget_set_name(draw: int, rows: int | None = None) -> str:
    """``lm_extraction_32_<draw>``, with ``[:rows]`` when only its first rows are used."""
    return f"lm_extraction_32_{draw}" + ("" if rows is None else f"[:{rows}]")


def forget_rows_text(rows: int | None) -> str:
    """How much of each forget set a chapter unlearns, for its prose."""
    return "all 32 sequences" if rows is None else f"the first {rows} of its 32 sequences"


def forget_ids(loaded: models.LoadedModel, draw: int, rows: int | None = None) -> torch.Tensor:
    """Forget set ``draw`` of a loaded model, cut to its first ``rows`` sequences (``None``: all).

    The cpu profile unlearns the first 8 of each 32-sequence set: a random 8-subset of a
    random draw is itself a random draw of 8 TDEC sequences, and it makes every EL check
    four times cheaper.
    """
    x = loaded.forget_set(draw)
    if rows is None:
        return x
    if not 1 <= rows <= len(x):
        raise ValueError(f"forget_rows must be in 1..{len(x)} for {forget_set_name(draw)}, got {rows}")
    return x[:rows]


def load(model_name: str) -> models.LoadedModel:
    """Load a model once per process (grids reuse it; runs never modify it)."""
    if model_name not in _LOADED:
        _LOADED[model_name] = models.load(model_name)
    return _LOADED[model_name]


def thresholds(model_name: str, heldout_rows: int = 128, n: int = 10) -> dict:
    """The forgetting thresholds of ``model_name`` from ``heldout_rows`` held-out sequences (cached)."""
    loaded = load(model_name)
    return dataclasses.asdict(memorisation.thresholds(loaded.model, loaded.heldout(heldout_rows), n=n,
                                                      model_key=loaded.key))


def _evaluation(model, tokenizer, preset: str | None) -> dict:
    """Downstream scores, with the three Table 1 numbers also at the top level."""
    if preset is None:
        return {"downstream": None, "pile_ppl": None, "reasoning": None, "dialogue": None}
    ds = downstream.evaluate(model, tokenizer, preset, progress=False)
    return {"downstream": ds, "pile_ppl": ds.get("pile_ppl"), "reasoning": ds["reasoning_mean"],
            "dialogue": ds["dialogue_mean"]}


def before(model_name: str, heldout_rows: int = 128, downstream_preset: str = "cpu", n: int = 10) -> dict:
    """Thresholds and downstream scores of the model before unlearning (cached)."""
    loaded = load(model_name)
    th = thresholds(model_name, heldout_rows, n)
    rec = results.cached("before", {"model": loaded.key, "downstream": downstream_preset, "version": RECORD_VERSION},
                         lambda: _evaluation(loaded.model, loaded.tokenizer, downstream_preset))
    return {"thresholds": th, **rec}


def run(spec: RunSpec, progress: bool = True) -> dict:
    """Execute (or fetch from the cache) one unlearning run and its evaluation."""
    loaded = load(spec.model_name)
    config = dataclasses.asdict(spec) | {"model_key": loaded.key, "version": RECORD_VERSION}

    def compute() -> dict:
        th = memorisation.thresholds(loaded.model, loaded.heldout(spec.heldout_rows), n=spec.n, model_key=loaded.key)
        result = trainer.unlearn(
            loaded.model, forget_ids(loaded, spec.draw, spec.forget_rows), loaded.retain(spec.retain_rows),
            method=spec.method, lora=spec.lora(), lr=spec.lr, max_epochs=spec.max_epochs, thresholds=th,
            seed=spec.seed, progress=progress, tags={"forget_set": forget_set_name(spec.draw, spec.forget_rows)},
        )
        return result.record | _evaluation(result.model, loaded.tokenizer, spec.downstream)

    return results.cached("unlearn", config, compute)


def run_grid(specs: list[RunSpec], progress: bool = True) -> list[dict]:
    """Run every spec in order (cached ones return at once); a progress bar over the grid."""
    from tqdm.auto import tqdm

    return [run(s, progress=False) for s in tqdm(specs, desc="runs", disable=not progress)]


def _mean_std(values: list[float]) -> str:
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return "–"
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def table1(records: dict[str, list[dict]], before_rec: dict, before_mem: dict | None = None) -> pd.DataFrame:
    """The paper's Table 1 layout from run records grouped by method name.

    Epochs, EL10, MA, Reasoning (mean accuracy, %), Dialogue (mean F1, %) and Pile PPL are
    mean ± std over the runs that met the criterion; ``failed`` counts the runs that did not
    (they are never dropped silently).
    """
    rows = [{"Method": "Before", "Params %": "–", "Epochs": "–", "failed": "–",
             "EL10 (%)": _mean_std([100 * before_mem["el"]]) if before_mem else "–",
             "MA (%)": _mean_std([100 * before_mem["ma"]]) if before_mem else "–",
             "Reasoning": _mean_std([100 * before_rec["reasoning"]]),
             "Dialogue": _mean_std([100 * before_rec["dialogue"]]),
             "Pile PPL": f"{before_rec['pile_ppl']:.1f}"}]
    for name, recs in records.items():
        ok = [r for r in recs if r["status"] == "forgotten"]
        rows.append({
            "Method": name,
            "Params %": f"{100 * recs[0]['trainable_share']:.1f}" if recs else "–",
            "Epochs": _mean_std([r["epochs"] for r in ok]),
            "failed": f"{len(recs) - len(ok)}/{len(recs)}",
            "EL10 (%)": _mean_std([100 * r["final_el"] for r in ok]),
            "MA (%)": _mean_std([100 * r["final_ma"] for r in ok]),
            "Reasoning": _mean_std([100 * r["reasoning"] for r in ok]),
            "Dialogue": _mean_std([100 * r["dialogue"] for r in ok]),
            "Pile PPL": _mean_std([r["pile_ppl"] for r in ok]),
        })
    return pd.DataFrame(rows).set_index("Method")


def fixed_budget(model_name: str, draw: int, method: str, epochs: int, lr: float, lora_init: str | None = None,
                 seed: int = 0, retain_rows: int = 256, forget_rows: int | None = None) -> dict:
    """A run for exactly ``epochs`` epochs (no early stop; MA tracked each epoch), cached.

    Used for loss curves: the criterion is replaced by thresholds that can never be met,
    so EL is never computed and the run always uses its whole budget.
    """
    loaded = load(model_name)
    spec = {"model_key": loaded.key, "draw": draw, "method": method, "epochs": epochs, "lr": lr,
            "lora_init": lora_init, "seed": seed, "retain_rows": retain_rows, "forget_rows": forget_rows,
            "version": RECORD_VERSION}

    def compute() -> dict:
        never = metrics.Thresholds(ma=0.0, el=0.0, n=10, source="fixed budget (never met)")
        lora = trainer.LoraSettings(init=lora_init) if lora_init else None
        return trainer.unlearn(loaded.model, forget_ids(loaded, draw, forget_rows), loaded.retain(retain_rows),
                               method=method, lora=lora, lr=lr, max_epochs=epochs, thresholds=never, seed=seed).record

    return results.cached("fixed_budget", spec, compute)


def forget_memorisation(model_name: str, draw: int, n: int = 10, rows: int | None = None) -> dict:
    """Mean MA and EL_n of the model before unlearning on forget set ``draw`` (its first
    ``rows`` sequences; ``None``: all), cached."""
    loaded = load(model_name)

    def compute() -> dict:
        x = forget_ids(loaded, draw, rows)
        return {"ma": metrics.memorization_accuracy(loaded.model, x).mean().item(),
                "el": metrics.extraction_likelihood(loaded.model, x, n=n).mean().item()}

    return results.cached("forget_memorisation", {"model": loaded.key, "draw": draw, "n": n, "rows": rows,
                                                  "version": RECORD_VERSION}, compute)
