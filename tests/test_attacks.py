"""Attacks on unlearned models (unlearnkit.evaluation.attacks) against independent references:
the quantiser against hand-computed grids and optimum-quanto, the membership AUC on
same-distribution and separable rows, relearning on the smoke testbed."""

import pytest
import torch
from conftest import memorising_model, tiny_gpt_neo

from unlearnkit import metrics
from unlearnkit.evaluation import attacks


def test_rtn_rounds_each_group_to_its_own_even_grid():
    w = torch.tensor([[0.0, 0.1, 0.2, 0.3, 1.0, 1.5, 2.1, 3.0]])  # no value halfway between two levels
    q = attacks.quantise_weight(w, bits=2, group_size=4)  # 4 levels per group: lo + k (hi - lo) / 3
    assert torch.allclose(q[0, :4], torch.tensor([0.0, 0.1, 0.2, 0.3]))  # the grid hits every value
    grid = 1.0 + torch.arange(4) * (2.0 / 3)
    expected = torch.stack([grid[(grid - v).abs().argmin()] for v in w[0, 4:]])
    assert torch.allclose(q[0, 4:], expected)
    with pytest.raises(ValueError, match="does not divide"):
        attacks.quantise_weight(torch.zeros(2, 6), group_size=4)


@pytest.mark.parametrize("scheme", attacks.SCHEMES)
def test_a_4bit_group_has_at_most_16_values_and_a_bounded_error(scheme):
    torch.manual_seed(0)
    w = torch.randn(32, 256) * 0.02
    q = attacks.quantise_weight(w, 4, scheme, group_size=64)
    groups = q.reshape(32, 4, 64)
    assert max(len(torch.unique(g)) for g in groups.reshape(-1, 64)) <= 16
    span = w.reshape(32, 4, 64).amax(-1) - w.reshape(32, 4, 64).amin(-1)
    err = (q - w).abs().reshape(32, 4, 64).amax(-1)
    assert (err <= span / 2 + 1e-7).all()  # never more than half a group's range away
    assert (q - w).abs().mean() < 0.1 * w.abs().mean() * (4 if scheme == "nf4" else 1) + 1e-3
    eight = attacks.quantise_weight(w, 8, "rtn", 64) if scheme == "rtn" else None
    if eight is not None:
        assert (eight - w).abs().mean() < (q - w).abs().mean() / 8  # 16x finer grid


def test_rtn_agrees_with_optimum_quanto_qint4(monkeypatch):
    quanto = pytest.importorskip("optimum.quanto")
    from types import SimpleNamespace

    from optimum.quanto.library.extensions import get_extension

    # Dequantising unpacks quanto's int4 codes from their bytes; on the CPU quanto compiles a C++
    # extension for that on first use (about a minute on a fresh machine).  The unpacking is only
    # bit shifts (quanto's own pure-torch default, ``optimum/quanto/library/unpack.py``, restated
    # here because its decorator keeps no Python handle); the codes, scales and shifts under test
    # are still quanto's.
    def unpack(packed, bits):
        per_byte = 8 // bits
        return torch.cat([(packed & (2 ** (bits * (i + 1)) - 1)) >> (bits * i) for i in range(per_byte)]).to(
            torch.uint8
        )

    monkeypatch.setattr(get_extension("quanto_cpp"), "_lib", SimpleNamespace(unpack=unpack))
    torch.manual_seed(1)
    lin = torch.nn.Sequential(torch.nn.Linear(256, 64, bias=False))
    ours = attacks.quantise_weight(lin[0].weight, 4, "rtn", group_size=128)  # quanto's int4 group size
    quanto.quantize(lin, weights=quanto.qint4)
    quanto.freeze(lin)
    assert torch.allclose(ours, lin[0].weight.dequantize(), atol=1e-6)


@pytest.mark.parametrize("scheme", ["nf4", "fp4"])
def test_nf4_and_fp4_agree_with_bitsandbytes(scheme):
    """Zhang et al.'s 4-bit grid: QLoRA's NF4 and the FP4 code book, absmax per block of 64, as
    bitsandbytes quantises and dequantises them (its CPU path)."""
    bnb = pytest.importorskip("bitsandbytes.functional")
    torch.manual_seed(2)
    w = torch.randn(64, 256)
    ours = attacks.quantise_weight(w, 4, scheme, group_size=64)
    packed, state = bnb.quantize_4bit(w, blocksize=64, quant_type=scheme)
    assert torch.allclose(ours, bnb.dequantize_4bit(packed, state), atol=1e-6)
    book = bnb.get_4bit_type(scheme, device="cpu")
    assert torch.allclose(attacks.CODE_BOOKS[scheme], book.unique().sort().values, atol=1e-7)


def test_quantise_copies_and_leaves_the_input_untouched():
    model = tiny_gpt_neo(vocab_size=40, hidden=64, dtype=torch.float32)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    q = attacks.quantise(model, bits=4, group_size=32)
    assert all(torch.equal(v, model.state_dict()[k]) for k, v in before.items())
    linear = [n for n, m in q.named_modules() if isinstance(m, torch.nn.Linear) and n != "lm_head"]
    assert linear and all(
        not torch.equal(dict(q.named_modules())[n].weight, dict(model.named_modules())[n].weight) for n in linear
    )
    assert torch.equal(q.transformer.wte.weight, model.transformer.wte.weight)  # embeddings (tied head) untouched


def test_membership_auc_is_chance_on_one_distribution_and_one_when_separable():
    torch.manual_seed(0)
    vocab = 37
    rows = torch.randint(0, vocab, (400, 16))
    members, others = rows[:200], rows[200:]
    model = tiny_gpt_neo(vocab_size=vocab, seed=0)
    got = attacks.membership(model, members, others)  # neither was trained on: same distribution
    assert all(abs(v - 0.5) <= 0.05 for v in got.values()), got
    trained = memorising_model(members[:8], vocab, steps=150)
    sep = attacks.membership(trained, members[:8], others[:8])
    assert sep["loss"] == 1.0 and sep["min_k"] == 1.0, sep
    with pytest.raises(ValueError, match="need members and non-members"):
        attacks.auc([], [0.1])


@pytest.mark.slow  # about half a minute
def test_relearning_half_a_forgotten_unit_brings_back_the_other_half(smoke_testbed):
    from unlearnkit import trainer

    tb = smoke_testbed
    unit = tb.forget_set(0)[:8]
    config = trainer.UnlearnConfig(objective="ga", lr=1e-3, max_epochs=4)
    never = metrics.Thresholds(ma=0.0, el=0.0, n=10, source="never met")
    run = trainer.unlearn(tb.model, unit, tb.retain[:8], config, thresholds=never, progress=False)
    held_out = unit[4:]
    forgotten = metrics.memorization_accuracy(run.model, held_out).mean().item()
    before = metrics.memorization_accuracy(tb.model, held_out).mean().item()
    assert forgotten < before  # GA took the unit's memorisation down
    attacked = attacks.relearn(run.model, unit[:4], steps=10, lr=1e-3)
    assert metrics.memorization_accuracy(attacked, held_out).mean().item() > forgotten
    assert metrics.memorization_accuracy(run.model, held_out).mean().item() == forgotten  # input untouched


@pytest.mark.slow  # about half a minute
def test_an_unlearned_model_is_rerun_once_checked_against_its_record_and_saved(smoke_testbed):
    from unlearnkit import experiments
    from unlearnkit.experiments import unlearned

    spec = experiments.RunSpec(
        "testbed:smoke", 0, "ga", lr=1e-3, max_epochs=2, forget_rows=8, heldout_rows=16, retain_rows=16, downstream=None
    )
    first = unlearned.model(spec)
    record = experiments.run(spec, progress=False)
    loaded = experiments.load("testbed:smoke")
    unit = experiments.forget_ids(loaded, 0, 8)
    assert metrics.memorization_accuracy(first, unit).mean().item() == pytest.approx(record.final_ma, rel=1e-6)
    assert (unlearned.path(spec) / "model.safetensors").is_file()
    again = unlearned.model(spec)  # from the saved weights this time
    assert all(torch.equal(a, b) for a, b in zip(first.state_dict().values(), again.state_dict().values()))
    assert not torch.equal(first.transformer.h[0].mlp.c_fc.weight, loaded.model.transformer.h[0].mlp.c_fc.weight)
    # the re-run leaves out the per-epoch EL checks and probe: the weights are those of the run with them
    from unlearnkit import trainer

    th = metrics.Thresholds(**experiments.runs.thresholds("testbed:smoke", 16))
    full = trainer.unlearn(
        loaded.model,
        unit,
        loaded.retain(16),
        spec.unlearn_config(),
        thresholds=th,
        progress=False,
        probe=experiments.runs.capability_probe(loaded.tokenizer),
    )
    assert all(torch.equal(a, b) for a, b in zip(full.model.state_dict().values(), first.state_dict().values()))


def test_relearning_trains_a_model_whose_weights_were_frozen():
    model = tiny_gpt_neo(vocab_size=40, hidden=64, dtype=torch.float32)
    for p in model.parameters():  # as a merged LoRA model leaves its base weights
        p.requires_grad_(False)
    rows = torch.randint(0, 40, (4, 12), generator=torch.Generator().manual_seed(0))
    attacked = attacks.relearn(model, rows, steps=2, lr=1e-2)
    assert not torch.equal(attacked.transformer.h[0].mlp.c_fc.weight, model.transformer.h[0].mlp.c_fc.weight)
    assert not any(p.requires_grad for p in model.parameters())  # the input untouched


def test_the_relearning_curve_is_relearn_measured_at_each_checkpoint():
    model = tiny_gpt_neo(vocab_size=40, hidden=64, dtype=torch.float32)
    rows = torch.randint(0, 40, (4, 12), generator=torch.Generator().manual_seed(0))

    def loss(m):
        return m(input_ids=rows, labels=rows).loss.item()

    curve = attacks.relearn_curve(model, rows, [3, 1], loss, lr=1e-2)
    assert list(curve) == [1, 3]
    for k, v in curve.items():
        assert v == loss(attacks.relearn(model, rows, k, lr=1e-2))
    assert curve[3] < curve[1]
    with pytest.raises(ValueError, match="positive step counts"):
        attacks.relearn_curve(model, rows, [0, 2], loss)


def test_musess_privacy_leak_is_zero_for_the_reference_and_negative_before_unlearning():
    """MUSE's PrivLeak (Min-K % at k = 40 %, MUSE's AUC = 1 - the conventional one): the exact
    reference scores 0, a model that memorised the forget rows (MUSE's target model) scores
    negative, the sign MUSE reports for under-unlearning; over-unlearning scores positive."""
    torch.manual_seed(1)
    vocab = 37
    rows = torch.randint(0, vocab, (32, 16))
    forget, holdout, retain = rows[:8], rows[8:16], rows[16:]
    target = memorising_model(torch.cat([forget, retain]), vocab, steps=150)  # trained on the forget rows
    reference = memorising_model(retain, vocab, steps=150)  # retrained without them
    auc_target = attacks.membership(target, forget, holdout)["min_k_40"]
    auc_reference = attacks.membership(reference, forget, holdout)["min_k_40"]
    assert attacks.privacy_leak(auc_reference, auc_reference) == 0.0
    leak = attacks.privacy_leak(auc_target, auc_reference)
    assert auc_target > auc_reference and leak < 0
    assert attacks.privacy_leak(1.0, 0.5) == -100.0 and attacks.privacy_leak(0.25, 0.5) == 50.0
    with pytest.raises(ValueError, match="no privacy leak"):
        attacks.privacy_leak(0.5, 1.0)
