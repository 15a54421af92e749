"""Fixed-step training loops for the second paper: LoRA fine-tuning, and step-budget unlearning.

Gundavarapu et al. (after Yao et al.) unlearn for a fixed number of optimiser steps (1,000
steps of batch 2) rather than Jang et al.'s epoch-wise criterion, which is
:mod:`unlearnkit.trainer`.  :func:`unlearn_steps` runs that fixed budget and, every
``check_every`` steps, calls a ``check`` (e.g. the harmful rate of the forget prompts) so a
run can also stop at a criterion — both the budget and the step at which the criterion
first held are recorded.  :func:`finetune` is plain next-token training on labelled
batches (of a model wrapped by :func:`unlearnkit.trainer.wrap_lora`, or of every weight), used
to build the "before" models.

Batches come from caller-supplied functions of the step number, so the loops know nothing
about the data.  The model passed in is trained in place.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import torch
from tqdm import tqdm

from .. import losses


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _to(batch: dict | None, device) -> dict | None:
    return None if batch is None else {k: v.to(device) for k, v in batch.items()}


def finetune(model, batches: Callable[[int], dict], steps: int, lr: float, progress: bool = True,
             desc: str = "fine-tune") -> dict:
    """Minimise next-token NLL on ``batches(step)`` (lm batches with labels) for ``steps`` AdamW steps.

    Trains the parameters that require grad.  Returns ``{"losses": [...], "seconds": s}``.
    """
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    device = _device(model)
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("no trainable parameters")
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    model.train()
    history, start = [], time.perf_counter()
    bar = tqdm(range(steps), desc=desc, disable=not progress, leave=False)
    for step in bar:
        b = _to(batches(step), device)
        loss = losses.nll(model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits, b["labels"])
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        history.append(loss.item())
        if step % 10 == 0:
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    model.eval()
    return {"losses": history, "seconds": time.perf_counter() - start}


def unlearn_steps(model, method: str, batches: Callable[[int], losses.UnlearnBatch], steps: int, lr: float,
                  check: Callable[[object], dict] | None = None, check_every: int = 0,
                  stop: Callable[[dict], bool] | None = None, stop_early: bool = False,
                  objective_kwargs: dict | None = None, progress: bool = True) -> dict:
    """Run ``steps`` AdamW steps of objective ``method`` on ``batches(step)``.

    Every ``check_every`` steps (and after the last) ``check(model)`` returns measurements;
    ``stop(measurements)`` says whether the criterion holds.  ``criterion_step`` is the first
    checked step where it held (``None`` if never); with ``stop_early`` the run ends there,
    otherwise it runs the whole budget.  A non-finite loss ends the run
    (``status="non_finite_loss"``).
    """
    objective = losses.get(method)
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if (check is None) != (check_every == 0):
        raise ValueError("give check and check_every together (or neither)")
    device = _device(model)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0)
    history, checks, criterion_step, status = [], [], None, "budget"
    start = time.perf_counter()
    bar = tqdm(range(1, steps + 1), desc=f"unlearn[{method}]", disable=not progress, leave=False)
    for step in bar:
        model.train()
        b = batches(step - 1)
        b = losses.UnlearnBatch(forget=_to(b.forget, device), retain=_to(b.retain, device),
                                random=_to(b.random, device), reference=b.reference)
        loss = objective(model, b, **(objective_kwargs or {}))
        if not math.isfinite(loss.value.item()):
            history.append({"step": step, "loss": loss.value.item(), **loss.parts})
            status = "non_finite_loss"
            break
        loss.value.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        history.append({"step": step, "loss": loss.value.item(), **loss.parts})
        if check is not None and (step % check_every == 0 or step == steps):
            model.eval()
            measured = {"step": step, **check(model)}
            checks.append(measured)
            bar.set_postfix({k: f"{v:.3f}" for k, v in measured.items() if isinstance(v, float)})
            if criterion_step is None and stop is not None and stop(measured):
                criterion_step = step
                if stop_early:
                    status = "criterion"
                    break
    model.eval()
    return {"status": status, "steps_run": len(history), "criterion_step": criterion_step, "history": history,
            "checks": checks, "seconds": time.perf_counter() - start}
