"""Memorisation injection (``<base>+tdec``): raises memorisation, is cached, names its cache key."""

import pytest
import torch

from unlearnkit import models
from unlearnkit.models import injection


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
    for a, b in zip(injected.model.parameters(), again.model.parameters()):
        assert torch.equal(a, b)
