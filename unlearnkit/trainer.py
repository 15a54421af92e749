"""The unlearning loop: Jang et al.'s protocol with the forgetting criterion, LoRA/FILA via peft.

``unlearn(model, forget, retain, UnlearnConfig.of("FILA + IHL", lr=2e-4), thresholds=th)``
runs one unlearning job and returns a :class:`Run` (the unlearned model and its typed
:class:`~unlearnkit.store.records.RunRecord`).  Its settings are one :class:`UnlearnConfig` (like
peft's ``LoraConfig``); the optimisation steps run in :func:`unlearnkit.training.train`, the
project's one training loop, with the forgetting criterion as its stopping rule.  Protocol (Jang et al. 2023, used by Cha et al. 2024):

* one epoch = one optimiser step over the whole forget set (micro-batches with gradient
  accumulation, sized by memory unless the config fixes them: the update is the whole set's
  gradient, and the peak does not grow with the set), with a retain batch of the same size
  drawn per step for objectives that use one; Adam (betas 0.9, 0.98), constant learning rate;
* after each epoch, MA on the forget set; EL_n only when the MA test passes (the decision is
  the same and EL is the expensive part); stop at the first epoch where mean MA and mean
  EL_n are both below the thresholds; a run that reaches ``max_epochs`` is recorded as
  failed (``"status": "max_epochs"``), as is a non-finite loss (``"non_finite_loss"``);
* the EL test itself stops early when it can (:func:`metrics.extraction_likelihood_below`):
  once the sequences evaluated so far already put the mean at or above the threshold, the
  answer is "not yet" and that epoch records ``el_lower_bound`` instead of ``el``.  The
  stopping epoch and the last epoch of a failed run always have the exact EL_n;
* full fine-tuning (``lora=None``) or LoRA via peft with random (peft's default), PiSSA or
  FILA initialisation.  Saved weights (``save_dir``) are always a plain merged model
  (``merge_and_unload``) in safetensors — never base and adapter separately.

The model passed in is not modified (the run trains a deep copy) unless ``in_place=True``.
Evaluation of downstream capability is not done here.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import fila, losses, methods, metrics, training
from .methods import LORA_INITS
from .store.cache import atomic_directory, write_json_atomic
from .store.records import Environment, Epoch, RunRecord
from .training import flops, memory, targets

# FILA's "micro_batch" Fisher estimator (the official code's) squares the gradient of this many
# rows at a time, unless a run fixes its micro-batch; the paper's per-example estimator has none.
FISHER_MICRO_BATCH = 32


@dataclass(frozen=True)
class LoraSettings:
    """LoRA adapter settings; defaults are the paper's (rank 16 on Q, V and the FFN).

    ``alpha`` defaults to ``2 * rank`` (LoRA scaling ``s = alpha / rank = 2``).
    """

    rank: int = 16
    alpha: float | None = None
    targets: tuple[str, ...] = ("q", "v", "ffn")  # paper names: q, k, v, o, ffn
    init: str = "random"  # "random" (peft default: A Kaiming, B zero), "pissa", "fila"
    fila_eps: float = fila.EPS
    fisher_estimator: str = (
        "per_example"  # FILA's Fisher: "per_example" (paper, E[g^2]) or "micro_batch" (official code)
    )

    def __post_init__(self):
        if self.init not in LORA_INITS:
            raise ValueError(f"unknown LoRA init {self.init!r}; choose one of {LORA_INITS}")
        if self.rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {self.rank}")
        if self.fisher_estimator not in fila.FISHER_ESTIMATORS:
            raise ValueError(
                f"unknown Fisher estimator {self.fisher_estimator!r}; choose one of {fila.FISHER_ESTIMATORS}"
            )

    @property
    def lora_alpha(self) -> float:
        return self.alpha if self.alpha is not None else 2.0 * self.rank


@dataclass
class Run:
    """An unlearning run: the unlearned model (merged if LoRA) and its typed record."""

    model: torch.nn.Module
    record: RunRecord

    @property
    def succeeded(self) -> bool:
        return self.record.succeeded


def _as_lora(lora) -> LoraSettings | None:
    if lora is None or isinstance(lora, LoraSettings):
        return lora
    if isinstance(lora, str):  # "fila", "pissa", "random"/"lora"
        return LoraSettings(init="random" if lora == "lora" else lora)
    if isinstance(lora, dict):
        return LoraSettings(**{k: tuple(v) if k == "targets" else v for k, v in lora.items()})
    raise TypeError(f"lora must be None, a LoraSettings, a dict or one of {LORA_INITS}, got {type(lora).__name__}")


def _check_inputs(model, forget, retain, objective, thresholds):
    if thresholds is None:
        raise ValueError("thresholds are required: compute them with metrics.forgetting_thresholds(model, heldout)")
    if not isinstance(forget, torch.Tensor) or forget.dim() != 2 or forget.shape[0] == 0:
        raise ValueError(
            f"forget must be a non-empty (N, T) tensor of token ids, got "
            f"{tuple(forget.shape) if isinstance(forget, torch.Tensor) else type(forget).__name__}"
        )
    context = getattr(model.config, "max_position_embeddings", None)
    if context is not None and forget.shape[1] > context:
        raise ValueError(f"forget sequences have {forget.shape[1]} tokens, longer than the model's context ({context})")
    metrics.check_sequences(forget, thresholds.n + 1, name="forget")
    if objective.needs_retain and (retain is None or len(retain) == 0):
        raise ValueError(f"method {objective.name!r} needs a retain set")


def wrap_lora(
    model,
    settings: LoraSettings,
    forget,
    retain,
    micro_batch: int = 32,
    progress: bool = False,
    forget_mask=None,
    retain_mask=None,
):
    """Wrap ``model`` in a peft LoRA adapter initialised per ``settings`` (FILA computes the
    Fisher information of ``forget`` and ``retain``, padding masked); returns ``(peft_model, setup_flops)``."""
    from peft import LoraConfig, get_peft_model

    names = targets.target_modules(model, settings.targets)  # raises on unknown groups
    fila.targeted_linears(model, names)  # raises when the model has none of them
    fisher, setup_flops = None, 0.0
    if settings.init == "fila":
        if retain is None:
            raise ValueError("FILA needs a retain set (its Fisher information is the denominator)")
        est = settings.fisher_estimator
        fisher = (
            fila.fisher_information(model, forget, names, micro_batch, forget_mask, progress, est),
            fila.fisher_information(model, retain, names, micro_batch, retain_mask, progress, est),
        )
        plain = flops.flop_model(model)
        targeted = sum(m.weight.numel() for m in fila.targeted_linears(model, names).values())
        fisher_cost = dataclasses.replace(plain, trainable_linear_params=targeted)
        setup_flops = fisher_cost.train_step(len(forget), forget.shape[1]) + fisher_cost.train_step(
            len(retain), retain.shape[1]
        )
    config = LoraConfig(
        r=settings.rank,
        lora_alpha=settings.lora_alpha,
        target_modules=names,
        lora_dropout=0.0,
        init_lora_weights="pissa" if settings.init == "pissa" else True,
    )
    peft_model = get_peft_model(model, config)
    if fisher is not None:
        fila.initialise(peft_model, *fisher, eps=settings.fila_eps)
    return peft_model, setup_flops


@dataclass(frozen=True)
class UnlearnConfig:
    """The settings of one unlearning run (the protocol's defaults: Jang et al.'s Adam betas).

    Args:
        objective: a name in :data:`unlearnkit.losses.OBJECTIVES` (``ga, gd, ihl, …``).
        lora: ``None`` (full fine-tuning) or :class:`LoraSettings`; ``"lora"``, ``"fila"``,
            ``"pissa"`` or a dict are accepted and converted.
        lr: learning rate (paper: 5e-5 full, 2e-4 LoRA/FILA).
        max_epochs: the budget; a run that reaches it without forgetting is recorded as failed.
        seed: seeds the retain draws and LoRA's random init.
        micro_batch: forget rows per forward pass (gradient accumulation over the epoch: the
            update is the whole set's gradient either way); ``None`` (default) sizes it by
            memory (:func:`unlearnkit.training.memory.micro_batch_rows`), so a run's peak does
            not grow with the forget set.  The record stores the rows used.
        objective_kwargs: extra weights for the objective (e.g. ``{"retain_weight": 1.0}``).
        precision: ``"auto"`` (bf16 autocast on CUDA, fp32 elsewhere), ``"fp32"`` or
            ``"bf16-autocast"``; the trained weights are fp32 either way.

    :meth:`of` builds one from a method name of :data:`unlearnkit.methods.METHODS`.
    """

    objective: str = "gd"
    lora: LoraSettings | None = None
    lr: float = 5e-5
    max_epochs: int = 20
    seed: int = 0
    micro_batch: int | None = None
    betas: tuple[float, float] = (0.9, 0.98)
    objective_kwargs: dict = field(default_factory=dict)
    precision: str = "auto"

    def __post_init__(self):
        losses.get(self.objective)  # raises on an unknown objective
        object.__setattr__(self, "lora", _as_lora(self.lora))
        if not isinstance(self.max_epochs, int) or self.max_epochs < 1:
            raise ValueError(f"max_epochs must be >= 1, got {self.max_epochs!r}")
        if not (isinstance(self.lr, (int, float)) and self.lr >= 0):
            raise ValueError(f"lr must be a number >= 0, got {self.lr!r}")
        if self.micro_batch is not None and (not isinstance(self.micro_batch, int) or self.micro_batch < 1):
            raise ValueError(f"micro_batch must be None (sized by memory) or an int >= 1, got {self.micro_batch!r}")
        if self.precision not in training.PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of {training.PRECISIONS}")

    @classmethod
    def of(
        cls,
        method: str,
        *,
        rank: int = 16,
        targets: tuple[str, ...] = ("q", "v", "ffn"),
        fisher_estimator: str = "per_example",
        **settings,
    ) -> UnlearnConfig:
        """The config of method ``method`` (e.g. ``"FILA + IHL"``), with LoRA ``rank``/``targets``
        for adapter methods and any other field in ``settings``."""
        m = methods.get(method)
        lora = (
            None
            if m.full_finetuning
            else LoraSettings(rank=rank, targets=tuple(targets), init=m.lora_init, fisher_estimator=fisher_estimator)
        )
        return cls(objective=m.objective, lora=lora, **settings)

    def record(self) -> dict:
        """The settings as the run record's ``config`` stores them."""
        return {
            "method": self.objective,
            "lora": dataclasses.asdict(self.lora) if self.lora else None,
            "lr": self.lr,
            "max_epochs": self.max_epochs,
            "seed": self.seed,
            "micro_batch": self.micro_batch,
            "betas": list(self.betas),
            "objective_kwargs": dict(self.objective_kwargs),
        }


def unlearn(
    model,
    forget: torch.Tensor,
    retain: torch.Tensor | None = None,
    config: UnlearnConfig | None = None,
    *,
    thresholds: metrics.Thresholds | None = None,
    reference=None,
    save_dir: str | Path | None = None,
    record_path: str | Path | None = None,
    in_place: bool = False,
    progress: bool = True,
    tags: dict | None = None,
    probe=None,
) -> Run:
    """Unlearn ``forget`` from ``model`` until the forgetting criterion holds or ``config.max_epochs``.

    Args:
        model: a Hugging Face causal LM (not modified unless ``in_place``).
        forget: ``(N, T)`` token ids to forget (unpadded).
        retain: ``(M, T)`` token ids to keep; a batch of ``N`` rows is drawn from it each epoch.
        config: the run's settings (:class:`UnlearnConfig`; default: full-weight GD at 5e-5).
        thresholds: the forgetting thresholds (held-out MA and EL_n); required.
        reference: frozen reference model for KL/NPO objectives (default: a copy of ``model``).
        save_dir: where to save the unlearned (merged) model in safetensors, atomically.
        record_path: where to write the JSON record, atomically.
        tags: free-form labels copied into the record (forget set name, retain source, …).
        probe: a cheap capability measurement ``probe(model) -> {name: value}`` taken after every
            epoch and kept in its :class:`~unlearnkit.store.records.Epoch` (e.g. log perplexity of 20
            Pile documents), so a run that never forgets still has a trade-off curve.
    Returns:
        A :class:`Run`.
    """
    return _unlearn(
        model,
        forget,
        retain,
        config or UnlearnConfig(),
        thresholds=thresholds,
        reference=reference,
        save_dir=save_dir,
        record_path=record_path,
        in_place=in_place,
        progress=progress,
        tags=tags,
        probe=probe,
    )


def _unlearn(
    model,
    forget,
    retain,
    config: UnlearnConfig,
    *,
    thresholds,
    reference=None,
    save_dir=None,
    record_path=None,
    in_place=False,
    progress=True,
    tags=None,
    probe=None,
    el_every_epoch: bool = False,
    el_function=None,
) -> Run:
    """:func:`unlearn`, plus two switches for benchmarks only: compute EL every epoch
    (``el_every_epoch``), with another implementation ``el_function(model, ids, n) -> (N,)``."""
    if not isinstance(config, UnlearnConfig):
        raise TypeError(f"config must be an UnlearnConfig, got {type(config).__name__}")
    job = _Job.start(model, forget, retain, config, thresholds, reference, in_place)
    check = _Criterion(job, probe, el_every_epoch, el_function)
    done = training.train(
        job.model,
        job.epoch_losses,
        config.max_epochs,
        training.Optimisation(lr=config.lr, optimizer="adam", betas=tuple(config.betas), precision=job.precision),
        after_step=check,
        progress=progress,
        desc=f"unlearn[{config.objective}{'+' + config.lora.init if config.lora else ''}]",
    )
    status = {"stopped": "forgotten", "budget": "max_epochs", "non_finite_loss": "non_finite_loss"}[done.status]
    if status == "non_finite_loss":
        last = done.steps[-1]
        check.epochs.append(Epoch(last.step, last.loss, train_seconds=last.seconds, parts=last.parts))
    job.model.eval()
    if config.lora is not None:
        job.model = job.model.merge_and_unload()
    record = job.record(status, check.epochs, done, tags)
    _save(job.model, record, save_dir, record_path)
    return Run(job.model, RunRecord.from_dict(json.loads(json.dumps(record.to_dict()))))


@dataclass
class _Job:
    """One run's fixed parts: the model being trained, its data, settings and set-up cost."""

    model: torch.nn.Module
    forget: torch.Tensor
    retain: torch.Tensor | None
    config: UnlearnConfig
    objective: losses.Objective
    thresholds: metrics.Thresholds
    reference: torch.nn.Module | None
    precision: str
    micro_batch: int
    record_config: dict
    loaded_dtype: str
    start: float
    setup_flops: float = 0.0
    setup_seconds: float = 0.0
    trainable: int = 0
    base_params: int = 0
    step_flops: float = 0.0
    generator: torch.Generator = field(default_factory=torch.Generator)

    @classmethod
    def start(cls, model, forget, retain, config, thresholds, reference, in_place) -> _Job:
        """Check the inputs, copy the model (unless ``in_place``), seed, and wrap LoRA."""
        objective = losses.get(config.objective)
        _check_inputs(model, forget, retain, objective, thresholds)
        device = next(model.parameters()).device
        precision = training.training_precision(config.precision, device)
        loaded_dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
        forget, retain = forget.to(device), (retain.to(device) if retain is not None else None)
        if objective.needs_reference and reference is None:
            reference = copy.deepcopy(model).eval().requires_grad_(False)
        if not in_place:
            model = copy.deepcopy(model)
        training.master_weights(model)
        torch.manual_seed(config.seed)
        N, T = forget.shape
        passes = 2 if objective.needs_retain else 1  # the retain batch goes through the model too
        micro_batch = config.micro_batch or memory.micro_batch_rows(model.config, T, N, passes)
        record_config = config.record() | {
            "micro_batch": micro_batch,
            "micro_batch_rule": "fixed" if config.micro_batch else "memory",
            "thresholds": dataclasses.asdict(thresholds),
            "forget_shape": [N, T],
            "retain_rows": None if retain is None else len(retain),
            "precision": precision,
        }
        job = cls(
            model,
            forget,
            retain,
            config,
            objective,
            thresholds,
            reference,
            precision,
            micro_batch,
            record_config,
            loaded_dtype,
            time.perf_counter(),
        )
        job.generator.manual_seed(config.seed)
        job._wrap()
        return job

    def _wrap(self) -> None:
        """LoRA adapters (FILA's retain Fisher on a seeded retain sample of the forget set's size)."""
        lora, retain, N = self.config.lora, self.retain, len(self.forget)
        if lora is None:
            self.model.requires_grad_(True)
        else:
            gen = torch.Generator().manual_seed(self.config.seed + 1)
            sample = None if retain is None else retain[torch.randperm(len(retain), generator=gen)[:N]]
            fisher_rows = self.config.micro_batch or FISHER_MICRO_BATCH  # the official code's estimator only
            self.model, self.setup_flops = wrap_lora(self.model, lora, self.forget, sample, fisher_rows)
        self.setup_seconds = time.perf_counter() - self.start
        # counted on the model as trained (adapters unmerged): a step's FLOPs and what it trains
        self.trainable = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
        self.base_params = sum(p.numel() for n, p in self.model.named_parameters() if "lora_" not in n)
        cost, (N, T), obj = flops.flop_model(self.model), self.forget.shape, self.objective
        self.step_flops = cost.train_step(N * (2 if obj.needs_retain else 1), T) + (
            cost.forward(T) * N if obj.needs_reference else 0.0
        )

    def epoch_losses(self, epoch: int):
        """One epoch: the whole forget set in micro-batches of at most ``micro_batch`` rows (sizes
        balanced), a fresh retain draw of its size; each micro-batch's loss is weighted by its
        share of the rows (one whole-set gradient)."""
        N, forget, retain = len(self.forget), self.forget, self.retain
        retain_idx = torch.randint(len(retain), (N,), generator=self.generator) if retain is not None else None
        kwargs = dict(self.config.objective_kwargs)
        for rows in memory.balanced_slices(N, self.micro_batch):
            batch = losses.UnlearnBatch(
                forget=losses.lm_batch(forget[rows]),
                retain=losses.lm_batch(retain[retain_idx[rows]]) if self.objective.needs_retain else None,
                reference=self.reference,
            )
            yield self.objective(self.model, batch, **kwargs), (rows.stop - rows.start) / N

    def record(self, status: str, epochs: list[Epoch], done: training.Training, tags) -> RunRecord:
        """The run's typed record: status, per-epoch history, parameters, FLOPs and seconds."""
        last = epochs[-1]
        return RunRecord(
            status=status,
            epochs=len(epochs) if status == "forgotten" else None,
            epochs_run=len(epochs),
            config=self.record_config,
            history=epochs,
            final_ma=last.ma,
            final_el=last.el,
            tags=dict(tags or {}),
            trainable_params=self.trainable,
            params=self.base_params,
            trainable_share=self.trainable / self.base_params,
            train_flops=self.step_flops * len(epochs),
            setup_flops=self.setup_flops,
            setup_seconds=self.setup_seconds,
            train_seconds=sum(s.seconds for s in done.steps),
            eval_seconds=sum(e.eval_seconds for e in epochs),
            wall_seconds=time.perf_counter() - self.start,
            environment=Environment.of(self.model, self.precision, self.loaded_dtype),
        )


class _Criterion:
    """The stopping rule, called after each epoch: MA on the forget set, then EL_n only when MA
    passes (early-stopped when it can); the probe; stop once both are below the thresholds."""

    def __init__(self, job: _Job, probe, el_every_epoch: bool, el_function):
        self.job, self.probe, self.el_every_epoch, self.el_function = job, probe, el_every_epoch, el_function
        self.epochs: list[Epoch] = []

    def _el(self, model, ma: float, ma_seq, last_epoch: bool):
        """``(el, lower bound, sequences evaluated)``: exact EL on the last epoch (or every epoch
        when asked), an early-stopped check otherwise; nothing while MA is above its threshold."""
        job, th = self.job, self.job.thresholds
        if self.el_every_epoch or (ma < th.ma and last_epoch):
            el = (self.el_function or metrics.extraction_likelihood)(model, job.forget, n=th.n).mean().item()
            return el, None, None
        if ma < th.ma:
            order = ma_seq.argsort(descending=True, stable=True)
            check = metrics.extraction_likelihood_below(model, job.forget, th.el, n=th.n, order=order)
            if check.mean is None:  # decided "not yet" from part of the forget set
                return None, check.lower_bound, check.evaluated
            return check.mean, None, None
        return None, None, None

    def __call__(self, step: training.Step) -> bool:
        t1 = time.perf_counter()
        model = self.job.model.eval()
        ma_seq = metrics.memorization_accuracy(model, self.job.forget)
        ma = ma_seq.mean().item()
        el, bound, evaluated = self._el(model, ma, ma_seq, step.step == self.job.config.max_epochs)
        probed = dict(self.probe(model)) if self.probe is not None else {}
        self.epochs.append(
            Epoch(
                step.step,
                step.loss,
                ma=ma,
                el=el,
                el_lower_bound=bound,
                el_sequences=evaluated,
                train_seconds=step.seconds,
                eval_seconds=time.perf_counter() - t1,
                parts=step.parts,
                probe=probed,
            )
        )
        shown = f"{el:.3f}" if el is not None else (f">={bound:.3f}" if bound is not None else "-")
        step.postfix.update(ma=f"{ma:.3f}", el=shown)
        return el is not None and self.job.thresholds.met(ma, el)


def _save(model, record: RunRecord, save_dir, record_path) -> None:
    """The merged model in safetensors with its record (``save_dir``), the record alone
    (``record_path``); each written atomically."""
    if save_dir is not None:
        save_dir = Path(save_dir)
        with atomic_directory(save_dir) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            write_json_atomic(tmp / "unlearn_record.json", record.to_dict())
        record.saved_to = str(save_dir)
    if record_path is not None:
        write_json_atomic(Path(record_path), record.to_dict())
