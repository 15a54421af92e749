"""Grids of unlearning runs with a results cache, and the tables the book builds from them.

A run is named by a plain dict (:class:`RunSpec` as dict): model, forget set, method, LoRA
settings, learning rate, epochs budget, seed, evaluation sizes.  :func:`run` executes it with
:func:`unlearnkit.trainer.unlearn`, evaluates the unlearned model
(:func:`unlearnkit.evaluation.downstream.evaluate`: reasoning, dialogue, Pile/WikiText perplexity)
and stores one JSON record in the results cache keyed by a hash of the spec, so
re-executing a chapter reuses finished runs and an interrupted grid resumes where it
stopped.  Tables from the records are in :mod:`unlearnkit.experiments.tables`.
This module orchestrates; the loop is in :mod:`unlearnkit.trainer`, metrics in
:mod:`unlearnkit.metrics`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch

from .. import data, losses, methods, metrics, models, trainer, training
from ..evaluation import downstream, memorisation
from ..store import results
from ..store.records import RECORD_VERSION, RunRecord

# The module whose code (and everything of the package it imports) keys this module's records.
CODE = __name__

# Where the forgetting thresholds come from: measured on held-out TDEC rows (unseen by the
# testbed, but Pile text for a Pile-trained model), Jang et al.'s fixed values (the paper's own
# choice for GPT-Neo), or measured on text no Pile-trained model can have seen (TOFU, 2024).
THRESHOLD_SOURCES = ("heldout", "jang", "unseen")
UNSEEN_TEXT = "TOFU answers (fictitious authors, 2024)"


def _choice(name: str, value, valid) -> None:
    if value not in valid:
        raise ValueError(f"{name}={value!r} is not valid; choose one of {list(valid)}")


@dataclass(frozen=True)
class RunSpec:
    """One unlearning run, named by everything that changes its numbers (the cache key).

    Every field is checked when the spec is made, before any model is loaded.
    """

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
    downstream: str | None = "cpu"  # a size preset of unlearnkit.evaluation.downstream.SIZES; None: no evaluation
    n: int = 10
    forget_rows: int | None = None  # unlearn only the first rows of the forget set (None: all 32)
    part: int = 0  # with forget_rows: rows part*forget_rows … (part+1)*forget_rows - 1 (a forget *unit*)
    retain_source: str = "wikitext"  # the paper's WikiText; "tdec": TDEC train rows
    fisher_estimator: str = "per_example"  # FILA's Fisher: per-example E[g^2] (paper) or "micro_batch" (official code)
    precision: str = "auto"  # training.PRECISIONS
    thresholds: str = "heldout"  # THRESHOLD_SOURCES

    def __post_init__(self):
        check_run_settings(
            draw=self.draw,
            method=self.method,
            lora_init=self.lora_init,
            rank=self.rank,
            targets=self.targets,
            lr=self.lr,
            max_epochs=self.max_epochs,
            heldout_rows=self.heldout_rows,
            retain_rows=self.retain_rows,
            downstream=self.downstream,
            forget_rows=self.forget_rows,
            part=self.part,
            retain_source=self.retain_source,
            fisher_estimator=self.fisher_estimator,
            precision=self.precision,
            thresholds=self.thresholds,
        )

    @property
    def unit(self) -> tuple[int, int]:
        """``(forget set, part)``: the forget unit this run unlearns."""
        return self.draw, self.part

    def lora(self) -> trainer.LoraSettings | None:
        if self.lora_init is None:
            return None
        return trainer.LoraSettings(
            rank=self.rank, targets=tuple(self.targets), init=self.lora_init, fisher_estimator=self.fisher_estimator
        )

    def unlearn_config(self) -> trainer.UnlearnConfig:
        """The trainer's settings for this run."""
        return trainer.UnlearnConfig(
            objective=self.method,
            lora=self.lora(),
            lr=self.lr,
            max_epochs=self.max_epochs,
            seed=self.seed,
            precision=self.precision,
        )


def check_run_settings(**settings) -> None:
    """Raise ``ValueError`` naming the setting and its valid values for any invalid one.

    Cheap: it loads no model, so chapters and the command line call it before any work.
    Settings not given are not checked.
    """
    from ..training.targets import TARGET_MODULES

    s = settings
    if "draw" in s:
        _choice("draw (forget set lm_extraction_32_<draw>)", s["draw"], range(data.ALL_DRAWS))
    for d in s.get("forget_draws", []):
        _choice("forget_draws entry", d, range(data.ALL_DRAWS))
    if "method" in s:
        _choice("method", s["method"], list(losses.OBJECTIVES))
    if "lora_init" in s and s["lora_init"] is not None:
        _choice("lora_init", s["lora_init"], methods.LORA_INITS)
    groups = sorted({g for table in TARGET_MODULES.values() for g in table})
    for t in s.get("targets", ()):
        _choice("targets entry", t, groups)
    for key in ("rank", "max_epochs", "heldout_rows", "retain_rows"):
        if key in s and (not isinstance(s[key], int) or s[key] < 1):
            raise ValueError(f"{key} must be a positive integer, got {s[key]!r}")
    for key in ("lr", "lr_full", "lr_lora"):
        if key in s and not (isinstance(s[key], (int, float)) and s[key] > 0):
            raise ValueError(f"{key} must be a positive number, got {s[key]!r}")
    if s.get("downstream") is not None:
        _choice("downstream (size preset)", s["downstream"], list(downstream.SIZES))
    if s.get("forget_rows") is not None and not (isinstance(s["forget_rows"], int) and 1 <= s["forget_rows"] <= 32):
        raise ValueError(f"forget_rows must be in 1..32 or None, got {s['forget_rows']!r}")
    for part in ([s["part"]] if "part" in s else []) + list(s.get("forget_parts", [])):
        rows = s.get("forget_rows")
        parts = 1 if rows is None else 32 // rows
        if not (isinstance(part, int) and 0 <= part < parts):
            raise ValueError(
                f"forget part {part!r} is not valid with forget_rows={rows!r}: a forget set of 32 rows "
                f"has parts 0..{parts - 1} of {rows or 32} rows"
            )
    if "retain_source" in s:
        _choice("retain_source", s["retain_source"], models.registry.RETAIN_SOURCES)
    if "fisher_estimator" in s:
        from .. import fila

        _choice("fisher_estimator", s["fisher_estimator"], fila.FISHER_ESTIMATORS)
    if "precision" in s:
        _choice("precision", s["precision"], training.PRECISIONS)
    if "thresholds" in s:
        _choice("thresholds", s["thresholds"], THRESHOLD_SOURCES)


_LOADED: dict[str, models.LoadedModel] = {}


def forget_set_name(draw: int, rows: int | None = None, part: int = 0) -> str:
    """``lm_extraction_32_<draw>``, with ``[:rows]`` when only its first rows are used and
    ``[a:b]`` for a later part (a forget unit); an extra draw (5 … 9) is named by its source
    (``lm_extraction_128_<d>-rest[:32]``, :func:`unlearnkit.data.extra_forget_set`)."""
    name = f"lm_extraction_32_{draw}" if draw < data.FORGET_SET_DRAWS else data.extra_forget_set(draw).name
    if rows is None:
        return name
    return name + (f"[:{rows}]" if part == 0 else f"[{part * rows}:{(part + 1) * rows}]")


def forget_ids(loaded: models.LoadedModel, draw: int, rows: int | None = None, part: int = 0) -> torch.Tensor:
    """Forget set ``draw`` of a loaded model, cut to rows ``part*rows … (part+1)*rows - 1``
    (``rows=None``: all 32).

    A *forget unit* is 8 consecutive rows of a forget set, so the five sets give 20 disjoint
    units: a random 8-subset of a random draw is itself a random draw of 8 TDEC sequences, it
    makes every EL check four times cheaper, and units, unlike seeds, are independent replicates.
    """
    x = loaded.forget_set(draw)
    if rows is None:
        return x
    if not (1 <= rows and (part + 1) * rows <= len(x) and part >= 0):
        raise ValueError(f"forget_rows={rows}, part={part} do not fit {forget_set_name(draw)} ({len(x)} rows)")
    return x[part * rows : (part + 1) * rows]


def units(forget_draws: list[int], forget_parts: list[int] | None = None) -> list[tuple[int, int]]:
    """The forget units ``(set, part)`` of a grid: every part of every set, set-major."""
    return [(d, p) for d in forget_draws for p in (forget_parts or [0])]


def memorised_units(loaded: models.LoadedModel, rows: int) -> list[tuple[int, int]]:
    """The forget units of ``rows`` rows this model was taught: an injected model's injected
    units, a testbed's pretrained sets (less any it was retrained without), else every unit of
    the five sets (TDEC is Pile text a Pile-trained model saw)."""
    parts = 32 // rows
    if loaded.injection is not None:
        from ..models import injection

        recipe = injection.get_recipe(loaded.name.partition(injection.SUFFIX)[2].removeprefix(":") or "default")
        taught = (recipe.forget_rows or 32) // rows
        return [(d, p) for d in recipe.forget_draws for p in range(taught) if (d, p) not in recipe.without]
    draws = loaded.testbed.recipe.trained_draws if loaded.testbed is not None else range(data.FORGET_SET_DRAWS)
    return [(d, p) for d in draws for p in range(parts)]


def collateral_ma(model, loaded: models.LoadedModel, rows: int, unit: tuple[int, int]) -> dict[str, float]:
    """MA of ``model`` on every other unit ``loaded`` memorised (``"set.part"`` → MA): what
    unlearning one unit took from the others (collateral forgetting)."""
    out = {}
    for d, p in memorised_units(loaded, rows):
        if (d, p) != unit:
            out[f"{d}.{p}"] = metrics.memorization_accuracy(model, forget_ids(loaded, d, rows, p)).mean().item()
    return out


def load(model_name: str) -> models.LoadedModel:
    """Load a model once per process (grids reuse it; runs never modify it)."""
    if model_name not in _LOADED:
        _LOADED[model_name] = models.load(model_name)
    return _LOADED[model_name]


def thresholds(model_name: str, heldout_rows: int = 128, n: int = 10, source: str = "heldout") -> dict:
    """The forgetting thresholds of ``model_name`` (cached): measured on ``heldout_rows`` held-out
    TDEC rows (``source="heldout"``), Jang et al.'s fixed values (``"jang"``), or measured on
    ``heldout_rows`` 200-token blocks of text a Pile-trained model cannot have seen (``"unseen"``:
    :meth:`unlearnkit.models.LoadedModel.unseen`)."""
    _choice("thresholds", source, THRESHOLD_SOURCES)
    if source == "jang":
        return dataclasses.asdict(metrics.JANG_THRESHOLDS)
    loaded = load(model_name)
    ids, label = (
        (loaded.unseen(heldout_rows), UNSEEN_TEXT)
        if source == "unseen"
        else (loaded.heldout(heldout_rows), memorisation.TDEC_HELDOUT)
    )
    return dataclasses.asdict(memorisation.thresholds(loaded.model, ids, n=n, model_key=loaded.key, source=label))


PROBE_DOCS = 20  # Pile-sample documents of the per-epoch capability probe
PROBE_CHARS = 2000  # each cut to its first characters: a probe costs about a second on SmolLM2


def capability_probe(tokenizer, docs: int = PROBE_DOCS):
    """The per-epoch probe of every run: ``probe(model) -> {"log_pile_ppl": …}``, the log
    perplexity of the first ``docs`` documents of the Pile sample (each cut to
    :data:`PROBE_CHARS` characters), a cheap stand-in for the full evaluation that every
    epoch of every run has, forgotten or not."""
    texts = [t[:PROBE_CHARS] for t in memorisation.perplexity_texts("pile", docs)]

    def probe(model) -> dict[str, float]:
        return {"log_pile_ppl": float(np.log(metrics.perplexity(model, tokenizer, texts)))}

    return probe


def _evaluation(model, tokenizer, preset: str | None) -> dict:
    """Downstream scores, with the three Table 1 numbers also at the top level."""
    if preset is None:
        return {"downstream": None, "pile_ppl": None, "reasoning": None, "dialogue": None}
    ds = downstream.evaluate(model, tokenizer, preset, progress=False)
    return {
        "downstream": ds,
        "pile_ppl": ds.get("pile_ppl"),
        "reasoning": ds["reasoning_mean"],
        "dialogue": ds["dialogue_mean"],
    }


def before(
    model_name: str,
    heldout_rows: int = 128,
    downstream_preset: str = "cpu",
    n: int = 10,
    thresholds_source: str = "heldout",
) -> dict:
    """Thresholds and downstream scores of the model before unlearning (cached)."""
    th = thresholds(model_name, heldout_rows, n, thresholds_source)
    return {"thresholds": th, **capability(model_name, downstream_preset)}


def capability(model_name: str, downstream_preset: str = "cpu") -> dict:
    """Downstream scores of ``model_name`` as loaded, no thresholds (cached; the same record
    :func:`before` uses)."""
    loaded = load(model_name)
    return results.cached(
        "before",
        {"model": loaded.key, "downstream": downstream_preset, "version": RECORD_VERSION},
        lambda: _evaluation(loaded.model, loaded.tokenizer, downstream_preset),
        code=CODE,
    )


def cache_config(spec: RunSpec, loaded: models.LoadedModel) -> dict:
    """What a run's cache key is made of: every spec field, the model's name, dtype and
    device kind (:attr:`LoadedModel.key`) and the record's schema version; :func:`results.cached`
    adds the digest of the code that computes it."""
    return dataclasses.asdict(spec) | {"model_key": loaded.key, "version": RECORD_VERSION}


def run(spec: RunSpec, progress: bool = True) -> RunRecord:
    """Execute (or fetch from the cache) one unlearning run and its evaluation; the record's
    ``spec`` is its cache key (:func:`cache_config`)."""
    loaded = load(spec.model_name)
    config = cache_config(spec, loaded)

    def compute() -> dict:
        th = metrics.Thresholds(**thresholds(spec.model_name, spec.heldout_rows, spec.n, spec.thresholds))
        result = trainer.unlearn(
            loaded.model,
            forget_ids(loaded, spec.draw, spec.forget_rows, spec.part),
            loaded.retain(spec.retain_rows, spec.retain_source),
            spec.unlearn_config(),
            thresholds=th,
            progress=progress,
            probe=capability_probe(loaded.tokenizer),
            tags={
                "forget_set": forget_set_name(spec.draw, spec.forget_rows, spec.part),
                "retain_source": spec.retain_source,
            },
        )
        evaluation = _evaluation(result.model, loaded.tokenizer, spec.downstream)
        if spec.forget_rows is not None:
            result.model.eval()
            with torch.no_grad():
                evaluation["collateral_ma"] = collateral_ma(result.model, loaded, spec.forget_rows, spec.unit)
        return result.record.with_evaluation(evaluation).to_dict()

    return RunRecord.from_dict(results.cached("unlearn", config, compute, code=CODE), source=f"cached run {spec}")


def run_grid(specs: list[RunSpec], progress: bool = True) -> list[RunRecord]:
    """Run every spec in order (cached ones return at once); a progress bar over the grid."""
    from tqdm import tqdm

    return [run(s, progress=False) for s in tqdm(specs, desc="runs", disable=not progress)]


def fixed_budget(
    model_name: str,
    draw: int,
    method: str,
    epochs: int,
    lr: float,
    lora_init: str | None = None,
    seed: int = 0,
    retain_rows: int = 256,
    forget_rows: int | None = None,
    retain_source: str = "wikitext",
) -> RunRecord:
    """A run for exactly ``epochs`` epochs (no early stop; MA tracked each epoch), cached.

    Used for loss curves: the criterion is replaced by thresholds that can never be met,
    so EL is never computed and the run always uses its whole budget.
    """
    check_run_settings(
        draw=draw,
        method=method,
        lora_init=lora_init,
        max_epochs=epochs,
        lr=lr,
        forget_rows=forget_rows,
        retain_source=retain_source,
    )
    loaded = load(model_name)
    spec = {
        "model_key": loaded.key,
        "draw": draw,
        "method": method,
        "epochs": epochs,
        "lr": lr,
        "lora_init": lora_init,
        "seed": seed,
        "retain_rows": retain_rows,
        "forget_rows": forget_rows,
        "retain_source": retain_source,
        "version": RECORD_VERSION,
    }

    def compute() -> dict:
        never = metrics.Thresholds(ma=0.0, el=0.0, n=10, source="fixed budget (never met)")
        config = trainer.UnlearnConfig(
            objective=method,
            lora=trainer.LoraSettings(init=lora_init) if lora_init else None,
            lr=lr,
            max_epochs=epochs,
            seed=seed,
        )
        return trainer.unlearn(
            loaded.model,
            forget_ids(loaded, draw, forget_rows),
            loaded.retain(retain_rows, retain_source),
            config,
            thresholds=never,
        ).record.to_dict()

    return RunRecord.from_dict(
        results.cached("fixed_budget", spec, compute, code=CODE), source="cached fixed-budget run"
    )


def forget_memorisation(model_name: str, draw: int, n: int = 10, rows: int | None = None, part: int = 0) -> dict:
    """Mean MA and EL_n of the model before unlearning on forget set ``draw`` (rows
    ``part*rows … (part+1)*rows - 1``; ``rows=None``: all), cached."""
    loaded = load(model_name)

    def compute() -> dict:
        x = forget_ids(loaded, draw, rows, part)
        return {
            "ma": metrics.memorization_accuracy(loaded.model, x).mean().item(),
            "el": metrics.extraction_likelihood(loaded.model, x, n=n).mean().item(),
        }

    return results.cached(
        "forget_memorisation",
        {"model": loaded.key, "draw": draw, "n": n, "rows": rows, "part": part, "version": RECORD_VERSION},
        compute,
        code=CODE,
    )


def units_ma(model_name: str, rows: int) -> dict[str, float]:
    """MA before unlearning of every unit of ``rows`` rows the model memorised
    (:func:`memorised_units`, ``"set.part"`` → MA), cached: the "before" of the collateral table."""
    loaded = load(model_name)

    def compute() -> dict:
        with torch.no_grad():
            return {"ma": collateral_ma(loaded.model, loaded, rows, (-1, -1))}

    config = {"model": loaded.key, "rows": rows, "version": RECORD_VERSION}
    return results.cached("units_ma", config, compute, code=CODE)["ma"]


def table1_specs(
    model_name: str,
    forget_draws: list[int],
    *,
    lr_full: float,
    lr_lora: float,
    forget_parts: list[int] | None = None,
    methods_: list[str] | None = None,
    **common,
) -> dict[str, list[RunSpec]]:
    """Table 1's grid: ``{method name: [RunSpec per forget unit]}`` (full fine-tuning at
    ``lr_full``, the adapters at ``lr_lora``; units: every part of ``forget_parts`` (default
    ``[0]``) of every set of ``forget_draws``; ``methods_``: Table 1 labels or method names,
    default the paper's rows :data:`unlearnkit.methods.TABLE1`; ``common``: any other
    :class:`RunSpec` field)."""
    chosen = methods.TABLE1 if methods_ is None else methods.named(methods_)
    return {
        label: [
            RunSpec(
                model_name,
                d,
                m.objective,
                lora_init=m.lora_init,
                lr=lr_full if m.full_finetuning else lr_lora,
                part=p,
                **common,
            )
            for d, p in units(forget_draws, forget_parts)
        ]
        for label, m in chosen.items()
    }


def mean_forget_memorisation(
    model_name: str, draws: list[int], rows: int | None = None, n: int = 10, parts: list[int] | None = None
) -> dict:
    """Mean MA and EL_n before unlearning over the units of ``draws`` × ``parts`` (the Table 1 "Before" row)."""
    memo = [forget_memorisation(model_name, d, n=n, rows=rows, part=p) for d, p in units(draws, parts)]
    return {"ma": float(np.mean([m["ma"] for m in memo])), "el": float(np.mean([m["el"] for m in memo]))}
