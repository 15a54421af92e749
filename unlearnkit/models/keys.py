"""What a model's name says without building the model: its cache key, the rows an injection
taught, and an injection's cached report.

A survey of recorded runs (``python -m unlearnkit.book.grid plan|status``) needs the key every
run of a grid was recorded under; building an injected SmolLM2 for it would cost up to half an
hour.  These helpers read names, recipes and this machine's cache, and build nothing that
:func:`~unlearnkit.models.load` would inject.

This module is imported by no computing module (nothing a run, a threshold or an injection
computes depends on it), so it stays out of every code digest
(:mod:`unlearnkit.store.codehash`): editing it leaves every recorded grid fresh.  Keep it so:
helpers that only *name* or *find* computations belong here, not in the modules that compute.
"""

from __future__ import annotations

import json
from dataclasses import replace

import torch

from . import injection
from .registry import load


def key_of(name: str, dtype: torch.dtype | str | None = None, device: str | None = None) -> str:
    """The :attr:`~unlearnkit.models.LoadedModel.key` that :func:`~unlearnkit.models.load`
    ``(name)`` would give, without injecting TDEC memorisation into an injected model that is
    not yet cached (only its base loads: seconds where an injection takes up to half an hour)
    and without pretraining a testbed (its key is its name, its recipe's hash, fp32 on CPU:
    an exact reference, ``testbed:default:without-0``, costs as much to build as the testbed).
    Other models are loaded as by :func:`~unlearnkit.models.load`."""
    if name.startswith("testbed:") and injection.SUFFIX not in name and _cpu_fp32(dtype, device):
        from . import testbed

        size, without = testbed.parse_name(name.split(":", 1)[1])
        return f"{name}@{testbed._recipe(size, without).hash()}|float32|cpu"
    injected = injection.parse_name(name)
    if injected is None:
        return load(name, dtype=dtype, device=device).key
    base, recipe = injected
    loaded = load(base, dtype=dtype, device=device)
    return replace(loaded, name=name, injection={"hash": injection.get_recipe(recipe, name).hash()}).key


def _cpu_fp32(dtype, device) -> bool:
    """Whether :func:`load` with these arguments gives fp32 weights on the CPU (its default here)."""
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return device == "cpu" and dtype in (None, torch.float32, "float32")


def injected_rows(name: str, draw: int) -> int | None:
    """How many leading rows of forget set ``draw`` the model named ``name`` was taught by
    injection (0: none of them); ``None`` for a model that is not an injected one (a testbed, a
    hub model: what it memorised is not known from its name).  Reads the name only."""
    parsed = injection.parse_name(name)
    if parsed is None:
        return None
    recipe = injection.get_recipe(parsed[1], name)
    return (recipe.forget_rows or 32) if draw in recipe.forget_draws else 0


def cached_report(base_key: str, recipe_name: str = "default") -> dict | None:
    """The injection report of ``recipe_name`` on the base model keyed ``base_key`` when this
    machine has it cached, else ``None``; builds nothing."""
    path = injection.cache_path(base_key, injection.get_recipe(recipe_name)) / "report.json"
    return json.loads(path.read_text()) if path.is_file() else None
