"""The unlearning loop on a tiny memorising GPT-Neo: criterion, records, determinism,
LoRA/FILA, saving, FLOPs against torch's counter, and clear errors before training."""

import copy
import json

import pytest
import torch
from conftest import memorising_model, tiny_gpt_neo
from torch.utils.flop_counter import FlopCounterMode

from unlearnkit import losses, metrics, trainer
from unlearnkit.training import flops

V = 37


@pytest.fixture(scope="module")
def setup():
    g = torch.Generator().manual_seed(0)
    forget = torch.randint(1, V, (6, 24), generator=g)
    retain = torch.randint(1, V, (12, 24), generator=g)
    model = memorising_model(torch.cat([forget, retain]), V, steps=200)
    # fixed thresholds: on a 37-token toy vocabulary held-out EL is 0 (computing thresholds
    # from held-out data is tested in test_metrics.py)
    th = metrics.Thresholds(ma=0.15, el=0.05, n=4, source="test")
    return model, forget, retain, th


CONFIG_FIELDS = {"method", "lora", "lr", "max_epochs", "seed", "micro_batch", "betas", "objective_kwargs", "precision"}


def config(**kw) -> trainer.UnlearnConfig:
    """An UnlearnConfig from the test's keywords (``method`` is the objective)."""
    kw = dict(method="gd", lr=1e-2, max_epochs=25, micro_batch=4) | kw
    return trainer.UnlearnConfig(objective=kw.pop("method"), **kw)


def run(setup, **kw):
    model, forget, retain, th = setup
    settings = {k: kw.pop(k) for k in list(kw) if k in CONFIG_FIELDS}
    unlearn = trainer._unlearn if "el_every_epoch" in kw else trainer.unlearn  # a benchmark-only switch
    kw = {"thresholds": th, "progress": False} | kw
    return unlearn(model, forget, retain, config(**settings), **kw)


def test_model_memorises_before_unlearning(setup):
    model, forget, _, th = setup
    assert metrics.memorization_accuracy(model, forget).mean() > th.ma + 0.3


def test_gradient_ascent_meets_the_criterion_and_records_it(setup, tmp_path):
    model, forget, _, th = setup
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = run(setup, method="ga", record_path=tmp_path / "run.json")
    rec = result.record
    assert rec.status == "forgotten" and result.succeeded
    assert rec.epochs == rec.epochs_run == len(rec.history)
    assert rec.final_ma < th.ma and rec.final_el < th.el
    # EL is computed exactly when the MA test passes, and the stop is at the first success
    for h in rec.history:
        assert (h.el is not None or h.el_lower_bound is not None) == (h.ma < th.ma)
        assert h.el_lower_bound is None or h.el_lower_bound >= th.el
    assert all(not th.met(h.ma, h.el) for h in rec.history[:-1] if h.el is not None)
    assert rec.trainable_share == 1.0 and rec.train_flops > 0
    assert json.loads((tmp_path / "run.json").read_text()) == rec.to_dict()
    # the model passed in is untouched
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert metrics.memorization_accuracy(result.model, forget).mean().item() == pytest.approx(rec.final_ma)


def test_early_el_decisions_change_nothing(setup):
    """The early-stopping EL test gives the run the full EL every epoch would give.  An MA
    threshold above 1 puts the EL test in every epoch, so some epochs decide "not yet"."""
    kw = dict(method="ga", lr=3e-3, thresholds=metrics.Thresholds(ma=1.01, el=0.05, n=4, source="test"))
    early = run(setup, **kw).record
    full = run(setup, el_every_epoch=True, **kw).record
    assert early.status == full.status == "forgotten" and early.epochs == full.epochs
    assert any(h.el_lower_bound is not None for h in early.history)
    assert early.final_el == pytest.approx(full.final_el, abs=1e-12)
    for e, f in zip(early.history, full.history):
        assert e.ma == f.ma
        if e.el is not None:
            assert e.el == pytest.approx(f.el, abs=1e-12)
        if e.el_lower_bound is not None:
            assert e.el is None and e.el_lower_bound <= f.el + 1e-12


def test_failed_run_is_recorded_not_dropped(setup):
    rec = run(setup, lr=1e-6, max_epochs=2).record
    assert rec.status == "max_epochs" and rec.epochs is None and rec.epochs_run == 2


def test_runs_are_deterministic_for_a_seed(setup):
    a = run(setup, max_epochs=3, seed=5).record
    b = run(setup, max_epochs=3, seed=5).record
    keys = ("loss", "forget_nll", "retain_nll", "ma", "el")
    assert [[h.get(k) for k in keys] for h in a.history] == [[h.get(k) for k in keys] for h in b.history]
    c = run(setup, max_epochs=3, seed=6).record
    assert [h.get("retain_nll") for h in c.history] != [h.get("retain_nll") for h in a.history]


def test_non_finite_loss_stops_with_a_reason(setup, monkeypatch):
    def explode(model, batch):
        return losses.Loss(
            losses.nll(model(input_ids=batch.forget["input_ids"]).logits, batch.forget["labels"]) * float("nan")
        )

    monkeypatch.setitem(losses.OBJECTIVES, "explode", losses.Objective("explode", explode, needs_retain=False))
    rec = run(setup, method="explode").record
    assert rec.status == "non_finite_loss" and rec.epochs_run == 1


@pytest.mark.parametrize("init", ["random", "fila", "pissa"])
def test_lora_runs_merge_into_a_plain_model(setup, init, tmp_path):
    model, forget, retain, th = setup
    dtype = torch.float32 if init == "pissa" else torch.float64  # peft's PiSSA refuses float64
    model = copy.deepcopy(model).to(dtype)
    result = run(
        (model, forget, retain, th),
        method="ihl",
        lora=trainer.LoraSettings(rank=2, init=init),
        max_epochs=2,
        save_dir=tmp_path / "model",
    )
    rec = result.record
    assert 0 < rec.trainable_share < 0.5
    assert type(result.model).__name__ == "GPTNeoForCausalLM"
    assert (rec.setup_flops > 0) == (init == "fila")
    from transformers import GPTNeoForCausalLM

    loaded = GPTNeoForCausalLM.from_pretrained(tmp_path / "model", dtype=dtype)
    assert torch.allclose(loaded(input_ids=forget).logits, result.model(input_ids=forget).logits, atol=1e-5)
    assert rec.saved_to == str(tmp_path / "model")


def test_fila_start_equals_the_original_model(setup):
    model, forget, _, _ = setup
    rec = run(setup, method="ihl", lora="fila", lr=0.0, max_epochs=1).record
    assert rec.history[0].ma == pytest.approx(metrics.memorization_accuracy(model, forget).mean().item())


def test_bad_input_fails_before_training(setup):
    model, forget, retain, th = setup
    with pytest.raises(ValueError, match="unknown objective 'gx'"):
        trainer.UnlearnConfig(objective="gx")
    with pytest.raises(ValueError, match="unknown method 'FILA \\+ XYZ'"):
        trainer.UnlearnConfig.of("FILA + XYZ")
    with pytest.raises(ValueError, match="max_epochs must be >= 1"):
        trainer.UnlearnConfig(max_epochs=0)
    with pytest.raises(TypeError, match="config must be an UnlearnConfig"):
        trainer.unlearn(model, forget, retain, {"objective": "gd"}, thresholds=th)
    with pytest.raises(ValueError, match="thresholds are required"):
        trainer.unlearn(model, forget, retain)
    with pytest.raises(ValueError, match="non-empty"):
        trainer.unlearn(model, forget[:0], retain, thresholds=th)
    with pytest.raises(ValueError, match="longer than the model's context"):
        trainer.unlearn(model, torch.ones(2, 100, dtype=torch.long), retain, thresholds=th)
    with pytest.raises(ValueError, match="'gd' needs a retain set"):
        trainer.unlearn(model, forget, None, config(method="gd"), thresholds=th)
    with pytest.raises(ValueError, match="unknown target module group.*valid"):
        trainer.unlearn(model, forget, retain, config(lora={"targets": ["mlp"]}), thresholds=th)
    with pytest.raises(ValueError, match="unknown LoRA init"):
        config(lora={"init": "svd"})


def counted_flops(model, x, retain_too=False):
    with FlopCounterMode(display=False) as counter:
        loss = model(input_ids=x, labels=x).loss
        if retain_too:
            loss = loss + model(input_ids=x, labels=x).loss
        loss.backward()
    model.zero_grad()
    return counter.get_total_flops()


@pytest.mark.parametrize("lora", [False, True])
def test_analytic_flops_match_torch_flop_counter(lora):
    model = tiny_gpt_neo(hidden=32, layers=2, positions=64)
    x = torch.randint(1, V, (4, 48))
    if lora:
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj", "c_fc", "c_proj"]))
    analytic = flops.flop_model(model).train_step(4, 48)
    counted = counted_flops(model, x)
    assert analytic == pytest.approx(counted, rel=0.10)


@pytest.mark.parametrize("name", ["GA", "GD", "LoRA + IHL", "FILA + IHL"])
def test_the_shared_training_loop_reproduces_the_old_unlearning_loop_exactly(smoke_testbed, name):
    """The trainer now steps through unlearnkit.training.train; on the smoke testbed its losses,
    objective terms and MA are bit-for-bit those of the loop it replaced (tests/reference_loop.py)."""
    from reference_loop import unlearn_reference

    model, forget, retain = smoke_testbed.model, smoke_testbed.forget_set(0)[:4], smoke_testbed.retain[:16]
    never = metrics.Thresholds(ma=0.0, el=0.0, n=4, source="never met")
    cfg = trainer.UnlearnConfig.of(name, lr=1e-3, max_epochs=3, micro_batch=2)
    rec = trainer.unlearn(model, forget, retain, cfg, thresholds=never, progress=False).record
    ref = unlearn_reference(model, forget, retain, cfg.objective, cfg.lora, lr=1e-3, epochs=3, micro_batch=2)
    assert [h.loss for h in rec.history] == ref["loss"]
    assert [h.parts for h in rec.history] == ref["parts"]
    assert [h.ma for h in rec.history] == ref["ma"]
