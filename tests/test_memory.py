"""Memory flat in the forget set's size: micro-batches sized by memory give the update of the
whole set (gradient accumulation), and evaluation in bounded chunks gives the same numbers."""

import pytest
import torch
from conftest import memorising_model

from unlearnkit import metrics, trainer
from unlearnkit.training import memory

V = 37
TH = metrics.Thresholds(ma=0.15, el=0.05, n=4, source="test")


def _smollm2_config():
    """SmolLM2-135M's shape (no weights): 30 layers, width 576, FFN 1536, 9 heads, 49,152 tokens."""
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=49152,
        hidden_size=576,
        intermediate_size=1536,
        num_hidden_layers=30,
        num_attention_heads=9,
        num_key_value_heads=3,
    )


def test_micro_batches_sized_by_memory_do_not_grow_with_the_forget_set():
    config = _smollm2_config()
    rows = {n: memory.micro_batch_rows(config, 200, n, passes=2) for n in (8, 16, 32, 128)}
    assert len(set(rows.values())) == 1 and 1 <= rows[32] < 8, rows  # flat, and below a unit
    # a larger budget fits more rows, never more than the set; a tiny one still gives one row
    assert memory.micro_batch_rows(config, 200, 32, passes=2, budget_gb=64) == 32
    assert memory.micro_batch_rows(config, 200, 32, passes=2, budget_gb=1e-6) == 1
    assert memory.micro_batch_rows(config, 200, 32, passes=1) >= rows[32]  # GA has no retain pass


def test_the_budget_comes_from_the_environment_with_a_clear_error(monkeypatch):
    monkeypatch.setenv(memory.ENV, "0.5")
    assert memory.budget_bytes() == 0.5 * 2**30
    monkeypatch.setenv(memory.ENV, "lots")
    with pytest.raises(ValueError, match="UNLEARNKIT_STEP_MEMORY_GB"):
        memory.budget_bytes()
    with pytest.raises(ValueError, match="> 0 GB"):
        memory.budget_bytes(0)
    with pytest.raises(ValueError, match="micro_batch"):
        trainer.UnlearnConfig(micro_batch=0)


@pytest.fixture(scope="module")
def toy():
    g = torch.Generator().manual_seed(0)
    forget = torch.randint(1, V, (7, 24), generator=g)
    retain = torch.randint(1, V, (12, 24), generator=g)
    return memorising_model(torch.cat([forget, retain]), V, steps=150), forget, retain


def _epoch_gradient(model, forget, retain, method: str, micro_batch, th=TH) -> dict:
    """The accumulated gradient of one epoch (what the optimiser step sees) at ``micro_batch``."""
    config = trainer.UnlearnConfig.of(method, lr=1e-3, max_epochs=1, micro_batch=micro_batch, rank=4)
    job = trainer._Job.start(model, forget, retain, config, th, None, in_place=False)
    for loss, weight in job.epoch_losses(1):
        (loss.value * weight).backward()
    return {n: p.grad.detach().clone() for n, p in job.model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("method", ["GA", "GD", "LoRA + IHL", "FILA + IHL"])
def test_a_smaller_micro_batch_gives_the_whole_sets_gradient(toy, method):
    model, forget, retain = toy
    whole = _epoch_gradient(model, forget, retain, method, micro_batch=len(forget))
    split = _epoch_gradient(model, forget, retain, method, micro_batch=3)  # 3 + 3 + 1 rows
    assert whole.keys() == split.keys() and whole
    for name in whole:
        torch.testing.assert_close(split[name], whole[name], rtol=1e-9, atol=1e-12, msg=name)


def test_on_the_smoke_testbed_a_smaller_micro_batch_gives_the_same_update(smoke_testbed):
    """fp32, the testbed's real shapes: one epoch of GD at micro-batch 32 and at 5 give the same
    gradient to float tolerance, and the same run (status, epochs, MA) end to end."""
    tb = smoke_testbed
    forget, retain = tb.forget_set(0)[:16], tb.retain[:64]
    th = metrics.Thresholds(ma=0.0, el=0.0, n=10, source="unreachable")
    whole = _epoch_gradient(tb.model, forget, retain, "GD", micro_batch=16, th=th)
    split = _epoch_gradient(tb.model, forget, retain, "GD", micro_batch=5, th=th)
    for name in whole:
        torch.testing.assert_close(split[name], whole[name], rtol=1e-4, atol=1e-6, msg=name)
    runs = [
        trainer.unlearn(
            tb.model,
            forget,
            retain,
            trainer.UnlearnConfig.of("GD", lr=1e-4, max_epochs=2, micro_batch=mb),
            thresholds=th,
            progress=False,
        ).record
        for mb in (16, 5)
    ]
    assert [r.config["micro_batch"] for r in runs] == [16, 5]
    assert runs[0].epochs_run == runs[1].epochs_run == 2
    assert runs[0].final_ma == pytest.approx(runs[1].final_ma, abs=1 / 200)


def test_the_record_names_the_micro_batch_the_memory_rule_chose(toy):
    model, forget, retain = toy
    rec = trainer.unlearn(
        model, forget, retain, trainer.UnlearnConfig.of("GD", lr=1e-2, max_epochs=1), thresholds=TH, progress=False
    ).record
    assert rec.config["micro_batch_rule"] == "memory" and rec.config["micro_batch"] == len(forget)  # a toy fits


def test_evaluation_in_bounded_chunks_gives_the_same_numbers(toy, monkeypatch):
    model, forget, _ = toy
    ma = metrics.memorization_accuracy(model, forget)
    el = metrics.extraction_likelihood(model, forget, n=4)
    monkeypatch.setattr(metrics, "LOGITS_BUDGET", 2 * 24 * V)  # two rows per pass
    assert metrics.rows_per_pass(model, 24, 16) == 2
    torch.testing.assert_close(metrics.memorization_accuracy(model, forget), ma)
    torch.testing.assert_close(metrics.extraction_likelihood(model, forget, n=4), el)


def test_balanced_slices_cover_every_row_once_with_sizes_within_one():
    for rows in (1, 7, 8, 31, 32):
        for most in (1, 3, 5, 32, 64):
            parts = memory.balanced_slices(rows, most)
            sizes = [s.stop - s.start for s in parts]
            assert sum(sizes) == rows and parts[0].start == 0 and parts[-1].stop == rows
            assert all(a.stop == b.start for a, b in zip(parts, parts[1:]))
            assert max(sizes) <= most and max(sizes) - min(sizes) <= 1 and len(parts) == -(-rows // most)
