"""Analytic FLOP counts of a causal LM's forward and backward passes (matmuls only).

Counts what dominates and what ``torch.utils.flop_counter.FlopCounterMode`` counts:
every ``nn.Linear`` (including peft's LoRA ``A``/``B`` and the output layer) at ``2·in·out``
per token, and the attention score and value products at ``4·T²·d`` per layer and
sequence.  A backward pass computes input gradients (about one forward) plus weight
gradients of the *trainable* linears only, so LoRA runs cost about two thirds of full
fine-tuning per step.  Element-wise work (softmax, norms, the loss) is not counted.
This module counts; the trainer records (see :mod:`unlearnkit.trainer`).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class FlopModel:
    linear_params: int  # sum of in*out over all Linear layers (incl. output layer, LoRA A/B)
    trainable_linear_params: int  # the same over Linear layers whose weight is trained
    layers: int
    hidden: int

    def forward(self, seq_len: int) -> float:
        """Forward FLOPs of one sequence of ``seq_len`` tokens."""
        return 2.0 * seq_len * self.linear_params + 4.0 * self.layers * seq_len**2 * self.hidden

    def backward(self, seq_len: int) -> float:
        """Backward FLOPs of one sequence: input gradients + trainable weight gradients."""
        inputs = 2.0 * seq_len * self.linear_params + 8.0 * self.layers * seq_len**2 * self.hidden
        return inputs + 2.0 * seq_len * self.trainable_linear_params

    def train_step(self, sequences: int, seq_len: int) -> float:
        return sequences * (self.forward(seq_len) + self.backward(seq_len))


def _linears(model):
    for module in model.modules():
        if isinstance(module, torch.nn.Linear):
            yield module
        elif type(module).__name__ == "Conv1D" and hasattr(module, "weight"):  # GPT-2 style
            yield module


def flop_model(model) -> FlopModel:
    """The :class:`FlopModel` of ``model`` as it is now (which weights are trainable)."""
    total = trainable = 0
    for module in _linears(model):
        size = module.weight.shape[0] * module.weight.shape[1]
        total += size
        if module.weight.requires_grad:
            trainable += size
    config = getattr(model, "config", None)
    layers = getattr(config, "num_layers", None) or getattr(config, "num_hidden_layers", 0)
    hidden = getattr(config, "hidden_size", 0)
    return FlopModel(total, trainable, int(layers), int(hidden))
