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


def closed_form_logit_gradients(logits: Tensor, labels: Tensor, objective: str) -> Tensor:
    """The same ``(M, V)`` gradients as :func:`per_token_logit_gradients`, from the paper's
    closed forms (§4.1) instead of autograd: with ``p = softmax(y)``,

    * GA (``log p(x_t)``): ``∂/∂y_v = 1[v = x_t] − p_v``;
    * IHL (``1 + p(v*) − p(x_t)``, ``v*`` the most likely other token):
      ``p_v (p* − p_x)`` for ``v ∉ {x_t, v*}``, ``p_x (p* − p_x + 1)`` at ``x_t`` and
      ``p* (p* − p_x − 1)`` at ``v*``.

    The book's gradient chapter shows that the two agree to round-off.
    """
    if objective not in ("ga", "ihl"):
        raise ValueError(f"objective must be 'ga' or 'ihl', got {objective!r}")
    lg, lb = logits[:, :-1].detach().double(), labels[:, 1:]
    mask = lb != losses.IGNORE
    y, target = lg[mask], lb[mask]
    p = torch.softmax(y, -1)
    rows = torch.arange(len(target))
    if objective == "ga":
        g = -p.clone()
        g[rows, target] += 1
        return g
    p_x = p[rows, target]
    other = p.clone()
    other[rows, target] = -1
    v_star = other.argmax(-1)
    p_star = p[rows, v_star]
    g = p * (p_star - p_x)[:, None]
    g[rows, target] = p_x * (p_star - p_x + 1)
    g[rows, v_star] = p_star * (p_star - p_x - 1)
    return g


def zipf_logits(vocab_size: int, tokens: int = 256, seed: int = 0) -> tuple[Tensor, Tensor]:
    """Synthetic ``(1, tokens + 1, V)`` logits with a Zipf-like (``-1.1 log rank``) profile plus
    noise, whose labels are each position's most likely token boosted by 2 nats (a memorised
    token): a stand-in for a language model's logits at any vocabulary size."""
    g = torch.Generator().manual_seed(seed)
    ranks = torch.arange(1, vocab_size + 1, dtype=torch.float64)
    base = -1.1 * torch.log(ranks)
    y = base[torch.randperm(vocab_size, generator=g)].repeat(tokens, 1)
    y = y + 0.5 * torch.randn(tokens, vocab_size, generator=g, dtype=torch.float64)
    target = y.argmax(-1)
    y[torch.arange(tokens), target] += 2.0
    logits = torch.cat([y, y[:1]], dim=0).unsqueeze(0)  # one extra position: row t predicts label t + 1
    labels = torch.cat([torch.zeros(1, dtype=torch.long), target]).unsqueeze(0)
    return logits, labels


def support_by_vocabulary(vocab_sizes: list[int], tokens: int = 256, seed: int = 0) -> list[dict]:
    """Median effective support of the GA and IHL logit gradients on :func:`zipf_logits` of
    each vocabulary size: ``[{"vocabulary", "objective", "effective support"}]``."""
    rows = []
    for V in vocab_sizes:
        logits, labels = zipf_logits(V, tokens, seed)
        for name in ("ga", "ihl"):
            g = per_token_logit_gradients(logits, labels, name)
            rows.append(
                {"vocabulary": V, "objective": name.upper(), "effective support": effective_support(g).median().item()}
            )
    return rows
