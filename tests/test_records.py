"""Typed run records, training precision, cache keys and spec validation."""

import dataclasses
import json

import pytest
import torch
from conftest import tiny_gpt_neo

from unlearnkit import metrics, trainer, training
from unlearnkit.experiments import RunSpec, check_run_settings
from unlearnkit.store import records

V = 37


def _forget():
    return torch.randint(1, V, (4, 16), generator=torch.Generator().manual_seed(0))


def test_record_round_trips_through_json_and_refuses_another_version(tmp_path):
    model = tiny_gpt_neo(dtype=torch.float32)
    th = metrics.Thresholds(ma=0.0, el=0.0, n=4)
    rec = trainer.unlearn(
        model,
        _forget(),
        None,
        trainer.UnlearnConfig(objective="ga", lr=1e-3, max_epochs=2),
        thresholds=th,
        progress=False,
        tags={"forget_set": "toy"},
    ).record
    assert isinstance(rec, records.RunRecord) and isinstance(rec.history[0], records.Epoch)
    assert rec.environment.precision == "fp32" and rec.environment.device == "cpu"
    assert rec.environment.dtype == "float32" and rec.environment.torch == torch.__version__
    assert rec.epochs_or_censored() == 3 and rec.forget_set == "toy"
    path = tmp_path / "run.json"
    path.write_text(json.dumps(rec.to_dict()))
    assert records.RunRecord.load(path) == rec
    old = rec.to_dict() | {"version": 3}
    path.write_text(json.dumps(old))
    with pytest.raises(records.RecordVersionError, match=r"run.json was written under record version 3.*reads version"):
        records.RunRecord.load(path)
    with pytest.raises(ValueError, match="does not know"):
        records.RunRecord.from_dict(rec.to_dict() | {"bogus": 1})


def test_a_small_step_changes_a_bf16_loaded_model():
    """lr 2e-6 (the second paper's rate) on N(0, 0.02) weights: lost to bf16 rounding if the
    weights were updated in bf16, kept with fp32 master weights."""
    model = tiny_gpt_neo(dtype=torch.bfloat16)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0, 0.02)
    before = {n: p.detach().float().clone() for n, p in model.named_parameters()}
    th = metrics.Thresholds(ma=0.0, el=0.0, n=4)
    run = trainer.unlearn(
        model,
        _forget(),
        None,
        trainer.UnlearnConfig(objective="ga", lr=2e-6, max_epochs=1),
        thresholds=th,
        progress=False,
    )
    assert run.record.environment.dtype == "bfloat16" and run.record.environment.precision == "fp32"
    after = dict(run.model.named_parameters())
    w = "transformer.h.0.mlp.c_fc.weight"
    changed = (after[w].detach().float() != before[w]).float().mean().item()
    assert after[w].dtype == torch.float32 and changed > 0.9
    # the same step applied in bf16 would leave most weights where they were
    bf16_step = (before[w] + 2e-6 * torch.sign(torch.randn_like(before[w]))).bfloat16().float()
    assert (bf16_step != before[w]).float().mean().item() < 0.2


def test_precision_is_checked_and_chosen_by_device():
    assert training.training_precision("auto", torch.device("cpu")) == "fp32"
    assert training.training_precision("auto", torch.device("cuda")) == "bf16-autocast"
    with pytest.raises(ValueError, match="needs a CUDA device"):
        training.training_precision("bf16-autocast", torch.device("cpu"))
    with pytest.raises(ValueError, match="unknown precision"):
        training.training_precision("fp8", torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_bf16_autocast_on_cuda_keeps_fp32_master_weights():
    model = tiny_gpt_neo(dtype=torch.bfloat16).cuda()
    th = metrics.Thresholds(ma=0.0, el=0.0, n=4)
    run = trainer.unlearn(
        model,
        _forget().cuda(),
        None,
        trainer.UnlearnConfig(objective="ga", lr=1e-3, max_epochs=1),
        thresholds=th,
        progress=False,
    )
    assert run.record.environment.precision == "bf16-autocast" and run.record.environment.device == "cuda"
    assert next(run.model.parameters()).dtype == torch.float32


def test_cache_keys_change_with_every_setting_that_changes_a_number(smoke_testbed):
    from unlearnkit import models
    from unlearnkit.experiments import runs
    from unlearnkit.store import results

    loaded = models.load("testbed:smoke", dtype=torch.float32, device="cpu")
    assert loaded.key.endswith("|float32|cpu")
    bf16 = models.load("testbed:smoke", dtype=torch.bfloat16, device="cpu")
    assert bf16.key != loaded.key  # a bf16 record is never returned for an fp32 run
    base = RunSpec("testbed:smoke", 0, "gd")
    fields = {f.name for f in dataclasses.fields(RunSpec)}
    changes = {
        "draw": 1,
        "method": "ga",
        "lora_init": "fila",
        "rank": 8,
        "targets": ("q", "v"),
        "lr": 1e-4,
        "max_epochs": 10,
        "seed": 1,
        "heldout_rows": 64,
        "retain_rows": 128,
        "downstream": None,
        "n": 5,
        "forget_rows": 8,
        "retain_source": "tdec",
        "fisher_estimator": "micro_batch",
        "precision": "fp32",
        "thresholds": "jang",
    }
    assert set(changes) == fields - {"model_name", "part"}, "a new RunSpec field needs a cache-key check here"
    key = lambda s: results.record_path("unlearn", runs.cache_config(s, loaded), runs.CODE)  # noqa: E731
    for name, value in changes.items():
        assert key(dataclasses.replace(base, **{name: value})) != key(base), name
    # a later unit of the same set (rows 8-15 instead of 0-7) is another run
    first = dataclasses.replace(base, forget_rows=8)
    assert key(dataclasses.replace(first, part=1)) != key(first)
    assert results.record_path("unlearn", runs.cache_config(base, bf16), runs.CODE) != key(base)


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"draw": 10}, "draw"),
        ({"method": "bogus"}, "method='bogus'"),
        ({"lora_init": "svd"}, "lora_init"),
        ({"targets": ("q", "x")}, "targets entry"),
        ({"downstream": "huge"}, "downstream"),
        ({"forget_rows": 40}, "forget_rows"),
        ({"retain_source": "c4"}, "retain_source"),
        ({"fisher_estimator": "diag"}, "fisher_estimator"),
        ({"precision": "fp8"}, "precision"),
        ({"thresholds": "guess"}, "thresholds"),
        ({"lr": -1.0}, "lr"),
    ],
)
def test_bad_specs_are_rejected_when_made(kw, message):
    with pytest.raises(ValueError, match=message):
        RunSpec("testbed:default", **({"draw": 0, "method": "gd"} | kw))


def test_chapter_settings_are_checked_without_a_model():
    check_run_settings(forget_draws=[0, 4], lr_full=1e-4, lr_lora=1e-3, retain_source="wikitext")
    with pytest.raises(ValueError, match=r"forget_draws entry"):
        check_run_settings(forget_draws=[0, 10])


def test_retain_sources(smoke_testbed):
    from unlearnkit import models

    loaded = models.load("testbed:smoke")
    wiki = loaded.retain(16, "wikitext")
    tdec = loaded.retain(16, "tdec")
    assert wiki.shape == (16, 200) and tdec.shape[0] == 16
    assert not torch.equal(wiki[:, :50], tdec[:, :50])
    assert torch.equal(loaded.retain(16, "wikitext"), wiki)  # fixed order
    with pytest.raises(ValueError, match="unknown retain source"):
        loaded.retain(4, "c4")


@pytest.mark.slow  # measures thresholds on three sources: about 45 s; left to `make test`
def test_threshold_sources_measure_on_different_text(smoke_testbed):
    from unlearnkit import metrics
    from unlearnkit.experiments import runs

    heldout = runs.thresholds("testbed:smoke", 16, source="heldout")
    unseen = runs.thresholds("testbed:smoke", 16, source="unseen")
    jang = runs.thresholds("testbed:smoke", 16, source="jang")
    assert "TDEC validation" in heldout["source"] and "TOFU" in unseen["source"]
    assert (unseen["ma"], unseen["el"]) != (heldout["ma"], heldout["el"])  # measured, on other text
    assert 0.0 <= unseen["ma"] <= 1.0 and 0.0 <= unseen["el"] <= 1.0
    assert jang["ma"] == metrics.JANG_THRESHOLDS.ma
    loaded = runs.load("testbed:smoke")
    blocks = loaded.unseen(4)
    assert blocks.shape == (4, 200)
    with pytest.raises(ValueError, match="TOFU's answers give"):
        loaded.unseen(100_000)
