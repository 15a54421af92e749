"""Slow reference implementations of the memorisation metrics (Jang et al. 2023).

Written for clarity, not speed, and independent of ``unlearnkit.metrics``: one fresh greedy
generation per prefix length with ``model.generate`` (as Jang et al.'s code does), and
n-gram overlaps with Python tuples and sets.
"""

from __future__ import annotations

import copy

import torch


def ngrams(seq: list[int], n: int) -> list[tuple[int, ...]]:
    return [tuple(seq[j : j + n]) for j in range(len(seq) - n + 1)]


@torch.no_grad()
def memorization_accuracy_ref(model, input_ids: torch.Tensor) -> torch.Tensor:
    out = []
    for x in input_ids.tolist():
        hits = 0
        for t in range(1, len(x)):
            logits = model(input_ids=torch.tensor([x[:t]])).logits[0, -1]
            hits += int(int(logits.argmax()) == x[t])
        out.append(hits / (len(x) - 1))
    return torch.tensor(out, dtype=torch.float64)


@torch.no_grad()
def greedy_generate(model, prefix: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """Greedy continuation of ``prefix`` (B, i) by exactly ``new_tokens`` tokens, no EOS stop."""
    config = copy.deepcopy(model.generation_config)
    config.eos_token_id = None
    config.pad_token_id = 0
    config.do_sample = False
    config.max_length = None
    out = model.generate(
        input_ids=prefix, attention_mask=torch.ones_like(prefix), generation_config=config, max_new_tokens=new_tokens
    )
    assert out.shape[1] == prefix.shape[1] + new_tokens
    return out[:, prefix.shape[1] :]


@torch.no_grad()
def extraction_likelihood_ref(model, input_ids: torch.Tensor, n: int = 10) -> torch.Tensor:
    """EL_n exactly as defined: a fresh greedy generation for every prefix length i."""
    N, T = input_ids.shape
    total = torch.zeros(N, dtype=torch.float64)
    for i in range(1, T):
        suffix_len = T - i
        if suffix_len < n:
            continue
        generated = greedy_generate(model, input_ids[:, :i], suffix_len).tolist()
        for s in range(N):
            truth = input_ids[s, i:].tolist()
            true_set = set(ngrams(truth, n))
            gen = ngrams(generated[s], n)
            total[s] += sum(g in true_set for g in gen) / len(ngrams(truth, n))
    return total / (T - n)
