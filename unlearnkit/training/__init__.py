"""Training internals: the one optimisation loop, micro-batch sizing, LoRA targets and FLOP counts.

* ``loop``: :func:`train`, the loop every training step of the project runs in (unlearning,
  fine-tuning, injection, testbed pretraining), with its :class:`Optimisation` settings;
* ``targets``: the paper's LoRA target names (q, k, v, o, ffn) as module names per architecture;
* ``flops``: the FLOPs of a forward pass and a training step, counted from the architecture.

What a run *optimises* (the objectives) is :mod:`unlearnkit.losses`; when it stops (the
forgetting criterion) is :mod:`unlearnkit.trainer`.  Nothing here knows data or forgetting.
The loop's names are re-exported here: ``training.train(...)`` is :func:`loop.train`.
"""

from .loop import (
    OPTIMIZERS,
    PRECISIONS,
    Optimisation,
    Step,
    Training,
    autocast,
    master_weights,
    train,
    training_precision,
)

__all__ = [
    "OPTIMIZERS",
    "PRECISIONS",
    "Optimisation",
    "Step",
    "Training",
    "autocast",
    "master_weights",
    "train",
    "training_precision",
]
