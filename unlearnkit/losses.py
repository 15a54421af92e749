"""Unlearning objectives: one registry of named losses over forget / retain batches.

Every objective is a small function ``fn(model, batch, **weights) -> Loss`` where ``batch``
is an :class:`UnlearnBatch` (the forget batch, and where the objective needs them a retain
batch, a random-answer batch and a frozen reference model).  ``Loss.value`` is what the
optimiser minimises; ``Loss.parts`` holds the detached terms for logging.

Token-level conventions follow Hugging Face causal LMs: ``labels`` are ``input_ids`` with
ignored positions set to ``-100`` and the loss functions shift (logits at ``t`` predict
labels at ``t + 1``).

This module defines losses only; the training loop is :mod:`unlearnkit.trainer`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor

IGNORE = -100


# ----------------------------------------------------------------------- batches


def lm_batch(input_ids: Tensor, attention_mask: Tensor | None = None, labels: Tensor | None = None) -> dict:
    """A causal-LM batch: ``labels`` default to ``input_ids`` with padding set to ``-100``."""
    if attention_mask is None:
        attention_mask = torch.ones_like(input_ids)
    if labels is None:
        labels = input_ids.masked_fill(attention_mask == 0, IGNORE)
    return {"input_ids": input_ids, "attention_mask": attention_mask, "labels": labels}


@dataclass
class UnlearnBatch:
    """What one optimiser step of an objective sees."""

    forget: dict  # lm_batch of the data to forget
    retain: dict | None = None  # lm_batch of data to keep (GD, IHL, KL, NPO, yao3)
    random: dict | None = None  # harmful question + random benign answer (yao3)
    reference: torch.nn.Module | None = None  # frozen copy of the original model (KL, NPO, yao3)


@dataclass
class Loss:
    value: Tensor
    parts: dict[str, float] = field(default_factory=dict)


# ------------------------------------------------------------------ token losses


def _shift(logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    return logits[:, :-1], labels[:, 1:]


def _next_tokens(labels: Tensor, ignore_index: int = IGNORE) -> Tensor:
    """``(B, T)`` targets of every position: ``labels[:, t + 1]``, the last position ignored.

    Scoring all ``T`` positions keeps ``logits.reshape(-1, V)`` a view; slicing the logits to
    ``T - 1`` positions first would copy the whole ``(B, T, V)`` tensor.
    """
    return torch.cat([labels[:, 1:], labels.new_full((labels.shape[0], 1), ignore_index)], dim=1)


def nll(logits: Tensor, labels: Tensor, ignore_index: int = IGNORE) -> Tensor:
    """Mean next-token negative log-likelihood over unmasked tokens (HF's LM loss), computed
    without a copy of the logits (:func:`_next_tokens`)."""
    target = _next_tokens(labels, ignore_index)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=ignore_index)


class _InvertedHinge(torch.autograd.Function):
    """Per-token IHL with its closed-form gradient (Cha et al., appendix A) as the backward.

    Forward keeps only per-token scalars (log-normaliser, p(x_t), p(v*), v*) besides the
    logits autograd already holds; backward builds the ``(N, V)`` gradient in one tensor.
    """

    @staticmethod
    def forward(ctx, logits, target, weight):  # logits (N, V), target (N,), weight (N,)
        lse = torch.logsumexp(logits, dim=-1)
        y_true = logits.gather(-1, target[:, None]).squeeze(-1)
        top2, idx2 = logits.topk(2, dim=-1)  # the best other token is top-1 unless top-1 is the target
        first_is_target = idx2[:, 0] == target
        y_other = torch.where(first_is_target, top2[:, 1], top2[:, 0])
        v_star = torch.where(first_is_target, idx2[:, 1], idx2[:, 0])
        p_true, p_other = torch.exp(y_true - lse), torch.exp(y_other - lse)
        value = torch.clamp(1 + p_true - p_other, min=0)
        ctx.save_for_backward(logits, target, weight, lse, p_true, p_other, v_star, value)
        return (value * weight).sum()

    @staticmethod
    def backward(ctx, grad_out):
        logits, target, weight, lse, p_true, p_other, v_star, value = ctx.saved_tensors
        scale = grad_out * weight * (value > 0)  # the hinge's flat side has no gradient
        grad = torch.exp(logits - lse[:, None])  # p(v), the one full-vocabulary tensor
        grad.mul_(((p_other - p_true) * scale)[:, None])  # other v: p(v) (p* - p_x)
        rows = torch.arange(len(target), device=logits.device)
        grad[rows, target] += p_true * scale  # v = x_t: p_x (p* - p_x + 1)
        grad[rows, v_star] -= p_other * scale  # v = v*: p* (p* - p_x - 1)
        return grad, None, None


def inverted_hinge_loss(logits: Tensor, labels: Tensor, ignore_index: int = IGNORE) -> Tensor:
    """Inverted Hinge Loss (Cha et al. 2024, eq. 2), mean over unmasked tokens.

    ``IHL(x_t) = max(0, 1 + p(x_t) - max_{v != x_t} p(v))`` with ``p`` the softmax over the
    full vocabulary of the logits that predict ``x_t``.  Values lie in ``[0, 2]``.

    Args:
        logits: ``(B, T, V)``; position ``t`` predicts ``labels[:, t + 1]``.
        labels: ``(B, T)``; ``ignore_index`` marks positions without a loss.

    Memory: no full-vocabulary probability tensor in the forward pass, one in the backward
    (the gradient itself, from the closed form); checked against autograd through plain
    tensor operations in ``tests/test_losses.py``.
    """
    # position t predicts labels[:, t + 1]; the last position predicts nothing (weight 0).
    # Working on all T positions keeps `logits.reshape` a view: no copy of (B, T, V).
    target = _next_tokens(labels, ignore_index)
    mask = target != ignore_index
    count = mask.sum()
    if count == 0:
        raise ValueError("inverted_hinge_loss: every label is ignore_index; nothing to compute")
    flat = logits.reshape(-1, logits.shape[-1])
    weight = mask.reshape(-1).to(flat.dtype) / count
    return _InvertedHinge.apply(flat, target.reshape(-1).masked_fill(~mask.reshape(-1), 0), weight)


def masked_kl(logits: Tensor, ref_logits: Tensor, attention_mask: Tensor) -> Tensor:
    """Mean over unpadded positions of KL(p_ref || p_model) of the next-token distributions."""
    logq = F.log_softmax(logits.float(), dim=-1)
    logp = F.log_softmax(ref_logits.float(), dim=-1)
    kl = (logp.exp() * (logp - logq)).sum(-1)  # (B, T)
    mask = attention_mask.to(kl.dtype)
    return (kl * mask).sum() / mask.sum().clamp(min=1)


def sequence_log_likelihood(logits: Tensor, labels: Tensor, ignore_index: int = IGNORE) -> Tensor:
    """Per-sequence sum of next-token log-probabilities over unmasked tokens, ``(B,)``."""
    lg, lb = _shift(logits, labels)
    mask = lb != ignore_index
    logp = -F.cross_entropy(lg.transpose(1, 2), lb.masked_fill(~mask, 0), reduction="none")  # (B, T-1)
    return (logp * mask).sum(-1)


# -------------------------------------------------------------------- objectives


def _forward(model, batch: dict) -> Tensor:
    return model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits


def _require(batch: UnlearnBatch, name: str, *needs: str) -> None:
    missing = [n for n in needs if getattr(batch, n) is None]
    if missing:
        raise ValueError(f"objective {name!r} needs {', '.join(missing)} in the UnlearnBatch")


def _retain_nll(model, batch: UnlearnBatch) -> Tensor:
    return nll(_forward(model, batch.retain), batch.retain["labels"])


def _retain_kl(model, batch: UnlearnBatch) -> Tensor:
    with torch.no_grad():
        ref = _forward(batch.reference, batch.retain)
    return masked_kl(_forward(model, batch.retain), ref, batch.retain["attention_mask"])


def ga(model, batch: UnlearnBatch) -> Loss:
    """Gradient ascent (Jang et al. 2023): ``-NLL(forget)``. Unbounded below."""
    forget = nll(_forward(model, batch.forget), batch.forget["labels"])
    return Loss(-forget, {"forget_nll": forget.item()})


def gd(model, batch: UnlearnBatch, retain_weight: float = 1.0) -> Loss:
    """Gradient difference (Liu et al. 2022; Cha et al.'s GD): ``-NLL(forget) + NLL(retain)``."""
    _require(batch, "gd", "retain")
    forget = nll(_forward(model, batch.forget), batch.forget["labels"])
    retain = _retain_nll(model, batch)
    return Loss(-forget + retain_weight * retain, {"forget_nll": forget.item(), "retain_nll": retain.item()})


def ihl_only(model, batch: UnlearnBatch) -> Loss:
    """Inverted Hinge Loss on the forget set alone (Cha et al. 2024)."""
    logits = _forward(model, batch.forget)
    hinge = inverted_hinge_loss(logits, batch.forget["labels"])
    return Loss(hinge, {"forget_ihl": hinge.item()})


def ihl(model, batch: UnlearnBatch, retain_weight: float = 1.0) -> Loss:
    """Cha et al. 2024: ``IHL(forget) + NLL(retain)`` (GD with GA replaced by IHL)."""
    _require(batch, "ihl", "retain")
    logits = _forward(model, batch.forget)
    hinge = inverted_hinge_loss(logits, batch.forget["labels"])
    retain = _retain_nll(model, batch)
    return Loss(hinge + retain_weight * retain, {"forget_ihl": hinge.item(), "retain_nll": retain.item()})


def kl(model, batch: UnlearnBatch, retain_weight: float = 1.0) -> Loss:
    """GA with a KL retain term (Yao et al. 2023; open-unlearning's GradDiff-KL):
    ``-NLL(forget) + KL(p_ref || p_model)`` on retain, masked to real tokens."""
    _require(batch, "kl", "retain", "reference")
    forget = nll(_forward(model, batch.forget), batch.forget["labels"])
    div = _retain_kl(model, batch)
    return Loss(-forget + retain_weight * div, {"forget_nll": forget.item(), "retain_kl": div.item()})


def yao3(model, batch: UnlearnBatch, eps1: float = 0.5, eps2: float = 1.0, eps3: float = 1.0) -> Loss:
    """Yao et al. 2023, used by Gundavarapu et al. 2024:
    ``eps1 * GA(harmful answer) + eps2 * NLL(random benign answer | harmful question)
    + eps3 * KL(retain)``.  ``forget`` and ``random`` carry labels on answer tokens only."""
    _require(batch, "yao3", "random", "retain", "reference")
    forget = nll(_forward(model, batch.forget), batch.forget["labels"])
    rand = nll(_forward(model, batch.random), batch.random["labels"])
    div = _retain_kl(model, batch)
    value = -eps1 * forget + eps2 * rand + eps3 * div
    return Loss(value, {"forget_nll": forget.item(), "random_nll": rand.item(), "retain_kl": div.item()})


def npo(model, batch: UnlearnBatch, beta: float = 0.1, retain_weight: float = 1.0) -> Loss:
    """Negative preference optimisation (Zhang et al. 2024) + NLL(retain):
    ``-(2/beta) * logsigmoid(-beta * (log p(y) - log p_ref(y)))`` per forget sequence."""
    _require(batch, "npo", "retain", "reference")
    logp = sequence_log_likelihood(_forward(model, batch.forget), batch.forget["labels"])
    with torch.no_grad():
        ref = sequence_log_likelihood(_forward(batch.reference, batch.forget), batch.forget["labels"])
    pref = (-2.0 / beta) * F.logsigmoid(-beta * (logp - ref)).mean()
    retain = _retain_nll(model, batch)
    return Loss(pref + retain_weight * retain, {"forget_npo": pref.item(), "retain_nll": retain.item()})


@dataclass(frozen=True)
class Objective:
    name: str
    fn: Callable[..., Loss]
    needs_retain: bool
    needs_reference: bool = False
    needs_random: bool = False

    def __call__(self, model, batch: UnlearnBatch, **kw) -> Loss:
        return self.fn(model, batch, **kw)


OBJECTIVES: dict[str, Objective] = {
    o.name: o
    for o in (
        Objective("ga", ga, needs_retain=False),
        Objective("gd", gd, needs_retain=True),
        Objective("ihl", ihl, needs_retain=True),
        Objective("ihl_only", ihl_only, needs_retain=False),
        Objective("kl", kl, needs_retain=True, needs_reference=True),
        Objective("yao3", yao3, needs_retain=True, needs_reference=True, needs_random=True),
        Objective("npo", npo, needs_retain=True, needs_reference=True),
    )
}


def get(name: str) -> Objective:
    """The objective registered as ``name``; a clear error lists the known ones."""
    if name not in OBJECTIVES:
        raise ValueError(f"unknown objective {name!r}; choose one of {sorted(OBJECTIVES)}")
    return OBJECTIVES[name]
