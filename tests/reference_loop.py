"""The unlearning loop as it was before the project had one training loop (commit 88e8b17),
kept as an independent reference: :mod:`unlearnkit.training` must reproduce its numbers exactly.

Only the path the test exercises is kept (fp32 on CPU, no EL checks): seeded retain draws,
micro-batches weighted by their share of the forget set, one Adam step per epoch.
"""

from __future__ import annotations

import copy

import torch

from unlearnkit import losses, metrics, trainer


def unlearn_reference(
    model,
    forget,
    retain,
    objective: str,
    lora,
    lr: float,
    epochs: int,
    seed: int = 0,
    micro_batch: int = 32,
    betas=(0.9, 0.98),
) -> dict:
    """Per-epoch loss, objective terms and MA of the old loop (no criterion: the whole budget)."""
    objective = losses.get(objective)
    model = copy.deepcopy(model)
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    N = len(forget)
    if lora is not None:
        sample = retain[torch.randperm(len(retain), generator=torch.Generator().manual_seed(seed + 1))[:N]]
        model, _ = trainer.wrap_lora(model, lora, forget, sample, micro_batch)
    else:
        model.requires_grad_(True)
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr, betas=betas)
    out = {"loss": [], "parts": [], "ma": []}
    for _ in range(epochs):
        model.train()
        retain_idx = torch.randint(len(retain), (N,), generator=gen)
        total, parts = 0.0, {}
        for s in range(0, N, micro_batch):
            rows = slice(s, min(N, s + micro_batch))
            weight = (rows.stop - rows.start) / N
            batch = losses.UnlearnBatch(
                forget=losses.lm_batch(forget[rows]),
                retain=losses.lm_batch(retain[retain_idx[rows]]) if objective.needs_retain else None,
            )
            loss = objective(model, batch)
            (loss.value.float() * weight).backward()
            total += loss.value.item() * weight
            for k, v in loss.parts.items():
                parts[k] = parts.get(k, 0.0) + v * weight
        opt.step()
        opt.zero_grad(set_to_none=True)
        model.eval()
        out["loss"].append(total)
        out["parts"].append(parts)
        out["ma"].append(metrics.memorization_accuracy(model, forget).mean().item())
    return out
