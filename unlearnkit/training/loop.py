"""The one optimisation loop of the project: every training step of every caller runs here.

:func:`train` runs ``steps`` optimiser steps.  Each step asks the caller for its loss
(``step_losses(step)``, one or more micro-batches whose gradients accumulate into one
step), backpropagates it in fp32, clips, steps the optimiser and the schedule, and then asks
the caller whether to stop (``after_step``).  Unlearning (:mod:`unlearnkit.trainer`), the
second paper's fine-tuning and fixed-budget unlearning (:mod:`unlearnkit.second_paper.finetune`),
memorisation injection (:mod:`unlearnkit.models.injection`) and testbed pretraining
(:mod:`unlearnkit.models.testbed`) all call it; each supplies its objective and its stopping rule.

What the loop guarantees to every caller:

* **fp32 master weights**: a model loaded in bf16/fp16 is cast to fp32 before training
  (:func:`master_weights`), and on CUDA the forward runs under bf16 autocast
  (``precision="auto"``); elsewhere it is plain fp32;
* a **non-finite loss** ends training before the optimiser step that would spread it
  (``status="non_finite_loss"``);
* a progress bar (tqdm) with the loss and whatever the caller adds to ``Step.postfix``.

This module knows nothing about data, objectives or forgetting.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import torch
from tqdm import tqdm

PRECISIONS = ("auto", "fp32", "bf16-autocast")
OPTIMIZERS = ("adam", "adamw")


def training_precision(precision: str, device: torch.device) -> str:
    """The arithmetic a run trains in: ``"auto"`` is bf16 autocast on CUDA, fp32 elsewhere.

    Either way the trained weights are fp32 master weights (:func:`master_weights`), so small
    steps (lr 2e-6 on weights of size 0.02) are not lost to bf16 rounding.
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
    if precision == "bf16-autocast":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def master_weights(model: torch.nn.Module) -> torch.nn.Module:
    """Cast a model held in half precision to fp32 in place (float64 stays); returns it."""
    if next(model.parameters()).dtype in (torch.bfloat16, torch.float16):
        model.float()
    return model


@dataclass(frozen=True)
class Optimisation:
    """How the weights are updated: optimiser, rate, clipping and arithmetic.

    ``optimizer``: ``"adam"`` or ``"adamw"`` (decoupled ``weight_decay``); ``clip``: the
    global gradient-norm limit (``None``: none); ``precision``: :data:`PRECISIONS`.
    """

    lr: float
    optimizer: str = "adamw"
    betas: tuple[float, float] = (0.9, 0.999)
    weight_decay: float = 0.0
    clip: float | None = None
    precision: str = "auto"

    def __post_init__(self):
        if not (isinstance(self.lr, (int, float)) and self.lr >= 0):
            raise ValueError(f"lr must be a number >= 0, got {self.lr!r}")
        if self.optimizer not in OPTIMIZERS:
            raise ValueError(f"unknown optimizer {self.optimizer!r}; choose one of {OPTIMIZERS}")
        if self.precision not in PRECISIONS:
            raise ValueError(f"unknown precision {self.precision!r}; choose one of {PRECISIONS}")

    def build(self, params) -> torch.optim.Optimizer:
        cls = torch.optim.Adam if self.optimizer == "adam" else torch.optim.AdamW
        return cls(params, lr=self.lr, betas=tuple(self.betas), weight_decay=self.weight_decay)


@dataclass
class Step:
    """One finished optimiser step, as ``after_step`` sees it.

    ``loss``: the step's loss (micro-batches weighted); ``parts``: the objective's named terms,
    weighted the same way; ``postfix``: what the caller wants on the progress bar.
    """

    step: int
    loss: float
    parts: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0
    postfix: dict[str, str] = field(default_factory=dict)


@dataclass
class Training:
    """What :func:`train` did: ``status`` is ``"budget"`` (every step ran), ``"stopped"``
    (``after_step`` said so) or ``"non_finite_loss"``; one :class:`Step` per step run."""

    status: str
    steps: list[Step]
    precision: str
    seconds: float

    @property
    def losses(self) -> list[float]:
        return [s.loss for s in self.steps]


def _micro_batches(item) -> tuple[torch.Tensor, float, dict]:
    """``loss`` | ``(loss, weight)``, where ``loss`` is a tensor or has ``.value`` and ``.parts``."""
    loss, weight = item if isinstance(item, tuple) else (item, 1.0)
    value = getattr(loss, "value", loss)
    return value, weight, dict(getattr(loss, "parts", {}) or {})


def train(
    model: torch.nn.Module,
    step_losses: Callable[[int], Iterable],
    steps: int,
    optimisation: Optimisation,
    *,
    params: list[torch.nn.Parameter] | None = None,
    schedule: Callable[[int], float] | None = None,
    after_step: Callable[[Step], bool | None] | None = None,
    first_step: int = 1,
    progress: bool = True,
    desc: str = "train",
    leave: bool = False,
) -> Training:
    """Run up to ``steps`` optimiser steps of ``model`` (trained in place).

    Args:
        step_losses: ``step_losses(step)`` returns the step's loss, or an iterable of
            micro-batch losses, each a tensor, an object with ``.value``/``.parts``
            (:class:`unlearnkit.losses.Loss`) or a ``(loss, weight)`` pair; each is
            backpropagated as it comes (gradients accumulate), so memory holds one at a time.
        optimisation: optimiser, rate, clipping, precision.
        params: what is trained (default: every parameter that requires grad).
        schedule: a factor on the rate per step (``torch.optim.lr_scheduler.LambdaLR``).
        after_step: called after every optimiser step with its :class:`Step`; returning
            True ends training (``status="stopped"``).  The model is in train mode again at
            the next step, whatever the callback did.
        first_step: the number of the first step (``step_losses`` and :class:`Step` use it).
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = next(model.parameters()).device
    precision = training_precision(optimisation.precision, device)
    params = [p for p in model.parameters() if p.requires_grad] if params is None else list(params)
    if not params:
        raise ValueError("no trainable parameters")
    opt = optimisation.build(params)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule) if schedule is not None else None
    done: list[Step] = []
    status, start = "budget", time.perf_counter()
    bar = tqdm(range(first_step, first_step + steps), desc=desc, disable=not progress, leave=leave)
    for number in bar:
        t0 = time.perf_counter()
        model.train()
        items = step_losses(number)
        items = [items] if isinstance(items, torch.Tensor) or hasattr(items, "value") else items
        total, parts = 0.0, {}
        iterator = iter(items)
        while True:
            with autocast(precision, device):  # the forward pass of the next micro-batch
                item = next(iterator, None)
            if item is None:
                break
            value, weight, item_parts = _micro_batches(item)
            (value.float() * weight).backward()
            total += value.item() * weight
            for k, v in item_parts.items():
                parts[k] = parts.get(k, 0.0) + v * weight
        if not math.isfinite(total):
            done.append(Step(number, total, parts, time.perf_counter() - t0))
            status = "non_finite_loss"
            break
        if optimisation.clip is not None:
            torch.nn.utils.clip_grad_norm_(params, optimisation.clip)
        opt.step()
        if sched is not None:
            sched.step()
        opt.zero_grad(set_to_none=True)
        step = Step(number, total, parts, time.perf_counter() - t0)
        done.append(step)
        stop = bool(after_step(step)) if after_step is not None else False
        bar.set_postfix({"loss": f"{total:.3f}", **step.postfix}, refresh=False)
        if stop:
            status = "stopped"
            break
    bar.close()
    model.eval()
    return Training(status, done, precision, time.perf_counter() - start)
