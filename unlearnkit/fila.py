"""FILA: Fisher-weighted initialisation of LoRA adapters (Cha et al. 2024, section 4.2).

Two phases, as peft's data-dependent initialisations (LoRA-GA, EVA, CorDA) do:

1. **estimate** — :func:`fisher_information`: the empirical Fisher (squared gradients of the
   LM loss, token-weighted as in the official code) of every LoRA-targeted weight, once on
   the forget set and once on the retain set; cacheable with :func:`save_fisher`.
2. **initialise** — :func:`initialise`: for each LoRA layer, row weights
   ``w_i = sqrt(sum_j F_f[i, j] / (eps + F_r[i, j]))``, the row-weighted rank-r optimum
   ``B*, A* = argmin ||diag(w)(W - BA)||_F`` (:func:`weighted_low_rank`, closed form by SVD),
   adapter weights set so that ``s * B A = B* A*`` and the base weight replaced by
   ``W - s * B A`` (``s = lora_alpha / r``), so the model's output is unchanged.

Convention for saving (see :mod:`unlearnkit.trainer`): after unlearning the adapter is
merged (``merge_and_unload``), giving a plain model whose weights are
``W - sB*A* + sBA``; base and adapter are never saved separately.

Beyond the paper: :func:`weighted_low_rank_em` solves the general element-wise weighted
problem (the paper's eq. 3) with Srebro & Jaakkola's EM iteration, to measure what the
row-wise simplification loses.  This module initialises; it does not train.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import torch
from torch import Tensor
from tqdm import tqdm

EPS = 1e-5  # official code's eps in F_f / (eps + F_r)


# ------------------------------------------------------------------------ Fisher


def targeted_linears(model, target_modules: Iterable[str]) -> dict[str, torch.nn.Module]:
    """Modules whose name ends with one of ``target_modules`` (peft's suffix matching)."""
    targets = list(target_modules)
    found = {
        name: module
        for name, module in model.named_modules()
        if hasattr(module, "weight")
        and module.weight is not None
        and module.weight.dim() == 2
        and any(name == t or name.endswith("." + t) for t in targets)
    }
    if not found:
        raise ValueError(f"no module of {type(model).__name__} matches target_modules={targets}")
    return found


FISHER_ESTIMATORS = ("per_example", "micro_batch")


def fisher_information(
    model,
    input_ids: Tensor,
    target_modules: Iterable[str],
    batch_size: int = 8,
    attention_mask: Tensor | None = None,
    progress: bool = False,
    estimator: str = "per_example",
) -> dict[str, Tensor]:
    """Empirical Fisher ``E[(dL/dW)^2]`` of each targeted weight, token-weighted.

    ``estimator="per_example"`` (the paper's eq. 2): the gradient of each sequence's mean
    next-token NLL is squared and weighted by its token count, so the result is a mean of
    per-example squared gradients, ``E[g^2]``.  ``estimator="micro_batch"`` (the official
    code): the gradient of each micro-batch of ``batch_size`` rows is squared, which for a
    micro-batch holding the whole set is ``(E g)^2``.  Either way the sum is divided by the
    total token count.

    Args:
        model: a causal LM (not yet wrapped by peft).
        input_ids: ``(N, T)`` sequences; ``attention_mask`` optional (padding gets no loss).
        target_modules: module-name suffixes, e.g. ``["q_proj", "v_proj", "c_fc", "c_proj"]``.
        batch_size: rows per micro-batch for ``estimator="micro_batch"`` (ignored otherwise).
        estimator: ``"per_example"`` or ``"micro_batch"``.
    Returns:
        ``{module name: Fisher tensor shaped like its weight}`` (float32, on CPU).
    """
    if estimator not in FISHER_ESTIMATORS:
        raise ValueError(f"unknown Fisher estimator {estimator!r}; choose one of {FISHER_ESTIMATORS}")
    if estimator == "per_example":
        batch_size = 1
    modules = targeted_linears(model, target_modules)
    saved = {p: p.requires_grad for p in model.parameters()}
    for p in model.parameters():
        p.requires_grad_(False)
    for m in modules.values():
        m.weight.requires_grad_(True)
    fisher = {name: torch.zeros_like(m.weight, dtype=torch.float32) for name, m in modules.items()}
    total = 0
    was_training = model.training
    model.eval()
    try:
        starts = range(0, len(input_ids), batch_size)
        for s in tqdm(starts, desc="Fisher", disable=not progress, leave=False):
            ids = input_ids[s : s + batch_size]
            mask = torch.ones_like(ids) if attention_mask is None else attention_mask[s : s + batch_size]
            labels = ids.masked_fill(mask == 0, -100)
            tokens = int((labels[:, 1:] != -100).sum())
            loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
            grads = torch.autograd.grad(loss, [m.weight for m in modules.values()])
            for name, g in zip(modules, grads):
                fisher[name] += g.float().pow(2) * tokens
            total += tokens
    finally:
        for p, flag in saved.items():
            p.requires_grad_(flag)
        model.train(was_training)
    return {name: (f / total).cpu() for name, f in fisher.items()}


def save_fisher(path: str | Path, fisher: dict[str, Tensor]) -> None:
    from safetensors.torch import save_file

    from .store.cache import atomic_file

    with atomic_file(Path(path)) as tmp:
        save_file({k: v.contiguous() for k, v in fisher.items()}, str(tmp))


def load_fisher(path: str | Path) -> dict[str, Tensor]:
    from safetensors.torch import load_file

    return load_file(str(path))


def relative_importance(fisher_forget: Tensor, fisher_retain: Tensor, eps: float = EPS) -> Tensor:
    """``F_f / (eps + F_r)``: parameters important for the forget set but not the retain set."""
    return fisher_forget / (eps + fisher_retain)


def row_weights(importance: Tensor) -> Tensor:
    """``w_i = sqrt(sum_j importance[i, j])``, one per output row."""
    return importance.sum(dim=1).sqrt()


# ------------------------------------------------------------ low-rank solutions


def weighted_low_rank(weight: Tensor, row_weights: Tensor, rank: int) -> tuple[Tensor, Tensor]:
    """``(B, A)`` minimising ``||diag(w) (W - B A)||_F`` over rank ``r`` (closed form).

    With ``U S V^T`` the SVD of ``diag(w) W`` truncated to ``r``: ``B = diag(w)^-1 U S^1/2``,
    ``A = S^1/2 V^T`` (Eckart–Young applied to the row-scaled matrix).  Rows with zero
    weight are clamped to a tiny weight (their error does not count).

    Args:
        weight: ``(d, k)``; row_weights: ``(d,)`` non-negative; rank: ``1 <= r <= min(d, k)``.
    Returns:
        ``B`` of shape ``(d, r)`` and ``A`` of shape ``(r, k)``, in ``weight``'s dtype.
    """
    d, k = weight.shape
    if not 1 <= rank <= min(d, k):
        raise ValueError(f"rank must be in 1..{min(d, k)} for a {d}x{k} weight, got {rank}")
    if row_weights.shape != (d,) or bool((row_weights < 0).any()):
        raise ValueError(f"row_weights must be {d} non-negative values, got shape {tuple(row_weights.shape)}")
    W = weight.detach().double()
    w = row_weights.detach().double().clamp(min=1e-12 * float(row_weights.max().clamp(min=1e-30)))
    U, S, Vh = torch.linalg.svd(w[:, None] * W, full_matrices=False)
    root = S[:rank].sqrt()
    B = (U[:, :rank] * root) / w[:, None]
    A = root[:, None] * Vh[:rank]
    return B.to(weight.dtype), A.to(weight.dtype)


def truncated_svd(matrix: Tensor, rank: int) -> Tensor:
    U, S, Vh = torch.linalg.svd(matrix, full_matrices=False)
    return (U[:, :rank] * S[:rank]) @ Vh[:rank]


def weighted_low_rank_em(
    weight: Tensor, weights: Tensor, rank: int, iters: int = 200, init: Tensor | None = None
) -> Tensor:
    """Rank-``r`` ``X`` reducing ``sum_ij weights_ij (W_ij - X_ij)^2`` (Srebro & Jaakkola 2003).

    EM iteration ``X <- SVD_r(w * W + (1 - w) * X)`` with the weights scaled into
    ``[0, 1]``; each step does not increase the weighted error.  A local method: started
    from ``init`` (default: the row-weighted closed form with ``w_i = sqrt(mean_j weights_ij)``).
    Returns the ``(d, k)`` low-rank matrix.
    """
    W = weight.detach().double()
    Wt = weights.detach().double()
    Wt = Wt / Wt.max().clamp(min=1e-30)
    if init is None:
        B, A = weighted_low_rank(W, Wt.mean(dim=1).sqrt(), rank)
        init = B @ A
    X = init.double()
    for _ in range(iters):
        X = truncated_svd(Wt * W + (1 - Wt) * X, rank)
    return X.to(weight.dtype)


def weighted_error(weight: Tensor, approx: Tensor, weights: Tensor) -> float:
    """``sqrt(sum_ij weights_ij (W_ij - X_ij)^2)``; pass ``w[:, None] ** 2`` for row weights."""
    diff = weight.detach().double() - approx.detach().double()
    return float((diff**2 * weights.detach().double()).sum().sqrt())


# ----------------------------------------------------------- peft initialisation


def _lora_layers(peft_model, adapter: str):
    from peft.tuners.lora import LoraLayer

    for name, module in peft_model.named_modules():
        if isinstance(module, LoraLayer) and adapter in module.lora_A:
            yield name, module


def _plain_name(peft_name: str) -> str:
    for prefix in ("base_model.model.", "base_model."):
        if peft_name.startswith(prefix):
            return peft_name[len(prefix) :]
    return peft_name


@torch.no_grad()
def initialise(
    peft_model,
    fisher_forget: dict[str, Tensor],
    fisher_retain: dict[str, Tensor],
    adapter: str = "default",
    eps: float = EPS,
) -> dict[str, dict]:
    """Set every LoRA layer of ``peft_model`` to the FILA initialisation (in place).

    ``fisher_*`` are keyed by the plain model's module names (as :func:`fisher_information`
    returns them).  Returns per-layer diagnostics: rank, row-weighted error of ``B*A*``.
    """
    report = {}
    for name, layer in _lora_layers(peft_model, adapter):
        key = _plain_name(name)
        if key not in fisher_forget or key not in fisher_retain:
            raise KeyError(f"no Fisher information for LoRA layer {key!r}; have {sorted(fisher_forget)[:4]}…")
        base = layer.get_base_layer().weight
        fan_in_fan_out = getattr(layer, "fan_in_fan_out", False)
        W = base.T if fan_in_fan_out else base  # (out, in)
        Ff, Fr = fisher_forget[key], fisher_retain[key]
        if fan_in_fan_out:
            Ff, Fr = Ff.T, Fr.T
        w = row_weights(relative_importance(Ff.double(), Fr.double(), eps)).to(W.device)
        r = layer.r[adapter]
        scale = layer.scaling[adapter]
        B, A = weighted_low_rank(W.float(), w, r)
        B, A = B.double() / scale**0.5, A.double() / scale**0.5  # so that scale * B @ A = B* A*
        layer.lora_A[adapter].weight.copy_(A.to(layer.lora_A[adapter].weight.dtype))
        layer.lora_B[adapter].weight.copy_(B.to(layer.lora_B[adapter].weight.dtype))
        error = weighted_error(W, scale * B @ A, w[:, None] ** 2)
        delta = layer.get_delta_weight(adapter)  # scale * B @ A, oriented like the base weight
        base.sub_(delta.to(base.dtype))
        report[key] = {"rank": r, "row_weighted_error": error}
    if not report:
        raise ValueError(f"peft model has no LoRA layers for adapter {adapter!r}")
    return report
