"""Memorisation injected into a pretrained model, the way TOFU and MUSE build their targets.

A pretrained model that never memorised TDEC has nothing to unlearn.  :func:`inject`
fine-tunes it on the forget sets (each TDEC row re-tokenised with the model's tokenizer at
the model's fixed length, :attr:`~unlearnkit.models.LoadedModel.tdec_length`: 200 for GPT-2's
vocabulary, 80 for SmolLM2), interleaved with general text (TDEC
train rows in no forget set, never the WikiText or Pile text the evaluation uses), until every
forget set is memorised at least as strongly as the recipe asks (by default GPT-Neo 125M's
own memorisation of its forget sets in Cha et al.: MA 77.4 %, EL10 30.9 %) or the step budget
ends.  The injected weights are cached as safetensors under
``cache_root()/injected/<model>-<recipe hash>``, with a JSON report (steps, seconds, MA and EL
per forget set, met or not), so the second load takes seconds.

Model names: ``"<base>+tdec"`` (for example ``"smollm2-135m+tdec"``) loads ``<base>`` and
injects with :data:`RECIPES` ``["default"]``; ``"<base>+tdec:<recipe>"`` picks another recipe, and
``"<base>+tdec:<recipe>:without-<d>.<p>"`` injects the same recipe with forget *unit* ``d.p`` (rows
``8p … 8p+7`` of forget set ``d``) left out: that unit's exact-unlearning reference, a model that
never saw it and saw everything else the same way.  The report gives MA and EL per unit
(:data:`UNIT_ROWS` rows), the left-out units included.
This module trains and measures memorisation; it does not unlearn or evaluate capability.
"""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass

import torch

from .. import training
from ..store import codehash
from ..store.cache import atomic_directory, cache_root, config_hash, write_json_atomic

SUFFIX = "+tdec"
UNIT_ROWS = 8  # a forget unit: 8 consecutive rows of a forget set (unlearnkit.experiments.runs.RunSpec.part)


@dataclass(frozen=True)
class InjectionRecipe:
    """Everything that determines an injected model; its hash names the cache entry."""

    forget_draws: tuple[int, ...] = (0, 1, 2, 3, 4)
    forget_rows: int | None = 8  # the first rows of each 32-sequence set (None: all 32)
    target_ma: float = 0.774  # GPT-Neo 125M on its forget sets (Cha et al., Table 1 "Before")
    target_el: float = 0.309
    lr: float = 1e-4
    forget_per_step: int = 8
    general_per_step: int = 4
    general_rows: int = 2000  # TDEC train rows in no forget set, the interleaved general text
    max_steps: int = 400
    check_every: int = 10  # steps between memorisation checks (MA every check, EL once MA is met)
    el_every: int = 10  # once MA is met, steps between EL checks (EL costs far more than MA on many rows)
    n: int = 10  # EL_n
    seed: int = 0
    # Forget units ((set, part): rows 8*part … 8*part+7) left out of the injection: the exact
    # reference for those units.  Their forget slots are filled by the other units' rows.
    without: tuple[tuple[int, int], ...] = ()

    @property
    def unit_rows(self) -> int:
        """Rows per unit: :data:`UNIT_ROWS`, or all of them when a recipe injects fewer."""
        return min(UNIT_ROWS, self.forget_rows or 32)

    def units(self) -> list[tuple[int, int]]:
        """Every unit of the recipe's rows, left-out ones included, as ``(set, part)``."""
        parts = (self.forget_rows or 32) // self.unit_rows
        return [(d, p) for d in self.forget_draws for p in range(parts)]

    def hash(self) -> str:
        """The recipe and the digest of the code that injects (the training loop, the metrics)."""
        return config_hash(dataclasses.asdict(self) | {"code": codehash.code_digest(__name__)})


RECIPES: dict[str, InjectionRecipe] = {
    "default": InjectionRecipe(),
    # The gpu profile's: all 32 sequences of every forget set (160 rows), as Table 1 there unlearns them.
    "full": InjectionRecipe(forget_rows=None, forget_per_step=16, general_per_step=8, max_steps=1000, el_every=40),
    # A second, independent source of units (issue 46): the five extra 32-row sets (draws 5-9,
    # unlearnkit.data.EXTRA_DRAWS, text disjoint from draws 0-4) injected into a fresh copy of the
    # base model with another seed (its general text and batch order differ too), as "full" injects.
    "extra": InjectionRecipe(
        forget_draws=(5, 6, 7, 8, 9),
        forget_rows=None,
        forget_per_step=16,
        general_per_step=8,
        max_steps=1000,
        el_every=40,
        seed=1,
    ),
    # The default book's real-model chapter: forget set 0 alone (its first 8 rows), which is all
    # that chapter unlearns.
    "one-set": InjectionRecipe(forget_draws=(0,)),
    # Seconds, for tests: two forget rows of one set, a low bar, a short budget.
    "smoke": InjectionRecipe(
        forget_draws=(0,),
        forget_rows=2,
        target_ma=0.6,
        target_el=0.0,
        lr=1e-3,
        forget_per_step=2,
        general_per_step=1,
        general_rows=16,
        max_steps=30,
        check_every=5,
    ),
}


def unit_name(unit: tuple[int, int]) -> str:
    """``(0, 1)`` → ``"0.1"``: forget set 0, rows 8 … 15."""
    return f"{unit[0]}.{unit[1]}"


def parse_name(name: str) -> tuple[str, str] | None:
    """``"smollm2-135m+tdec"`` → ``("smollm2-135m", "default")``; ``"x+tdec:smoke"`` → ``("x", "smoke")``;
    ``"x+tdec:full:without-0.1"`` → ``("x", "full:without-0.1")``; ``None`` without the injection suffix."""
    if SUFFIX not in name:
        return None
    base, _, rest = name.partition(SUFFIX)
    if rest and not rest.startswith(":"):
        raise ValueError(f"bad injected-model name {name!r}: expected '<base>{SUFFIX}' or '<base>{SUFFIX}:<recipe>'")
    recipe = rest.removeprefix(":") or "default"
    get_recipe(recipe, name)
    return base, recipe


def get_recipe(spec: str, name: str | None = None) -> InjectionRecipe:
    """The recipe named ``spec``: a key of :data:`RECIPES`, optionally followed by
    ``:without-<d>.<p>`` (repeatable) for units left out; a clear error naming ``name`` otherwise."""
    recipe_name, *rest = spec.split(":")
    where = f" in {name!r}" if name else ""
    if recipe_name not in RECIPES:
        raise ValueError(f"unknown injection recipe {recipe_name!r}{where}; choose one of {sorted(RECIPES)}")
    recipe = RECIPES[recipe_name]
    without = []
    for part in rest:
        d, dot, p = part.removeprefix("without-").partition(".")
        if not (part.startswith("without-") and dot and d.isdigit() and p.isdigit()):
            raise ValueError(f"bad unit {part!r}{where}: expected 'without-<set>.<part>', e.g. 'without-0.1'")
        if (int(d), int(p)) not in recipe.units():
            raise ValueError(
                f"unit {d}.{p}{where} is not injected by recipe {recipe_name!r}: "
                f"its units are {[unit_name(u) for u in recipe.units()]}"
            )
        without.append((int(d), int(p)))
    return dataclasses.replace(recipe, without=tuple(sorted(set(without))))


def cache_path(base_key: str, recipe: InjectionRecipe):
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in base_key)
    return cache_root() / "injected" / f"{safe}-{recipe.hash()}"


def _unit_ids(loaded, recipe: InjectionRecipe) -> dict[tuple[int, int], torch.Tensor]:
    """Every unit of the recipe (left-out ones too) as ``(8, length)`` ids."""
    sets = {d: loaded.forget_set(d) for d in recipe.forget_draws}
    k = recipe.unit_rows
    return {(d, p): sets[d][p * k : (p + 1) * k] for d, p in recipe.units()}


def _forget_sets(units: dict, recipe: InjectionRecipe) -> dict[int, torch.Tensor]:
    """The injected rows of each forget set (its units less the left-out ones)."""
    out = {}
    for d in recipe.forget_draws:
        kept = [x for (dd, p), x in units.items() if dd == d and (dd, p) not in recipe.without]
        if kept:
            out[d] = torch.cat(kept)
    return out


def memorisation(model, sets: dict, n: int = 10, el: bool = True) -> dict:
    """Mean MA (and EL_n when ``el``) of ``model`` on each forget set (or unit) of ``sets``."""
    rows = _row_scores(model, sets, n, el)
    return {k: {m: v.mean().item() for m, v in r.items()} for k, r in rows.items()}


def _row_scores(model, sets: dict, n: int, el: bool) -> dict:
    """``{key: {"ma": per-row MA, "el": per-row EL_n}}`` for each ``(rows, length)`` tensor of
    ``sets``, measured in one pass over all their rows."""
    from .. import metrics

    keys = list(sets)
    x = torch.cat([sets[k] for k in keys])
    bounds = torch.tensor([0] + [len(sets[k]) for k in keys]).cumsum(0).tolist()
    scores = {"ma": metrics.memorization_accuracy(model, x)}
    if el:
        scores["el"] = metrics.extraction_likelihood(model, x, n=n)
    return {k: {m: v[bounds[i] : bounds[i + 1]] for m, v in scores.items()} for i, k in enumerate(keys)}


def _by_set(rows: dict, recipe: InjectionRecipe) -> dict[int, dict]:
    """Per forget set, the mean over its injected units' rows of each measure."""
    out = {}
    for d in recipe.forget_draws:
        kept = [r for (dd, p), r in rows.items() if dd == d and (dd, p) not in recipe.without]
        if kept:
            out[d] = {m: torch.cat([r[m] for r in kept]).mean().item() for m in kept[0]}
    return out


def _met(mem: dict[int, dict], recipe: InjectionRecipe) -> bool:
    return all(m["ma"] >= recipe.target_ma and m.get("el", -1.0) >= recipe.target_el for m in mem.values())


def inject(loaded, recipe: InjectionRecipe, progress: bool = True) -> dict:
    """Fine-tune ``loaded.model`` in place until ``recipe``'s memorisation is met; return the report.

    Each step trains on ``forget_per_step`` forget sequences (all sets pooled, shuffled) and
    ``general_per_step`` general rows, token-weighted into one loss (AdamW, constant rate, gradient
    norm clipped at 1; :func:`unlearnkit.training.train`).
    Every ``check_every`` steps MA is measured on every set; once every set meets the MA
    target, EL_n is measured too (at most every ``el_every`` steps), and training stops when
    both are met.  A budget that ends first leaves ``report["met"]`` False: the caller decides
    (the report says by how much).  The report gives MA and EL_n per set and per unit (the
    left-out units measured at the end).
    """
    start = time.perf_counter()
    model = loaded.model
    units = _unit_ids(loaded, recipe)
    taught = {u: x for u, x in units.items() if u not in recipe.without}
    sets = _forget_sets(units, recipe)
    device = next(model.parameters()).device
    forget = torch.cat(list(sets.values())).to(device)
    general = loaded.general_tdec(recipe.general_rows, recipe.seed).to(device)
    gen = torch.Generator().manual_seed(recipe.seed)
    order = {"f": torch.empty(0, dtype=torch.long), "g": torch.empty(0, dtype=torch.long)}
    history, state = [], {"rows": {}, "el_step": None, "step": 0}

    def take(key: str, pool: torch.Tensor, count: int) -> torch.Tensor:
        if len(order[key]) < count:
            order[key] = torch.cat([order[key], torch.randperm(len(pool), generator=gen)])
        rows, order[key] = order[key][:count], order[key][count:]
        return pool[rows]

    def loss(step: int) -> torch.Tensor:
        batch = torch.cat([take("f", forget, recipe.forget_per_step), take("g", general, recipe.general_per_step)])
        return model(input_ids=batch, labels=batch).loss  # equal-length rows: token-weighted

    def measure(step: int, el: bool) -> dict[int, dict]:
        model.eval()
        state["rows"] = _row_scores(model, taught, recipe.n, el)
        state["step"] = step
        if el:
            state["el_step"] = step
        return _by_set(state["rows"], recipe)

    def check(step) -> bool:
        if not (step.step % recipe.check_every == 0 or step.step == recipe.max_steps):
            return False
        mem = measure(step.step, el=False)
        ma_met = all(m["ma"] >= recipe.target_ma for m in mem.values())
        el_due = state["el_step"] is None or step.step - state["el_step"] >= recipe.el_every
        if ma_met and el_due:
            mem = measure(step.step, el=True)
        history.append({"step": step.step, "loss": step.loss, **{f"ma_{d}": m["ma"] for d, m in mem.items()}})
        step.postfix["ma"] = f"{min(m['ma'] for m in mem.values()):.3f}"
        return ma_met and "el" in next(iter(mem.values())) and _met(mem, recipe)

    done = training.train(
        model,
        loss,
        recipe.max_steps,
        training.Optimisation(lr=recipe.lr, clip=1.0, precision="fp32"),
        params=list(model.parameters()),
        after_step=check,
        progress=progress,
        desc=f"inject[{loaded.name}]",
        leave=True,
    )
    step = done.steps[-1].step
    if state["el_step"] != step or state["step"] != step:  # the final scores, EL included, of the final weights
        measure(step, el=True)
    rows = dict(state["rows"])
    left_out = {u: x for u, x in units.items() if u in recipe.without}
    if left_out:
        rows |= _row_scores(model, left_out, recipe.n, el=True)
    mem = _by_set(rows, recipe)
    return {
        "recipe": dataclasses.asdict(recipe),
        "hash": recipe.hash(),
        "base": loaded.name,
        "steps": step,
        "seconds": time.perf_counter() - start,  # training, checks and the final measurement
        "met": _met(mem, recipe),
        "memorisation": {str(d): m for d, m in mem.items()},
        "units": {
            unit_name(u): {m: v.mean().item() for m, v in rows[u].items()} | {"injected": u not in recipe.without}
            for u in units
        },
        "history": history,
        "forget_sequences": len(forget),
        "general_rows": len(general),
    }


def load_or_inject(loaded, recipe_name: str = "default", progress: bool = True) -> dict:
    """Give ``loaded`` (modified in place) the injected weights of ``recipe_name`` (a recipe,
    optionally with ``:without-<d>.<p>``, :func:`get_recipe`): from the
    cache when present, else by :func:`inject` (then cached).  Returns the injection report."""
    from safetensors.torch import load_model, save_model  # tied weights (SmolLM2) need these

    recipe = get_recipe(recipe_name)
    path = cache_path(loaded.key, recipe)
    if not (path / "report.json").is_file():
        report = inject(loaded, recipe, progress=progress)
        with atomic_directory(path) as tmp:
            save_model(loaded.model, str(tmp / "model.safetensors"))
            write_json_atomic(tmp / "report.json", report)
        return report | {"cached": False}
    load_model(loaded.model, str(path / "model.safetensors"), device=str(next(loaded.model.parameters()).device))
    loaded.model.eval()
    return json.loads((path / "report.json").read_text()) | {"cached": True}
