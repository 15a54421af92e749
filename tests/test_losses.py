"""Objectives: closed-form gradients against autograd, bounds, masking, and that each
objective decreases its own loss on a toy model."""

import copy

import pytest
import torch
from conftest import tiny_gpt_neo

from unlearnkit import losses
from unlearnkit.losses import IGNORE, UnlearnBatch, inverted_hinge_loss, lm_batch


def random_case(B=3, T=7, V=11, seed=0, scale=3.0, masked=(0, 2)):
    g = torch.Generator().manual_seed(seed)
    logits = (scale * torch.randn(B, T, V, generator=g, dtype=torch.float64)).requires_grad_()
    labels = torch.randint(0, V, (B, T), generator=g)
    labels[masked] = IGNORE
    return logits, labels


def ihl_gradient_closed_form(logits, labels):
    """Cha et al. appendix A: dIHL/dy_v per token, three cases, then the mean's 1/M."""
    lg, lb = logits.detach()[:, :-1], labels[:, 1:]
    p = torch.softmax(lg, -1)
    grad = torch.zeros_like(logits)
    M = int((lb != IGNORE).sum())
    for b in range(lb.shape[0]):
        for t in range(lb.shape[1]):
            x = int(lb[b, t])
            if x == IGNORE:
                continue
            pv = p[b, t]
            others = pv.clone()
            others[x] = -1
            vstar = int(others.argmax())
            p_star, p_x = pv[vstar], pv[x]
            g = pv * (p_star - p_x)  # other v
            g[x] = p_x * (p_star - p_x + 1)
            g[vstar] = p_star * (p_star - p_x - 1)
            grad[b, t] = g / M
    return grad


def test_ihl_gradient_equals_closed_form():
    logits, labels = random_case()
    inverted_hinge_loss(logits, labels).backward()
    assert torch.allclose(logits.grad, ihl_gradient_closed_form(logits, labels), atol=1e-12)


def ihl_through_autograd(logits, labels):
    """IHL from plain differentiable tensor operations (no custom backward)."""
    lg, lb = logits[:, :-1], labels[:, 1:]
    mask = lb != IGNORE
    p = torch.softmax(lg, -1)
    target = lb.masked_fill(~mask, 0).unsqueeze(-1)
    p_true = p.gather(-1, target).squeeze(-1)
    p_other = p.scatter(-1, target, -1.0).max(-1).values
    return (torch.clamp(1 + p_true - p_other, min=0) * mask).sum() / mask.sum()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_ihl_custom_backward_equals_autograd_through_plain_ops(seed):
    logits, labels = random_case(B=2, T=9, V=13, seed=seed)
    value = inverted_hinge_loss(logits, labels)
    value.backward()
    reference = logits.detach().clone().requires_grad_()
    expected = ihl_through_autograd(reference, labels)
    expected.backward()
    assert value.item() == pytest.approx(expected.item(), abs=1e-12)
    assert torch.allclose(logits.grad, reference.grad, atol=1e-12)
    assert torch.autograd.gradcheck(
        lambda y: inverted_hinge_loss(y, labels), (logits.detach().clone().requires_grad_(),)
    )


def test_ga_gradient_equals_closed_form():
    logits, labels = random_case(seed=1)
    (-losses.nll(logits, labels)).backward()
    lg, lb = logits.detach()[:, :-1], labels[:, 1:]
    mask = lb != IGNORE
    onehot = torch.nn.functional.one_hot(lb.clamp(min=0), lg.shape[-1]).double()
    expected = torch.zeros_like(logits)
    expected[:, :-1] = (onehot - torch.softmax(lg, -1)) * mask.unsqueeze(-1) / mask.sum()
    assert torch.allclose(logits.grad, expected, atol=1e-12)


def test_ihl_matches_per_token_definition_with_shift_and_mask():
    logits, labels = random_case(seed=2)
    p = torch.softmax(logits.detach(), -1)
    values = []
    for b in range(labels.shape[0]):
        for t in range(1, labels.shape[1]):
            x = int(labels[b, t])
            if x == IGNORE:
                continue
            q = p[b, t - 1]  # logits at t-1 predict x_t
            best_other = max(float(q[v]) for v in range(q.numel()) if v != x)
            values.append(max(0.0, 1 + float(q[x]) - best_other))
    assert inverted_hinge_loss(logits, labels).item() == pytest.approx(sum(values) / len(values), abs=1e-12)


def test_ihl_ignores_masked_positions_and_the_last_logit():
    logits, labels = random_case(seed=3)
    base = inverted_hinge_loss(logits, labels).item()
    changed = logits.detach().clone()
    changed[0, 1] += 100.0  # predicts labels[0, 2], which is IGNORE
    changed[:, -1] += 100.0  # the last position predicts nothing
    assert inverted_hinge_loss(changed, labels).item() == pytest.approx(base, abs=1e-12)


def test_ihl_is_bounded():
    for seed, scale in [(0, 0.1), (1, 5.0), (2, 50.0)]:
        logits, labels = random_case(seed=seed, scale=scale, V=50)
        value = inverted_hinge_loss(logits, labels).item()
        assert 0.0 <= value <= 2.0
    # extremes: target certain -> 2, another token certain -> 0
    labels = torch.tensor([[0, 3]])
    sure = torch.full((1, 2, 5), -1e4, dtype=torch.float64)
    sure[0, 0, 3] = 1e4
    assert inverted_hinge_loss(sure, labels).item() == pytest.approx(2.0)
    sure[0, 0, 3], sure[0, 0, 1] = -1e4, 1e4
    assert inverted_hinge_loss(sure, labels).item() == pytest.approx(0.0)


def test_ihl_rejects_all_masked_labels():
    logits, _ = random_case()
    with pytest.raises(ValueError, match="ignore_index"):
        inverted_hinge_loss(logits, torch.full(logits.shape[:2], IGNORE))


def test_masked_kl_is_zero_for_identical_and_ignores_padding():
    logits, _ = random_case(seed=4)
    mask = torch.ones(logits.shape[:2], dtype=torch.long)
    assert losses.masked_kl(logits, logits.detach(), mask).item() == pytest.approx(0.0, abs=1e-12)
    other = logits.detach().clone()
    mask[0, 3] = 0
    other[0, 3] += torch.randn(other.shape[-1], dtype=other.dtype)
    assert losses.masked_kl(logits, other, mask).item() == pytest.approx(0.0, abs=1e-12)
    other[1, 2, 0] += 3.0
    assert losses.masked_kl(logits, other, mask).item() > 0


def test_registry_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown objective 'gaa'.*'ga'"):
        losses.get("gaa")
    model = tiny_gpt_neo()
    x = torch.randint(1, 37, (2, 8))
    with pytest.raises(ValueError, match="'gd' needs retain"):
        losses.get("gd")(model, UnlearnBatch(forget=lm_batch(x)))


def toy_batch(model):
    g = torch.Generator().manual_seed(0)
    forget = lm_batch(torch.randint(1, 37, (4, 12), generator=g))
    retain = lm_batch(torch.randint(1, 37, (4, 12), generator=g))
    rand = forget["input_ids"].clone()
    rand[:, 6:] = torch.randint(1, 37, (4, 6), generator=g)
    labels = rand.clone()
    labels[:, :6] = IGNORE  # the question gets no loss, the random answer does
    ref = copy.deepcopy(model).eval().requires_grad_(False)
    return UnlearnBatch(forget=forget, retain=retain, random=lm_batch(rand, labels=labels), reference=ref)


@pytest.mark.parametrize("name", sorted(losses.OBJECTIVES))
def test_each_objective_decreases_its_own_loss(name):
    model = tiny_gpt_neo()
    batch = toy_batch(model)
    objective = losses.get(name)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    values = []
    for _ in range(8):
        loss = objective(model, batch)
        values.append(loss.value.item())
        loss.value.backward()
        opt.step()
        opt.zero_grad()
    assert values[-1] < values[0] - 1e-3, values
    assert set(loss.parts)  # every objective reports its terms
