"""How many rows one forward pass may hold: micro-batches sized by memory, not by the data.

A training step keeps every activation of its forward pass until the backward pass, so its
memory grows with the rows it forwards together; the full-vocabulary logits (``T x V`` floats
per row, 49,152 tokens for SmolLM2) dominate a small model's share.  Unlearning forwards the
whole forget set every epoch, so with one pass per epoch a 32-row set needed four times the
memory of an 8-row unit (22 GB against 5 GB on SmolLM2; ``benchmarks/bench_memory.py``).
Split into micro-batches whose gradients accumulate into the one optimiser step, the update
is the same whole-set gradient (to float rounding: tested) and the peak stays flat in the rows.

:func:`micro_batch_rows` estimates the activation bytes of one row from the model's
configuration and fits as many rows as a budget allows (default :data:`STEP_MEMORY_GB`, or
``$UNLEARNKIT_STEP_MEMORY_GB``).  The estimate is a rough count of what a decoder layer
keeps for its backward, calibrated on SmolLM2 (about 0.2 GB per 80-token row and forward pass,
measured), not an exact model of any library's kernels.  This module only counts.
"""

from __future__ import annotations

import os

STEP_MEMORY_GB = 2.0  # activations of one micro-batch's forward and backward
ENV = "UNLEARNKIT_STEP_MEMORY_GB"
BYTES = 4  # fp32 activations (the trainer's CPU arithmetic; bf16 autocast keeps fewer)


def _first(config, *names, default=None):
    for name in names:
        value = getattr(config, name, None)
        if value is not None:
            return value
    if default is None:
        raise ValueError(f"the model's config has none of {names}: cannot size micro-batches by memory")
    return default


def activation_bytes_per_row(config, tokens: int) -> float:
    """Rough bytes one row of ``tokens`` tokens keeps from its forward pass for the backward.

    Per token and layer: about ten hidden-size vectors (norms, projections' inputs and
    outputs, residuals), five of the feed-forward width (gate, up, activation, product) and
    three attention rows per head (scores, weights, their dropout); per token once: three of
    the vocabulary (the logits, their log-softmax and its gradient).  Calibrated on SmolLM2
    (80-token rows, LoRA (GD)): 0.39 GB per row estimated against 0.42 GB measured.
    """
    layers = _first(config, "num_hidden_layers", "n_layer", "num_layers")
    hidden = _first(config, "hidden_size", "n_embd", "d_model")
    ffn = _first(config, "intermediate_size", "n_inner", "ffn_dim", default=4 * hidden) or 4 * hidden
    heads = _first(config, "num_attention_heads", "num_heads", "n_head")
    vocab = _first(config, "vocab_size")
    per_token = layers * (10 * hidden + 5 * ffn + 3 * heads * tokens) + 3 * vocab
    return float(BYTES * tokens * per_token)


def budget_bytes(budget_gb: float | None = None) -> float:
    """The activation budget of one micro-batch: ``budget_gb``, else ``$UNLEARNKIT_STEP_MEMORY_GB``,
    else :data:`STEP_MEMORY_GB`."""
    if budget_gb is None:
        raw = os.environ.get(ENV)
        try:
            budget_gb = float(raw) if raw else STEP_MEMORY_GB
        except ValueError:
            raise ValueError(f"${ENV}={raw!r} is not a number of gigabytes") from None
    if budget_gb <= 0:
        raise ValueError(f"the micro-batch memory budget must be > 0 GB, got {budget_gb}")
    return budget_gb * 2**30


def micro_batch_rows(config, tokens: int, rows: int, passes: int = 1, budget_gb: float | None = None) -> int:
    """Rows per micro-batch (between 1 and ``rows``) whose ``passes`` forward passes of
    ``tokens`` tokens each (2 when a retain batch of the same size goes through the model too)
    fit the budget."""
    if rows < 1 or tokens < 1 or passes < 1:
        raise ValueError(f"rows, tokens and passes must be >= 1, got {rows}, {tokens}, {passes}")
    per_row = passes * activation_bytes_per_row(config, tokens)
    return max(1, min(rows, int(budget_bytes(budget_gb) // per_row)))


def balanced_slices(rows: int, most: int) -> list[slice]:
    """``rows`` split into the fewest slices of at most ``most`` rows, their sizes differing by
    at most one (32 rows at most 5: 5, 5, 5, 5, 4, 4, 4).  Equal sizes let the allocator reuse
    one micro-batch's freed blocks for the next: with a short last slice (5, 5, 5, 5, 5, 5, 2)
    the process's peak grew as if the micro-batch were larger (measured on SmolLM2)."""
    if rows < 1 or most < 1:
        raise ValueError(f"rows and most must be >= 1, got {rows} and {most}")
    count = -(-rows // most)
    bounds = [round(i * rows / count) for i in range(count + 1)]
    return [slice(a, b) for a, b in zip(bounds, bounds[1:])]
