"""The typed record of an unlearning run: what :func:`unlearnkit.trainer.unlearn` produced, and
what :func:`unlearnkit.experiments.run` adds (the spec it ran and the downstream scores).

A :class:`RunRecord` is serialised to the JSON the results cache stores (:meth:`RunRecord.to_dict`)
and read back with :meth:`RunRecord.from_dict`, which refuses a record written under another
:data:`RECORD_VERSION` with :class:`RecordVersionError` naming both versions.  Tables, verdicts
and chapters read its fields.  This module holds data only: it runs and judges nothing.
"""

from __future__ import annotations

import dataclasses
import platform
from dataclasses import dataclass, field
from typing import Any

# The record's schema version: bump when its fields or what they mean change (never for a
# change of the code that computes the numbers: cache keys carry that, unlearnkit.store.codehash).
# 4: typed records, environment and precision, retain source and Fisher estimator recorded;
# 5: ``code``, the digests of the code that computed the record; 6: ``Epoch.probe``, the
# per-epoch capability probe; 7: ``collateral_ma``, MA on the other forget units after unlearning.
RECORD_VERSION = 7


class RecordVersionError(ValueError):
    """A stored record was written under another :data:`RECORD_VERSION`."""


@dataclass
class Environment:
    """Where and how a run computed: the numbers depend on all of it."""

    device: str = "cpu"  # "cpu", "cuda", "mps": the device kind
    dtype: str = "float32"  # the weights' dtype as loaded
    precision: str = "fp32"  # training arithmetic: "fp32" or "bf16-autocast" (fp32 master weights)
    torch: str = ""
    transformers: str = ""
    peft: str = ""
    python: str = ""

    @classmethod
    def of(cls, model, precision: str, dtype: str) -> Environment:
        """``model``'s device and the library versions; ``dtype``: the weights' dtype as loaded."""
        import peft
        import torch
        import transformers

        return cls(
            device=next(model.parameters()).device.type,
            dtype=dtype,
            precision=precision,
            torch=torch.__version__,
            transformers=transformers.__version__,
            peft=peft.__version__,
            python=platform.python_version(),
        )


@dataclass
class Epoch:
    """One epoch of the unlearning loop (one optimiser step over the forget set)."""

    epoch: int
    loss: float
    ma: float | None = None
    el: float | None = None  # exact mean EL_n, when computed
    el_lower_bound: float | None = None  # when the EL test decided "not yet" from part of the set
    el_sequences: int | None = None
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)  # the objective's terms (forget_nll, retain_nll, …)
    probe: dict[str, float] = field(default_factory=dict)  # the per-epoch capability probe (log_pile_ppl, …)

    def get(self, key: str, default=None):
        """A field, an objective term or a probe value by name (``"retain_nll"``,
        ``"log_pile_ppl"``…), for plotting curves."""
        if key in self.parts:
            return self.parts[key]
        if key in self.probe:
            return self.probe[key]
        return getattr(self, key, default)


@dataclass
class RunRecord:
    """What an unlearning run produced.

    Attributes:
        status: ``"forgotten"`` (criterion met), ``"max_epochs"`` or ``"non_finite_loss"``.
        epochs: epochs to the criterion (``None`` for a failed run); ``epochs_run`` always set.
        config: the trainer's settings (method, LoRA, learning rate, budget, thresholds, …).
        spec: the experiment spec that named the run (:class:`unlearnkit.experiments.RunSpec`), if any.
        history: one :class:`Epoch` per epoch run.
        pile_ppl, reasoning, dialogue: the Table 1 capability numbers (``None`` when not evaluated);
        collateral_ma: MA after unlearning on each other forget unit the model memorised (collateral forgetting);
        downstream: the whole downstream result (per task, sizes, standard errors).
    """

    status: str
    epochs: int | None
    epochs_run: int
    config: dict[str, Any]
    history: list[Epoch]
    final_ma: float | None = None
    final_el: float | None = None
    tags: dict[str, Any] = field(default_factory=dict)
    trainable_params: int = 0
    params: int = 0
    trainable_share: float = 0.0
    train_flops: float = 0.0
    setup_flops: float = 0.0
    setup_seconds: float = 0.0
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    wall_seconds: float = 0.0
    environment: Environment = field(default_factory=Environment)
    saved_to: str | None = None
    spec: dict[str, Any] | None = None
    downstream: dict[str, Any] | None = None
    pile_ppl: float | None = None
    reasoning: float | None = None
    dialogue: float | None = None
    collateral_ma: dict[str, float] | None = None  # MA on every other memorised unit after unlearning ("set.part")
    seconds: float | None = None  # compute time of the cached record (training + evaluation)
    code: dict[str, Any] | None = None  # {"digest", "modules": {module: digest}} of the computing code
    made: dict[str, Any] | None = None  # a recorded record: where it was computed (commit, machine, date)
    version: int = RECORD_VERSION

    @property
    def succeeded(self) -> bool:
        return self.status == "forgotten"

    @property
    def max_epochs(self) -> int:
        return int(self.config["max_epochs"])

    def epochs_or_censored(self) -> int:
        """Epochs to the criterion; a failed run counts as its budget + 1 (right-censored)."""
        return int(self.epochs) if self.succeeded else self.max_epochs + 1

    @property
    def forget_set(self) -> str:
        return str(self.tags.get("forget_set", ""))

    @property
    def seed(self) -> int:
        return int(self.config.get("seed", 0))

    def with_evaluation(self, evaluation: dict[str, Any]) -> RunRecord:
        return dataclasses.replace(self, **evaluation)

    def to_dict(self) -> dict[str, Any]:
        """The JSON-able form the cache stores."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any], source: str = "record") -> RunRecord:
        """Read a stored record; raises :class:`RecordVersionError` for another version."""
        version = d.get("version")
        if version != RECORD_VERSION:
            raise RecordVersionError(
                f"{source} was written under record version {version!r}; this unlearnkit reads version "
                f"{RECORD_VERSION}. Recompute it (delete the file, or the results cache folder)."
            )
        d = dict(d)
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known - {"kind", "cache_config"}
        if unknown:
            raise ValueError(f"{source} has fields this record type does not know: {sorted(unknown)}")
        d.pop("kind", None)
        cache_config = d.pop("cache_config", None)
        if d.get("spec") is None:
            d["spec"] = cache_config
        d["history"] = [Epoch(**h) for h in d.get("history", [])]
        d["environment"] = Environment(**d.get("environment") or {})
        return cls(**d)

    @classmethod
    def load(cls, path) -> RunRecord:
        import json
        from pathlib import Path

        return cls.from_dict(json.loads(Path(path).read_text()), source=str(path))


def field_of(record, name: str, default=None):
    """``record.name`` for a :class:`RunRecord`, ``record[name]`` for a plain dict (older code, tests)."""
    if isinstance(record, dict):
        return record.get(name, default)
    return getattr(record, name, default)
