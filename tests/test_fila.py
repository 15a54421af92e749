"""FILA against independent references: the weighted low-rank optimum (Eckart–Young on the
row-scaled matrix, and gradient descent that cannot beat it), the Fisher definition, and the
output-preserving initialisation of a real peft LoRA model."""

import copy

import numpy as np
import pytest
import torch
from conftest import tiny_gpt_neo

from unlearnkit import fila

TARGETS = ["q_proj", "v_proj", "c_fc", "c_proj"]


def random_problem(d=12, k=9, seed=0):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(d, k, generator=g, dtype=torch.float64)
    w = torch.rand(d, generator=g, dtype=torch.float64) * 3 + 0.05
    return W, w


@pytest.mark.parametrize("rank", [1, 3, 8])
def test_weighted_low_rank_reaches_the_eckart_young_bound(rank):
    W, w = random_problem()
    B, A = fila.weighted_low_rank(W, w, rank)
    assert B.shape == (12, rank) and A.shape == (rank, 9)
    err = fila.weighted_error(W, B @ A, w[:, None] ** 2)
    sigma = np.linalg.svd((w[:, None] * W).numpy(), compute_uv=False)  # numpy, not torch
    assert err == pytest.approx(float(np.sqrt((sigma[rank:] ** 2).sum())), rel=1e-10)


def test_gradient_descent_cannot_beat_the_closed_form():
    W, w = random_problem(seed=1)
    B, A = fila.weighted_low_rank(W, w, 2)
    best = fila.weighted_error(W, B @ A, w[:, None] ** 2)
    torch.manual_seed(0)
    Bg = torch.randn(12, 2, dtype=torch.float64, requires_grad=True)
    Ag = torch.randn(2, 9, dtype=torch.float64, requires_grad=True)
    opt = torch.optim.Adam([Bg, Ag], lr=0.02)
    for _ in range(3000):
        loss = ((w[:, None] * (W - Bg @ Ag)) ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    found = fila.weighted_error(W, (Bg @ Ag).detach(), w[:, None] ** 2)
    assert found >= best - 1e-8
    assert found == pytest.approx(best, rel=1e-3)  # and gradient descent does get there


def test_exact_low_rank_matrix_is_recovered_and_bad_rank_rejected():
    g = torch.Generator().manual_seed(2)
    W = torch.randn(10, 3, generator=g, dtype=torch.float64) @ torch.randn(3, 7, generator=g, dtype=torch.float64)
    w = torch.rand(10, generator=g, dtype=torch.float64)
    B, A = fila.weighted_low_rank(W, w, 3)
    assert torch.allclose(B @ A, W, atol=1e-10)
    with pytest.raises(ValueError, match="rank must be in 1..7"):
        fila.weighted_low_rank(W, w, 8)
    with pytest.raises(ValueError, match="non-negative"):
        fila.weighted_low_rank(W, -w, 2)


def test_em_solver_matches_closed_form_for_row_weights_and_improves_elementwise():
    W, w = random_problem(seed=3)
    row = (w[:, None] ** 2).expand(-1, 9)
    B, A = fila.weighted_low_rank(W, w, 3)
    X = fila.weighted_low_rank_em(W, row, 3, iters=50)
    assert fila.weighted_error(W, X, row) == pytest.approx(fila.weighted_error(W, B @ A, row), rel=1e-8)
    elementwise = torch.rand(12, 9, generator=torch.Generator().manual_seed(4), dtype=torch.float64)
    row_fit = fila.weighted_low_rank(W, elementwise.mean(1).sqrt(), 3)
    X = fila.weighted_low_rank_em(W, elementwise, 3, iters=300)
    assert fila.weighted_error(W, X, elementwise) < fila.weighted_error(W, row_fit[0] @ row_fit[1], elementwise)
    assert torch.linalg.matrix_rank(X) <= 3


def test_fisher_is_token_weighted_mean_of_squared_batch_gradients():
    model = tiny_gpt_neo()
    x = torch.randint(1, 37, (5, 9), generator=torch.Generator().manual_seed(0))
    fisher = fila.fisher_information(model, x, ["q_proj"], batch_size=2, estimator="micro_batch")
    assert set(fisher) == {f"transformer.h.{i}.attn.attention.q_proj" for i in range(2)}
    name = "transformer.h.1.attn.attention.q_proj"
    weight = dict(model.named_modules())[name].weight
    expected = torch.zeros_like(weight)
    for s in (slice(0, 2), slice(2, 4), slice(4, 5)):
        loss = model(input_ids=x[s], labels=x[s]).loss
        (g,) = torch.autograd.grad(loss, weight)
        expected += g.pow(2) * x[s, 1:].numel()
    assert torch.allclose(fisher[name].double(), expected / x[:, 1:].numel(), rtol=1e-5)
    assert all(p.requires_grad for p in model.parameters())  # flags restored


def test_per_example_fisher_is_the_mean_of_per_example_squared_gradients():
    """Eq. 2: E[g^2] over examples (token-weighted), against a plain per-example backward loop."""
    model = tiny_gpt_neo()
    x = torch.randint(1, 37, (4, 9), generator=torch.Generator().manual_seed(1))
    mask = torch.ones_like(x)
    mask[2, 6:] = 0  # a padded row: fewer tokens, smaller weight
    fisher = fila.fisher_information(model, x, ["c_fc"], attention_mask=mask)  # per_example is the default
    name = "transformer.h.0.mlp.c_fc"
    weight = dict(model.named_modules())[name].weight
    expected, tokens = torch.zeros_like(weight), 0
    for i in range(len(x)):
        labels = x[i : i + 1].masked_fill(mask[i : i + 1] == 0, -100)
        model.zero_grad()
        model(input_ids=x[i : i + 1], attention_mask=mask[i : i + 1], labels=labels).loss.backward()
        n = int((labels[:, 1:] != -100).sum())
        expected += weight.grad.pow(2) * n
        tokens += n
    model.zero_grad()
    assert torch.allclose(fisher[name].double(), expected / tokens, rtol=1e-5)
    whole = fila.fisher_information(model, x, ["c_fc"], batch_size=4, attention_mask=mask, estimator="micro_batch")
    assert not torch.allclose(whole[name], fisher[name])  # (E g)^2 is not E[g^2]
    with pytest.raises(ValueError, match="unknown Fisher estimator"):
        fila.fisher_information(model, x, ["c_fc"], estimator="mean")


def fila_model(seed=0, rank=4):
    from peft import LoraConfig, get_peft_model

    model = tiny_gpt_neo(seed=seed)
    g = torch.Generator().manual_seed(seed)
    forget = torch.randint(1, 37, (6, 10), generator=g)
    retain = torch.randint(1, 37, (6, 10), generator=g)
    ff = fila.fisher_information(model, forget, TARGETS)
    fr = fila.fisher_information(model, retain, TARGETS)
    before = copy.deepcopy(model)
    peft_model = get_peft_model(
        model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules=TARGETS, lora_dropout=0.0)
    )
    report = fila.initialise(peft_model, ff, fr)
    return before, peft_model, ff, fr, report, forget


def test_fila_initialisation_keeps_the_output_and_is_the_weighted_optimum():
    before, peft_model, ff, fr, report, x = fila_model()
    assert len(report) == 2 * len(TARGETS)
    assert torch.allclose(peft_model(input_ids=x).logits, before(input_ids=x).logits, atol=1e-5)
    originals = dict(before.named_modules())
    for name, layer in fila._lora_layers(peft_model, "default"):
        key = fila._plain_name(name)
        W = originals[key].weight.detach()
        w = fila.row_weights(fila.relative_importance(ff[key].double(), fr[key].double()))
        delta = layer.get_delta_weight("default")
        sigma = np.linalg.svd((w[:, None] * W).numpy(), compute_uv=False)
        optimum = float(np.sqrt((sigma[layer.r["default"] :] ** 2).sum()))
        assert fila.weighted_error(W, delta, w[:, None] ** 2) == pytest.approx(optimum, rel=1e-6)
        assert torch.allclose(layer.get_base_layer().weight + delta, W, atol=1e-10)  # base = W - sBA


def test_merge_after_training_gives_the_adapted_model():
    _, peft_model, _, _, _, x = fila_model(seed=1)
    opt = torch.optim.Adam([p for p in peft_model.parameters() if p.requires_grad], lr=1e-2)
    for _ in range(3):
        loss = -peft_model(input_ids=x, labels=x).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
    adapted = peft_model(input_ids=x).logits.detach()
    merged = peft_model.merge_and_unload()
    assert type(merged).__name__ == "GPTNeoForCausalLM"
    assert torch.allclose(merged(input_ids=x).logits, adapted, atol=1e-8)


def test_fila_errors_are_clear():
    model = tiny_gpt_neo()
    with pytest.raises(ValueError, match="no module of GPTNeoForCausalLM matches"):
        fila.fisher_information(model, torch.ones(2, 4, dtype=torch.long), ["query_key_value"])


def test_fisher_round_trips_through_safetensors(tmp_path):
    fisher = {"a.b": torch.rand(3, 4), "c": torch.rand(2, 2)}
    fila.save_fisher(tmp_path / "f.safetensors", fisher)
    back = fila.load_fisher(tmp_path / "f.safetensors")
    assert all(torch.equal(back[k], fisher[k]) for k in fisher)
