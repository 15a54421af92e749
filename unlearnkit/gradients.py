"""Gradient analysis of unlearning objectives with respect to the logits (Cha et al. 2024, §4.1).

For each predicted token, the gradient of an objective w.r.t. the ``V`` logits says which
tokens the update pushes up or down.  This module computes those per-token gradients with
autograd through the library's own losses (:mod:`unlearnkit.losses`) and summarises how
concentrated they are.  It analyses; it does not train.
"""

from __future__ import annotations

import torch
from torch import Tensor

from . import losses


def per_token_logit_gradients(logits: Tensor, labels: Tensor, objective: str) -> Tensor:
    """Gradient of the per-token objective w.r.t. the logits, ``(M, V)`` for the M predicted tokens.

    ``objective`` is ``"ga"`` (the GA loss ``log p(x_t)``, i.e. ``-NLL``) or ``"ihl"``. The mean
    over tokens in the losses is undone (multiplied by M), so each row is one token's gradient.
    """
    logits = logits.detach().double().requires_grad_(True)
    if objective == "ga":
        value = -losses.nll(logits, labels)
    elif objective == "ihl":
        value = losses.inverted_hinge_loss(logits, labels)
    else:
        raise ValueError(f"objective must be 'ga' or 'ihl', got {objective!r}")
    (grad,) = torch.autograd.grad(value, logits)
    mask = labels[:, 1:] != losses.IGNORE
    return grad[:, :-1][mask] * mask.sum()


def effective_support(grad: Tensor) -> Tensor:
    """``exp(entropy)`` of each row's normalised ``|grad|``: how many tokens the update really
    touches (1 = one token, V = spread evenly over the vocabulary). ``(M,)``."""
    w = grad.abs()
    w = w / w.sum(-1, keepdim=True).clamp(min=1e-300)
    entropy = -(w * torch.log(w.clamp(min=1e-300))).sum(-1)
    return entropy.exp()


def mass_share(grad: Tensor, index: Tensor) -> Tensor:
    """Share of each row's L1 gradient mass on the tokens ``index`` ``(M, k)``. ``(M,)``."""
    w = grad.abs()
    return w.gather(-1, index).sum(-1) / w.sum(-1).clamp(min=1e-300)


def target_and_runner_up(logits: Tensor, labels: Tensor) -> Tensor:
    """``(M, 2)``: the true next token ``x_t`` and the most likely other token ``v*``."""
    lg, lb = logits[:, :-1], labels[:, 1:]
    mask = lb != losses.IGNORE
    lg, lb = lg[mask], lb[mask]
    other = lg.clone()
    other.scatter_(-1, lb.unsqueeze(-1), float("-inf"))
    return torch.stack([lb, other.argmax(-1)], dim=-1)
