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
about the data.  The model passed in is trained in place.  The steps themselves run in
:func:`unlearnkit.training.train`, the project's one training loop.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import torch

from .. import losses, training


def _to(batch: dict | None, device) -> dict | None:
    return None if batch is None else {k: v.to(device) for k, v in batch.items()}


def finetune(
    model, batches: Callable[[int], dict], steps: int, lr: float, progress: bool = True, desc: str = "fine-tune"
) -> dict:
    """Minimise next-token NLL on ``batches(step)`` (lm batches with labels) for ``steps`` AdamW steps.

    Trains the parameters that require grad.  Returns ``{"losses": [...], "seconds": s}``.
    """
    device = next(model.parameters()).device

    def loss(step: int) -> torch.Tensor:
        b = _to(batches(step - 1), device)
        return losses.nll(model(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits, b["labels"])

    done = training.train(model, loss, steps, training.Optimisation(lr=lr), progress=progress, desc=desc)
    return {"losses": done.losses, "seconds": done.seconds}


def unlearn_steps(
    model,
    method: str,
    batches: Callable[[int], losses.UnlearnBatch],
    steps: int,
    lr: float,
    check: Callable[[object], dict] | None = None,
    check_every: int = 0,
    stop: Callable[[dict], bool] | None = None,
    stop_early: bool = False,
    objective_kwargs: dict | None = None,
    progress: bool = True,
) -> dict:
    """Run ``steps`` AdamW steps of objective ``method`` on ``batches(step)``.

    Every ``check_every`` steps (and after the last) ``check(model)`` returns measurements;
    ``stop(measurements)`` says whether the criterion holds.  ``criterion_step`` is the first
    checked step where it held (``None`` if never); with ``stop_early`` the run ends there,
    otherwise it runs the whole budget.  A non-finite loss ends the run
    (``status="non_finite_loss"``).
    """
    objective = losses.get(method)
    if (check is None) != (check_every == 0):
        raise ValueError("give check and check_every together (or neither)")
    device = next(model.parameters()).device
    checks: list[dict] = []
    criterion_step = None

    def loss(step: int) -> losses.Loss:
        b = batches(step - 1)
        b = losses.UnlearnBatch(
            forget=_to(b.forget, device),
            retain=_to(b.retain, device),
            random=_to(b.random, device),
            reference=b.reference,
        )
        return objective(model, b, **(objective_kwargs or {}))

    def after(step: training.Step) -> bool:
        nonlocal criterion_step
        if check is None or not (step.step % check_every == 0 or step.step == steps):
            return False
        model.eval()
        measured = {"step": step.step, **check(model)}
        checks.append(measured)
        step.postfix.update({k: f"{v:.3f}" for k, v in measured.items() if isinstance(v, float)})
        if criterion_step is None and stop is not None and stop(measured):
            criterion_step = step.step
            return stop_early
        return False

    start = time.perf_counter()
    done = training.train(
        model, loss, steps, training.Optimisation(lr=lr), after_step=after, progress=progress, desc=f"unlearn[{method}]"
    )
    status = {"budget": "budget", "stopped": "criterion", "non_finite_loss": "non_finite_loss"}[done.status]
    history = [{"step": s.step, "loss": s.loss, **s.parts} for s in done.steps]
    return {
        "status": status,
        "steps_run": len(history),
        "criterion_step": criterion_step,
        "history": history,
        "checks": checks,
        "seconds": time.perf_counter() - start,
    }
