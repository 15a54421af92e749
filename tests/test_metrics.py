import math

import pytest
import torch
from conftest import memorising_model, tiny_gpt_neo
from reference_metrics import extraction_likelihood_ref, memorization_accuracy_ref

from unlearnkit import metrics


@pytest.mark.parametrize("T,n,seed", [(12, 3, 0), (16, 10, 1), (11, 10, 2), (20, 4, 3)])
def test_fast_metrics_equal_reference_on_random_model(T, n, seed):
    model = tiny_gpt_neo(seed=seed)
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(1, 37, (5, T), generator=g)
    assert torch.allclose(metrics.memorization_accuracy(model, x), memorization_accuracy_ref(model, x), atol=1e-12)
    fast = metrics.extraction_likelihood(model, x, n=n, batch_size=3, generation_batch_size=5)
    ref = extraction_likelihood_ref(model, x, n=n)
    assert torch.allclose(fast, ref, atol=1e-6), (fast, ref)


@pytest.mark.parametrize("vocab,T,n", [(7, 24, 3), (11, 30, 5)])
def test_fast_el_equals_reference_on_memorising_model(vocab, T, n):
    """A partly memorising model: some prefixes continue exactly, others diverge; small
    vocabularies make repeated n-grams (counted with repetition) common."""
    g = torch.Generator().manual_seed(vocab)
    x = torch.randint(1, vocab, (6, T), generator=g)
    model = memorising_model(x[:4], vocab_size=vocab, steps=60)
    ma = metrics.memorization_accuracy(model, x)
    assert ma[:4].mean() > ma[4:].mean()  # the trained rows are (partly) memorised
    fast = metrics.extraction_likelihood(model, x, n=n, batch_size=4, generation_batch_size=7)
    ref = extraction_likelihood_ref(model, x, n=n)
    assert torch.allclose(fast, ref, atol=1e-6), (fast, ref)
    assert 0 < fast.max() <= 1


@pytest.mark.parametrize("chunk", [1, 2, 6])
def test_early_el_decision_is_exact_against_the_reference(chunk):
    """For thresholds below, at and above the reference mean: the decision is ``mean < t``,
    the lower bound never exceeds the mean, and a "yes" reports the exact mean."""
    g = torch.Generator().manual_seed(3)
    x = torch.randint(1, 11, (6, 30), generator=g)
    model = memorising_model(x[:4], vocab_size=11, steps=60)
    ref = extraction_likelihood_ref(model, x, n=5)
    mean = ref.mean().item()
    stopped_early = 0
    for t in (0.0, mean / 4, mean / 2, mean - 1e-9, mean + 1e-9, 2 * mean, 1.0):
        check = metrics.extraction_likelihood_below(model, x, t, n=5, chunk=chunk)
        assert check.below == (mean < t)
        assert check.lower_bound <= mean + 1e-9
        if check.below:
            assert check.evaluated == 6 and check.mean == pytest.approx(mean, abs=1e-9)
        stopped_early += check.evaluated < 6
    assert stopped_early > 0 or chunk == 6  # small thresholds are refused from part of the set
    with pytest.raises(ValueError, match="permutation"):
        metrics.extraction_likelihood_below(model, x, 0.1, n=5, order=[0, 0, 1, 2, 3, 4])


def test_fully_memorised_sequence_has_el_one_and_ma_one():
    x = torch.arange(1, 17).view(1, 16)  # distinct tokens: a clear sequence to learn
    model = memorising_model(x, vocab_size=37, steps=200)
    assert metrics.memorization_accuracy(model, x).item() == 1.0
    assert metrics.extraction_likelihood(model, x, n=4).item() == pytest.approx(1.0)


def test_ngram_overlap_counts_repetition_against_a_set():
    """Hand-made case: x = [1 2 1 2 1 2], generation after the first token repeats n-grams."""
    x = torch.tensor([[1, 2, 1, 2, 1, 2]])
    full = torch.tensor([[1, 1, 2, 1, 2, 9]])  # generated after i=1: [1 2 1 2 9]
    ov = metrics._ngram_overlap(full, torch.tensor([0]), torch.tensor([1]), x, 2)
    # true suffix [2 1 2 1 2] has bigram set {(2,1),(1,2)}, 4 bigrams; generated bigrams
    # (1,2) (2,1) (1,2) (2,9): three hits counted with repetition
    assert ov.item() == pytest.approx(3 / 4)


@pytest.mark.parametrize(
    "bad,match",
    [
        (torch.zeros(0, 20, dtype=torch.long), "empty"),
        (torch.ones(2, 5, dtype=torch.long), "at least 11"),
        (torch.ones(2, 20, dtype=torch.float32), "integer"),
        (torch.ones(20, dtype=torch.long), "2-D"),
        (torch.full((2, 20), -100), "negative"),
        ([[1, 2, 3]], "torch.Tensor"),
    ],
)
def test_bad_input_is_named(bad, match):
    model = tiny_gpt_neo()
    with pytest.raises((ValueError, TypeError), match=match):
        metrics.extraction_likelihood(model, bad, n=10)


def test_padded_batch_is_rejected():
    model = tiny_gpt_neo()
    model.config.pad_token_id = 0
    x = torch.randint(1, 37, (3, 20))
    x[1, -4:] = 0
    with pytest.raises(ValueError, match="padding"):
        metrics.memorization_accuracy(model, x)


def test_perplexity_equals_exp_mean_nll_on_short_texts():
    class Tok:
        def encode(self, text, add_special_tokens=False):
            return [1 + (ord(c) % 30) for c in text]

    model = tiny_gpt_neo(positions=64)
    texts = ["hello world", "unlearning is hard to measure"]
    ppl = metrics.perplexity(model, Tok(), texts, max_length=64, stride=32)
    nll, count = 0.0, 0
    with torch.no_grad():
        for t in texts:
            ids = torch.tensor([Tok().encode(t)])
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1], -1)
            nll -= logp.gather(1, ids[0, 1:, None]).sum().item()
            count += ids.shape[1] - 1
    assert ppl == pytest.approx(math.exp(nll / count), rel=1e-6)  # HF upcasts the loss to fp32


def _reference_strided_perplexity(model, tok, texts, max_length, stride):
    """Independent reference: token j is predicted once, from the context that starts at the
    first window reaching it (window k starts at k * stride and holds max_length tokens)."""
    nll, count = 0.0, 0
    with torch.no_grad():
        for t in texts:
            ids = tok.encode(t)
            for j in range(1, len(ids)):
                k = max(0, (j - max_length) // stride + 1)
                ctx = torch.tensor([ids[k * stride : j + 1]])
                logp = torch.log_softmax(model(input_ids=ctx).logits[0, -2], -1)
                nll -= logp[ids[j]].item()
                count += 1
    return math.exp(nll / count)


@pytest.mark.parametrize("batch_size", [1, 3])
def test_strided_batched_perplexity_matches_token_by_token_reference(batch_size):
    class Tok:
        def encode(self, text, add_special_tokens=False):
            return [1 + (ord(c) % 30) for c in text]

    model = tiny_gpt_neo(positions=16)
    texts = [
        "a long text that is longer than the sixteen token context window " * 2,
        "short one",
        "x" * 17,
        "a medium text of some forty characters..",
    ]
    ppl = metrics.perplexity(model, Tok(), texts, max_length=16, stride=6, batch_size=batch_size)
    ref = _reference_strided_perplexity(model, Tok(), texts, max_length=16, stride=6)
    assert ppl == pytest.approx(ref, rel=1e-5)


def test_perplexity_windows_predict_every_token_once():
    for n in range(1, 40):
        windows = metrics.perplexity_windows(list(range(n)), max_length=8, stride=3)
        scored = [t for w, skip in windows for t in w[skip:]]
        assert scored == list(range(1, n))
