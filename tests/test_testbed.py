import dataclasses

import pytest
import torch

from unlearnkit import metrics
from unlearnkit.models import testbed


def test_smoke_testbed_is_a_real_gpt_neo(smoke_testbed):
    from transformers import AutoTokenizer, GPTNeoForCausalLM

    tb = smoke_testbed
    assert isinstance(tb.model, GPTNeoForCausalLM)
    tok = AutoTokenizer.from_pretrained(tb.path)
    assert len(tok) == tb.model.config.vocab_size == 8192
    assert tok.decode(tok.encode("The Pile, unlearned.")) == "The Pile, unlearned."
    model, tokenizer = tb  # unpacks like (model, tokenizer)
    assert model is tb.model
    summary = tb.summary()
    assert summary["parameters (M)"] == round(sum(p.numel() for p in model.parameters()) / 1e6, 2)
    assert summary["vocabulary"] == 8192 and summary["recipe hash"] == tb.recipe.hash()


def test_splits_are_disjoint_and_200_tokens(smoke_testbed):
    tb = smoke_testbed
    forget, held, retain = tb.forget_set(0), tb.heldout, tb.retain
    assert forget.shape == (32, 200) and held.shape[1] == 200 and retain.shape[1] == 200
    as_set = lambda t: {tuple(r) for r in t.tolist()}  # noqa: E731
    assert not as_set(forget) & as_set(held)
    assert not as_set(forget) & as_set(retain)
    with pytest.raises(KeyError, match="not part"):
        tb.forget_set(3)


def test_smoke_testbed_memorises_forget_more_than_heldout(smoke_testbed):
    tb = smoke_testbed
    ma_f = metrics.memorization_accuracy(tb.model, tb.forget_set(0)).mean()
    ma_h = metrics.memorization_accuracy(tb.model, tb.heldout).mean()
    assert ma_f > ma_h + 0.05


def test_second_build_loads_from_cache(smoke_testbed):
    again = testbed.build("smoke", progress=False)
    assert again.path == smoke_testbed.path
    for (k, a), b in zip(smoke_testbed.model.state_dict().items(), again.model.state_dict().values()):
        assert torch.equal(a, b), k


MICRO = dataclasses.replace(
    testbed.RECIPES["smoke"], size="micro", steps=4, general_tdec_rows=80, retain_rows=8, heldout_rows=4, hidden=32
)


def test_build_is_deterministic(tmp_path, monkeypatch):
    monkeypatch.setitem(testbed.RECIPES, "micro", MICRO)
    states = []
    for sub in ("a", "b"):
        monkeypatch.setenv("UNLEARNKIT_CACHE", str(tmp_path / sub))
        states.append(testbed.build("micro", progress=False).model.state_dict())
    for k in states[0]:
        assert torch.equal(states[0][k], states[1][k]), k


def test_failed_build_leaves_no_cache_entry(tmp_path, monkeypatch):
    monkeypatch.setitem(testbed.RECIPES, "micro", MICRO)
    monkeypatch.setenv("UNLEARNKIT_CACHE", str(tmp_path))

    def boom(*a, **k):
        raise RuntimeError("interrupted")

    monkeypatch.setattr(testbed, "_pretrain", boom)
    with pytest.raises(RuntimeError, match="interrupted"):
        testbed.build("micro", progress=False)
    root = tmp_path / "testbed"
    assert not root.exists() or not list(root.iterdir())


def test_unknown_size_is_named():
    with pytest.raises(ValueError, match="unknown testbed size 'huge'"):
        testbed.build("huge")


@pytest.mark.slow
def test_the_smoke_testbed_rebuilt_in_another_process_is_bit_identical(tmp_path, smoke_testbed):
    """Issue 44: a model a grid needs is rebuilt from the shipped data and seeds, not fetched, so
    a fresh machine must get the very same weights: the smoke testbed built again in a new process
    (on an empty cache, after the process drew other random numbers) equals this session's, byte
    for byte."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import torch; torch.manual_seed(12345); torch.rand(7)\n"
        "from unlearnkit.models import testbed\n"
        "print(testbed.build('smoke', progress=False).path)"
    )
    env = os.environ | {"UNLEARNKIT_CACHE": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    rebuilt = Path(out.stdout.strip().splitlines()[-1])
    assert rebuilt != smoke_testbed.path and rebuilt.name == smoke_testbed.path.name  # same recipe, own cache
    files = sorted(p.name for p in smoke_testbed.path.glob("*.safetensors"))
    assert "model.safetensors" in files
    for name in files:
        assert (rebuilt / name).read_bytes() == (smoke_testbed.path / name).read_bytes(), name
