"""The unlearning loop: Jang et al.'s protocol with the forgetting criterion, LoRA/FILA via peft.

``unlearn(model, forget, retain, method="ihl", lora=LoraSettings(init="fila"), thresholds=th)``
runs one unlearning job and returns a :class:`Run` (the unlearned model and its typed
:class:`~unlearnkit.records.RunRecord`).  Protocol (Jang et al. 2023, used by Cha et al. 2024):

* one epoch = one optimiser step over the whole forget set (micro-batches with gradient
  accumulation), with a retain batch of the same size drawn per step for objectives that
  use one; Adam (betas 0.9, 0.98), constant learning rate;
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
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from . import fila, flops, losses, metrics, targets
from .cache import atomic_directory, write_json_atomic
from .records import Environment, Epoch, RunRecord

LORA_INITS = ("random", "pissa", "fila")


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
    fisher_estimator: str = "per_example"  # FILA's Fisher: "per_example" (paper, E[g^2]) or "micro_batch" (official code)

    def __post_init__(self):
        if self.init not in LORA_INITS:
            raise ValueError(f"unknown LoRA init {self.init!r}; choose one of {LORA_INITS}")
        if self.rank < 1:
            raise ValueError(f"LoRA rank must be >= 1, got {self.rank}")
        if self.fisher_estimator not in fila.FISHER_ESTIMATORS:
            raise ValueError(f"unknown Fisher estimator {self.fisher_estimator!r}; choose one of {fila.FISHER_ESTIMATORS}")

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


def _check_inputs(model, forget, retain, objective, thresholds, max_epochs):
    if thresholds is None:
        raise ValueError("thresholds are required: compute them with metrics.forgetting_thresholds(model, heldout)")
    if not isinstance(forget, torch.Tensor) or forget.dim() != 2 or forget.shape[0] == 0:
        raise ValueError(f"forget must be a non-empty (N, T) tensor of token ids, got "
                         f"{tuple(forget.shape) if isinstance(forget, torch.Tensor) else type(forget).__name__}")
    context = getattr(model.config, "max_position_embeddings", None)
    if context is not None and forget.shape[1] > context:
        raise ValueError(f"forget sequences have {forget.shape[1]} tokens, longer than the model's context ({context})")
    metrics.check_sequences(forget, thresholds.n + 1, name="forget")
    if objective.needs_retain and (retain is None or len(retain) == 0):
        raise ValueError(f"method {objective.name!r} needs a retain set")
    if max_epochs < 1:
        raise ValueError(f"max_epochs must be >= 1, got {max_epochs}")


def wrap_lora(model, settings: LoraSettings, forget, retain, micro_batch: int = 32, progress: bool = False,
              forget_mask=None, retain_mask=None):
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
        fisher = (fila.fisher_information(model, forget, names, micro_batch, forget_mask, progress, est),
                  fila.fisher_information(model, retain, names, micro_batch, retain_mask, progress, est))
        plain = flops.flop_model(model)
        targeted = sum(m.weight.numel() for m in fila.targeted_linears(model, names).values())
        fisher_cost = dataclasses.replace(plain, trainable_linear_params=targeted)
        setup_flops = fisher_cost.train_step(len(forget), forget.shape[1]) + fisher_cost.train_step(
            len(retain), retain.shape[1])
    config = LoraConfig(r=settings.rank, lora_alpha=settings.lora_alpha, target_modules=names, lora_dropout=0.0,
                        init_lora_weights="pissa" if settings.init == "pissa" else True)
    peft_model = get_peft_model(model, config)
    if fisher is not None:
        fila.initialise(peft_model, *fisher, eps=settings.fila_eps)
    return peft_model, setup_flops


PRECISIONS = ("auto", "fp32", "bf16-autocast")


def training_precision(precision: str, device: torch.device) -> str:
    """The arithmetic a run trains in: ``"auto"`` is bf16 autocast on CUDA, fp32 elsewhere.

    Either way the trained weights are fp32 master weights: a model loaded in bf16 is cast
    to fp32 before training, so small steps (lr 2e-6 on weights of size 0.02) are not lost
    to bf16 rounding.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"unknown precision {precision!r}; choose one of {PRECISIONS}")
    if precision == "auto":
        return "bf16-autocast" if device.type == "cuda" else "fp32"
    if precision == "bf16-autocast" and device.type != "cuda":
        raise ValueError(f"precision 'bf16-autocast' needs a CUDA device (the model is on {device.type}); use 'fp32'")
    return precision


def autocast(precision: str, device: torch.device):
    """The autocast context of a training precision (a no-op for fp32)."""
    import contextlib

    if precision == "bf16-autocast":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def unlearn(model, forget: torch.Tensor, retain: torch.Tensor | None = None, *, method: str = "gd",
            lora=None, lr: float = 5e-5, max_epochs: int = 20, thresholds: metrics.Thresholds | None = None,
            seed: int = 0, micro_batch: int = 32, betas: tuple[float, float] = (0.9, 0.98),
            objective_kwargs: dict | None = None, reference=None, save_dir: str | Path | None = None,
            record_path: str | Path | None = None, in_place: bool = False, progress: bool = True,
            tags: dict | None = None, el_every_epoch: bool = False, el_function=None,
            precision: str = "auto") -> Run:
    """Unlearn ``forget`` from ``model`` until the forgetting criterion holds or ``max_epochs``.

    Args:
        model: a Hugging Face causal LM (not modified unless ``in_place``).
        forget: ``(N, T)`` token ids to forget (unpadded).
        retain: ``(M, T)`` token ids to keep; a batch of ``N`` rows is drawn from it each epoch.
        method: objective name in :data:`unlearnkit.losses.OBJECTIVES` (``ga, gd, ihl, …``).
        lora: ``None`` (full fine-tuning), ``"lora"``/``"fila"``/``"pissa"``, a dict or :class:`LoraSettings`.
        lr: learning rate (paper: 5e-5 full, 2e-4 LoRA/FILA).
        thresholds: the forgetting thresholds (held-out MA and EL_n); required.
        seed: seeds the retain draws and LoRA's random init.
        micro_batch: forget rows per forward pass (gradient accumulation over the epoch).
        objective_kwargs: extra weights for the objective (e.g. ``{"retain_weight": 1.0}``).
        reference: frozen reference model for KL/NPO objectives (default: a copy of ``model``).
        save_dir: where to save the unlearned (merged) model in safetensors, atomically.
        record_path: where to write the JSON record, atomically.
        tags: free-form labels copied into the record (forget set name, retain source, …).
        el_every_epoch, el_function: for benchmarks only — compute EL every epoch, with another
            implementation ``el_function(model, ids, n) -> (N,)`` (default: ``metrics.extraction_likelihood``).
        precision: ``"auto"`` (bf16 autocast on CUDA, fp32 elsewhere), ``"fp32"`` or
            ``"bf16-autocast"``; the trained weights are fp32 either way (:func:`training_precision`).
    Returns:
        A :class:`Run`.
    """
    objective = losses.get(method)
    lora = _as_lora(lora)
    _check_inputs(model, forget, retain, objective, thresholds, max_epochs)
    device = next(model.parameters()).device
    precision = training_precision(precision, device)
    loaded_dtype = str(next(model.parameters()).dtype).removeprefix("torch.")
    forget, retain = forget.to(device), (retain.to(device) if retain is not None else None)
    if objective.needs_reference and reference is None:
        reference = copy.deepcopy(model).eval().requires_grad_(False)
    if not in_place:
        model = copy.deepcopy(model)
    if next(model.parameters()).dtype in (torch.bfloat16, torch.float16):
        model.float()  # fp32 master weights for a model loaded in half precision (float64 stays)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    N, T = forget.shape
    config = {"method": method, "lora": dataclasses.asdict(lora) if lora else None, "lr": lr, "max_epochs": max_epochs,
              "seed": seed, "micro_batch": micro_batch, "betas": list(betas), "objective_kwargs": objective_kwargs or {},
              "thresholds": dataclasses.asdict(thresholds), "forget_shape": [N, T],
              "retain_rows": None if retain is None else len(retain), "precision": precision}
    start = time.perf_counter()
    setup_start = time.perf_counter()
    setup_flops = 0.0
    if lora is not None:
        # FILA's retain Fisher uses a retain sample of the forget set's size (seeded)
        sample = None if retain is None else retain[
            torch.randperm(len(retain), generator=torch.Generator().manual_seed(seed + 1))[:N]]
        model, setup_flops = wrap_lora(model, lora, forget, sample, micro_batch, progress=False)
    else:
        model.requires_grad_(True)
    setup_seconds = time.perf_counter() - setup_start
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    base_params = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n)
    cost = flops.flop_model(model)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr, betas=betas)
    epochs: list[Epoch] = []
    status, train_s, eval_s, train_flops = "max_epochs", 0.0, 0.0, 0.0
    bar = tqdm(range(1, max_epochs + 1), desc=f"unlearn[{method}{'+' + lora.init if lora else ''}]",
               disable=not progress, leave=False)
    for epoch in bar:
        t0 = time.perf_counter()
        model.train()
        retain_idx = torch.randint(len(retain), (N,), generator=gen) if retain is not None else None
        total, parts = 0.0, {}
        for s in range(0, N, micro_batch):
            rows = slice(s, min(N, s + micro_batch))
            weight = (rows.stop - rows.start) / N
            batch = losses.UnlearnBatch(
                forget=losses.lm_batch(forget[rows]),
                retain=losses.lm_batch(retain[retain_idx[rows]]) if objective.needs_retain else None,
                reference=reference,
            )
            with autocast(precision, device):
                loss = objective(model, batch, **(objective_kwargs or {}))
            (loss.value.float() * weight).backward()
            total += loss.value.item() * weight
            for k, v in loss.parts.items():
                parts[k] = parts.get(k, 0.0) + v * weight
        passes = N * (2 if objective.needs_retain else 1)
        train_flops += cost.train_step(passes, T) + (cost.forward(T) * N if objective.needs_reference else 0.0)
        if not math.isfinite(total):
            train_s += time.perf_counter() - t0
            epochs.append(Epoch(epoch, total, train_seconds=time.perf_counter() - t0, parts=parts))
            status = "non_finite_loss"
            break
        opt.step()
        opt.zero_grad(set_to_none=True)
        t1 = time.perf_counter()
        train_s += t1 - t0
        model.eval()
        ma_seq = metrics.memorization_accuracy(model, forget)
        ma = ma_seq.mean().item()
        el, bound, evaluated = None, None, None
        if el_every_epoch or (ma < thresholds.ma and epoch == max_epochs):
            el = (el_function or metrics.extraction_likelihood)(model, forget, n=thresholds.n).mean().item()
        elif ma < thresholds.ma:
            check = metrics.extraction_likelihood_below(model, forget, thresholds.el, n=thresholds.n,
                                                        order=ma_seq.argsort(descending=True, stable=True))
            el = check.mean
            if el is None:  # decided "not yet" from part of the forget set
                bound, evaluated = check.lower_bound, check.evaluated
        eval_s += time.perf_counter() - t1
        epochs.append(Epoch(epoch, total, ma=ma, el=el, el_lower_bound=bound, el_sequences=evaluated,
                            train_seconds=t1 - t0, eval_seconds=time.perf_counter() - t1, parts=parts))
        bar.set_postfix(loss=f"{total:.3f}", ma=f"{ma:.3f}",
                        el=f"{el:.3f}" if el is not None else (f">={bound:.3f}" if bound is not None else "-"))
        if el is not None and thresholds.met(ma, el):
            status = "forgotten"
            break
    bar.close()
    model.eval()
    if lora is not None:
        model = model.merge_and_unload()
    last = epochs[-1]
    record = RunRecord(
        status=status, epochs=len(epochs) if status == "forgotten" else None, epochs_run=len(epochs),
        config=config, history=epochs, final_ma=last.ma, final_el=last.el, tags=dict(tags or {}),
        trainable_params=trainable, params=base_params, trainable_share=trainable / base_params,
        train_flops=train_flops, setup_flops=setup_flops, setup_seconds=setup_seconds, train_seconds=train_s,
        eval_seconds=eval_s, wall_seconds=time.perf_counter() - start,
        environment=Environment.of(model, precision, loaded_dtype),
    )
    if save_dir is not None:
        save_dir = Path(save_dir)
        with atomic_directory(save_dir) as tmp:
            model.save_pretrained(tmp, safe_serialization=True)
            write_json_atomic(tmp / "unlearn_record.json", record.to_dict())
        record.saved_to = str(save_dir)
    if record_path is not None:
        write_json_atomic(Path(record_path), record.to_dict())
    return Run(model, RunRecord.from_dict(json.loads(json.dumps(record.to_dict()))))
