"""Memorisation metrics (MA, EL_n), forgetting thresholds, and perplexity.

Definitions follow Jang et al. (2023), as used by Cha et al. (2024):

* ``MA(x) = 1/(T-1) * sum_{t=1}^{T-1} 1[argmax p(.|x_<t) = x_t]`` — teacher-forced greedy
  accuracy, one forward pass.
* ``EL_n(x)``: for every prefix length ``i = 1 .. T-1`` greedily generate ``T - i`` tokens
  after ``x_<i`` (no early stop); ``overlap_i`` = number of generated n-grams (counted with
  repetition) found in the *set* of n-grams of the true suffix ``x_i .. x_{T-1}``, divided by
  the number of true-suffix n-grams ``T - i - n + 1``; terms whose suffix is shorter than
  ``n`` are skipped; ``EL_n = sum_i overlap_i / (T - n)``.

The EL here is exact but avoids the reference algorithm's ``T - 1`` fresh generations:
where the teacher-forced prediction after ``x_<i`` equals ``x_i``, the whole greedy
sequence from ``x_<i`` equals the one from ``x_<i+1``.  So only *divergent* positions ``k``
(prediction != ``x_k``) need a generation; they reuse the key/value cache of the single
teacher-forced pass and are decoded together in batches.  The slow reference lives in
``tests/reference_metrics.py`` and the tests check equality.

This module measures; it does not train or decide when to stop (see ``trainer``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from tqdm import tqdm
from transformers.cache_utils import DynamicLayer

Tensor = torch.Tensor


# ----------------------------------------------------------------------- validation


def check_sequences(input_ids, min_length: int = 2, name: str = "input_ids", pad_token_id=None) -> Tensor:
    """Validate an ``(N, T)`` batch of unpadded token ids and return it as a long tensor.

    Raises ``ValueError``/``TypeError`` naming the problem: not 2-D, empty, non-integer
    dtype, negative ids, sequences shorter than ``min_length``, or rows that end in two or
    more ``pad_token_id`` tokens (a padded batch; these metrics need unpadded sequences).
    """
    if not isinstance(input_ids, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of token ids, got {type(input_ids).__name__}")
    if input_ids.dtype.is_floating_point or input_ids.dtype == torch.bool or input_ids.is_complex():
        raise TypeError(f"{name} must hold integer token ids, got dtype {input_ids.dtype}")
    if input_ids.ndim != 2:
        raise ValueError(f"{name} must be 2-D (N, T), got shape {tuple(input_ids.shape)}")
    if input_ids.shape[0] == 0:
        raise ValueError(f"{name} is empty: no sequences to evaluate")
    if input_ids.shape[1] < min_length:
        raise ValueError(f"{name} sequences have length {input_ids.shape[1]}; need at least {min_length}")
    if (input_ids < 0).any():
        raise ValueError(f"{name} contains negative ids (padding with -100?); pass unpadded sequences")
    if pad_token_id is not None:
        padded = (input_ids[:, -2:] == pad_token_id).all(dim=1)
        if padded.any():
            rows = padded.nonzero().flatten().tolist()[:5]
            raise ValueError(
                f"{name} rows {rows} end in padding (token {pad_token_id}); these metrics need unpadded, "
                "equal-length sequences"
            )
    return input_ids.long()


def _pad_id(model):
    return getattr(getattr(model, "config", None), "pad_token_id", None)


# Evaluation forwards without gradients, but each pass still materialises its full-vocabulary
# logits: at most this many floats (512 MB) per pass, whatever the batch size asked for
# (SmolLM2: 13 rows of 200 tokens; the testbed: every row).
LOGITS_BUDGET = 2**27


def rows_per_pass(model, tokens: int, requested: int) -> int:
    """At most ``requested`` rows of ``tokens`` tokens, fewer when their logits would pass
    :data:`LOGITS_BUDGET` (never fewer than one)."""
    vocab = getattr(getattr(model, "config", None), "vocab_size", None) or 1
    return max(1, min(requested, LOGITS_BUDGET // max(1, tokens * vocab)))


def _device(model) -> torch.device:
    return next(model.parameters()).device


# ----------------------------------------------------------------------------- MA


@torch.no_grad()
def greedy_predictions(model, input_ids: Tensor, batch_size: int = 16) -> Tensor:
    """Teacher-forced greedy predictions ``(N, T-1)``: entry ``t-1`` is ``argmax p(.|x_<t)``."""
    device = _device(model)
    out = []
    batch_size = rows_per_pass(model, input_ids.shape[1], batch_size)
    for start in range(0, len(input_ids), batch_size):
        ids = input_ids[start : start + batch_size].to(device)
        logits = model(input_ids=ids).logits[:, :-1]  # (B, T-1, V)
        out.append(logits.argmax(-1).cpu())
    return torch.cat(out)


@torch.no_grad()
def memorization_accuracy(model, input_ids: Tensor, batch_size: int = 16) -> Tensor:
    """Memorisation accuracy per sequence, ``(N,)`` float tensor.

    Args:
        model: a causal LM returning ``.logits`` (Hugging Face convention).
        input_ids: ``(N, T)`` unpadded token ids, ``T >= 2``.
        batch_size: sequences per forward pass.
    """
    ids = check_sequences(input_ids, 2, pad_token_id=_pad_id(model))
    preds = greedy_predictions(model, ids, batch_size)
    return (preds == ids[:, 1:]).double().mean(dim=1)


# ----------------------------------------------------------------------------- EL


def _ngram_overlap(full: Tensor, owner: Tensor, start: Tensor, x: Tensor, n: int) -> Tensor:
    """``overlap_i`` for given completed sequences.

    Args:
        full: ``(R, T)`` greedy sequences ``x_<k ++ generated``; row ``r`` serves term ``start[r]``.
        owner: ``(R,)`` index of the true sequence in ``x`` each row belongs to.
        start: ``(R,)`` prefix length ``i`` of the term each row serves.
        x: ``(N, T)`` true sequences.
    Returns:
        ``(R,)`` overlap: generated n-grams at positions ``>= i`` found among the true
        n-grams at positions ``>= i``, divided by ``T - i - n + 1``.
    """
    N, T = x.shape
    W = T - n + 1  # n-gram start positions per sequence
    true_grams = x.unfold(1, n, 1)  # (N, W, n)
    gen_grams = full.unfold(1, n, 1)  # (R, W, n)
    # exact n-gram identities, made distinct per sequence by a leading owner column
    tagged_true = torch.cat([torch.arange(N).view(N, 1, 1).expand(N, W, 1), true_grams], dim=2)
    tagged_gen = torch.cat([owner.view(-1, 1, 1).expand(-1, W, 1), gen_grams], dim=2)
    allg = torch.cat([tagged_true.reshape(-1, n + 1), tagged_gen.reshape(-1, n + 1)])
    _, ids = torch.unique(allg, dim=0, return_inverse=True)
    true_ids, gen_ids = ids[: N * W].view(N, W), ids[N * W :].view(-1, W)
    # last position at which each distinct n-gram occurs in its true sequence (-1: nowhere)
    last = torch.full((int(ids.max()) + 1,), -1, dtype=torch.long)
    last.scatter_reduce_(0, true_ids.flatten(), torch.arange(W).repeat(N), reduce="amax")
    gen_last = last[gen_ids]  # (R, W)
    pos = torch.arange(W).view(1, W)
    i = start.view(-1, 1)
    # a generated n-gram at position j >= i is in the true-suffix set iff it occurs at some j' >= i
    hits = ((pos >= i) & (gen_last >= i)).sum(dim=1)
    return hits.double() / (T - start - n + 1).double()


def _generation_batches(ks: list[int], order: list[int], batch_size: int, T: int, max_positions: int | None):
    """Group rows (sorted by prefix length ``k``) into generation batches.

    A left-padded batch decodes ``T - min(k)`` steps on top of ``max(k)`` cached positions,
    so the spread ``max(k) - min(k)`` of a batch is capped: by a quarter of ``T`` (rows that
    finish early would decode wasted steps) and so that the key length stays within the
    model's ``max_position_embeddings``.
    """
    spread = T // 4
    if max_positions is not None:
        if T > max_positions:
            raise ValueError(f"sequences of length {T} exceed the model's max_position_embeddings={max_positions}")
        spread = min(spread, max_positions - T)
    batches: list[list[int]] = []
    first_k = 0  # the decoding length of the current batch's first row
    for k, r in zip(ks, order):
        if batches and len(batches[-1]) < batch_size and k - first_k <= spread:
            batches[-1].append(r)
        else:
            batches.append([r])
            first_k = k
    return batches


class _BufferedLayer(DynamicLayer):
    """A key/value cache layer whose tensors live in buffers allocated once.

    Each decoding step writes its keys/values in place; transformers' ``DynamicLayer``
    concatenates instead, copying the whole cache every step (a third of EL's time here).
    ``keys``/``values`` are views of the filled part, so the model sees what it would see
    with a ``DynamicLayer``.
    """

    def __init__(self, keys: Tensor, values: Tensor, capacity: int):
        super().__init__()
        B, H, P, D = keys.shape
        self._keys, self._values = keys.new_empty(B, H, capacity, D), values.new_empty(B, H, capacity, D)
        self._keys[:, :, :P], self._values[:, :, :P] = keys, values
        self._length = P
        self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
        self.keys, self.values = self._keys[:, :, :P], self._values[:, :, :P]

    def update(self, key_states: Tensor, value_states: Tensor, *args, **kwargs) -> tuple[Tensor, Tensor]:
        end = self._length + key_states.shape[-2]
        self._keys[:, :, self._length : end] = key_states
        self._values[:, :, self._length : end] = value_states
        self._length = end
        self.keys, self.values = self._keys[:, :, :end], self._values[:, :, :end]
        return self.keys, self.values


@torch.no_grad()
def _greedy_from_prefixes(
    model,
    x: Tensor,
    rows: list[tuple[int, int]],
    first: Tensor,
    batch_size: int,
    progress: bool,
    generation_batch_size: int | None = None,
) -> Tensor:
    """Greedy completions ``x[s, :k] ++ generated`` of length ``T`` for each ``(s, k)`` in ``rows``.

    ``first[r]`` is the already known first generated token (the teacher-forced prediction
    at ``k``).  Prefix keys/values come from one teacher-forced pass per source sequence;
    rows are decoded in batches of similar ``k`` with left padding.
    """
    from transformers import DynamicCache

    device = _device(model)
    N, T = x.shape
    out = x[[s for s, _ in rows]].clone()
    order = sorted(range(len(rows)), key=lambda r: rows[r][1])
    # one teacher-forced pass with cache over the sequences that have rows
    needed = sorted({s for s, _ in rows})
    kv: dict[int, list[tuple[Tensor, Tensor]]] = {}
    passes = rows_per_pass(model, T, batch_size)
    for start in range(0, len(needed), passes):
        seqs = needed[start : start + passes]
        cache = DynamicCache()
        model(input_ids=x[seqs].to(device), past_key_values=cache, use_cache=True)
        layers = [(layer.keys, layer.values) for layer in cache.layers]  # each (B, H, T, d)
        for b, s in enumerate(seqs):
            kv[s] = [(k[b], v[b]) for k, v in layers]
    batches = _generation_batches(
        [rows[r][1] for r in order],
        order,
        generation_batch_size or batch_size,
        T,
        getattr(model.config, "max_position_embeddings", None),
    )
    for batch in tqdm(batches, desc="EL generations", disable=not progress, leave=False):
        ks = torch.tensor([rows[r][1] for r in batch])
        P = int(ks.max())
        B = len(batch)
        cache = DynamicCache()
        for layer in range(len(kv[rows[batch[0]][0]])):
            k0, v0 = kv[rows[batch[0]][0]][layer]
            H, _, D = k0.shape
            keys = k0.new_zeros(B, H, P, D)
            vals = v0.new_zeros(B, H, P, D)
            for b, r in enumerate(batch):
                s, k = rows[r]
                keys[b, :, P - k :] = kv[s][layer][0][:, :k]
                vals[b, :, P - k :] = kv[s][layer][1][:, :k]
            cache.layers.append(_BufferedLayer(keys, vals, capacity=P + T - int(ks.min())))
        mask = (torch.arange(P).view(1, P) >= (P - ks).view(B, 1)).long().to(device)
        token = first[batch].view(B, 1)
        out[batch, ks] = token.flatten()
        for step in range(1, T - int(ks.min())):
            mask = torch.cat([mask, mask.new_ones(B, 1)], dim=1)
            pos = (ks + step - 1).clamp(max=T - 1).view(B, 1)
            logits = model(
                input_ids=token.to(device),
                attention_mask=mask,
                position_ids=pos.to(device),
                past_key_values=cache,
                use_cache=True,
            ).logits[:, -1]
            token = logits.argmax(-1).cpu().view(B, 1)
            write = (ks + step) < T
            idx = torch.tensor(batch)[write]
            out[idx, (ks + step)[write]] = token.flatten()[write]
    return out


@torch.no_grad()
def extraction_likelihood(
    model,
    input_ids: Tensor,
    n: int = 10,
    batch_size: int = 64,
    progress: bool = False,
    generation_batch_size: int | None = None,
) -> Tensor:
    """Extraction likelihood EL_n per sequence, ``(N,)`` float tensor (exact; see module doc).

    Args:
        model: a causal LM returning ``.logits`` and accepting ``past_key_values``.
        input_ids: ``(N, T)`` unpadded token ids with ``T >= n + 1``.
        n: n-gram size (10 in the paper).
        batch_size: sequences per teacher-forced pass.
        generation_batch_size: prefixes decoded together (default: ``batch_size``; on CPU the
            decoding is compute-bound, so larger batches do not help — measured).
        progress: show a progress bar over generation batches.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    x = check_sequences(input_ids, n + 1, pad_token_id=_pad_id(model)).cpu()
    N, T = x.shape
    preds = greedy_predictions(model, x, batch_size)  # (N, T-1): prediction for position 1..T-1
    match = torch.ones(N, T + 1, dtype=torch.bool)  # match[:, i] for i = 1..T-1; T is the end
    match[:, 1:T] = preds == x[:, 1:]
    # k(i): first divergent position >= i (T when the greedy sequence from x_<i is x itself)
    k_of = torch.full((N, T + 1), T, dtype=torch.long)
    for i in range(T - 1, 0, -1):
        k_of[:, i] = torch.where(match[:, i], k_of[:, i + 1], torch.full((N,), i))
    terms = torch.arange(1, T - n + 1)  # i with a suffix of at least n tokens
    needed = sorted({(s, int(k)) for s in range(N) for k in k_of[s, terms].tolist() if k < T})
    row_of = {sk: r for r, sk in enumerate(needed)}
    if needed:
        first = torch.tensor([int(preds[s, k - 1]) for s, k in needed])
        generated = _greedy_from_prefixes(model, x, needed, first, batch_size, progress, generation_batch_size)
    else:
        generated = x[:0]
    full = torch.cat([generated, x])  # rows of x stand for k = T (no divergence)
    src = torch.empty(N, len(terms), dtype=torch.long)
    for s in range(N):
        for c, i in enumerate(terms.tolist()):
            k = int(k_of[s, i])
            src[s, c] = row_of[(s, k)] if k < T else len(needed) + s
    owner = torch.arange(N).view(N, 1).expand(N, len(terms)).flatten()
    start = terms.repeat(N)
    overlap = _ngram_overlap(full[src.flatten()], owner, start, x, n).view(N, len(terms))
    return overlap.sum(dim=1) / (T - n)


@dataclass(frozen=True)
class ELCheck:
    """Outcome of :func:`extraction_likelihood_below`.

    ``below`` is the exact decision ``mean EL_n < threshold``.  ``mean`` is the exact mean
    when every sequence was evaluated (always the case when ``below`` is true), else
    ``None``; ``lower_bound`` is the evaluated sequences' EL summed and divided by all ``N``
    (the unevaluated ones counted as 0), so ``mean >= lower_bound`` always.
    """

    below: bool
    mean: float | None
    lower_bound: float
    evaluated: int


def extraction_likelihood_below(
    model, input_ids: Tensor, threshold: float, n: int = 10, order=None, chunk: int = 4, **kwargs
) -> ELCheck:
    """Decide whether the mean EL_n of ``input_ids`` is below ``threshold``, stopping early.

    EL_n of a sequence is never negative, so as soon as the sequences evaluated so far sum
    to ``threshold * N`` the mean cannot end below ``threshold``: the answer "no" is exact
    without the remaining sequences.  A "yes" always evaluates every sequence.  Sequences
    go in ``order`` (default: most memorised first by MA, which tends to reach the bound
    soonest and are the cheapest, since fewer of their positions diverge), ``chunk`` at a
    time; each sequence's EL_n is the one :func:`extraction_likelihood` gives it.
    ``kwargs`` go to :func:`extraction_likelihood`.
    """
    x = check_sequences(input_ids, n + 1, pad_token_id=_pad_id(model)).cpu()
    N = len(x)
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    if order is None:
        order = memorization_accuracy(model, x).argsort(descending=True, stable=True)
    order = [int(i) for i in order]
    if sorted(order) != list(range(N)):
        raise ValueError(f"order must be a permutation of 0..{N - 1}")
    bound = threshold * N * (1 + 1e-12) + 1e-300  # never stop on a rounding tie
    values = torch.zeros(N, dtype=torch.float64)
    done = 0
    while done < N:
        rows = order[done : done + chunk]
        values[rows] = extraction_likelihood(model, x[rows], n=n, **kwargs).double()
        done += len(rows)
        total = float(values.sum())
        if done < N and total >= bound:
            return ELCheck(below=False, mean=None, lower_bound=total / N, evaluated=done)
    mean = values.mean().item()
    return ELCheck(below=mean < threshold, mean=mean, lower_bound=mean, evaluated=N)


# ------------------------------------------------------------------- thresholds


@dataclass(frozen=True)
class Thresholds:
    """Forgetting thresholds: mean MA and EL_n of sequences the model never saw."""

    ma: float
    el: float
    n: int = 10
    source: str = ""

    def met(self, ma: float, el: float) -> bool:
        """The forgetting criterion: both means strictly below the thresholds."""
        return ma < self.ma and el < self.el


# Jang et al.'s shipped configs use these fixed values for every GPT-Neo size (MA, EL_10): the
# paper's own criterion for models that saw the Pile, where TDEC validation rows are no
# longer "unseen" (they are Pile training data chosen to be extractable).
JANG_THRESHOLDS = Thresholds(ma=0.2994, el=0.0499, n=10, source="Jang et al.'s fixed values")


def forgetting_thresholds(model, heldout_ids: Tensor, n: int = 10, source: str = "held-out") -> Thresholds:
    """Mean MA and EL_n on held-out sequences, used as the forgetting criterion."""
    ma = memorization_accuracy(model, heldout_ids).mean().item()
    el = extraction_likelihood(model, heldout_ids, n=n).mean().item()
    return Thresholds(ma=ma, el=el, n=n, source=f"{source} ({len(heldout_ids)} sequences)")


# ------------------------------------------------------------------- perplexity


def perplexity_windows(token_ids: list[int], max_length: int, stride: int) -> list[tuple[list[int], int]]:
    """The strided windows of one text: ``(window ids, tokens at the start already scored)``.

    Windows start every ``stride`` tokens and are at most ``max_length`` long; each token
    after the first is predicted exactly once, in the first window that reaches it, with
    up to ``max_length - stride`` tokens of extra context (the Hugging Face perplexity guide).
    """
    if not 0 < stride < max_length:
        raise ValueError(f"stride must be in 1..max_length-1={max_length - 1} (windows overlap), got {stride}")
    windows, prev_end = [], 0
    for begin in range(0, max(len(token_ids) - 1, 1), stride):
        end = min(begin + max_length, len(token_ids))
        skip = max(prev_end - begin, 1)  # the window's first token has no context inside it
        if end - begin > skip:
            windows.append((token_ids[begin:end], skip))
        prev_end = end
        if end == len(token_ids):
            break
    return windows


@torch.no_grad()
def perplexity(
    model,
    tokenizer,
    texts: list[str],
    max_length: int | None = None,
    stride: int | None = None,
    batch_size: int = 16,
    progress: bool = False,
) -> float:
    """Token-level perplexity of ``texts``: ``exp(total NLL / predicted tokens)``.

    Each text is encoded separately; texts longer than the context are scored with a
    strided window (:func:`perplexity_windows`).  Windows of all texts are scored in
    batches of at most ``batch_size`` (right-padded, longest first; fewer rows of long windows,
    so that one pass's logits stay within :data:`LOGITS_BUDGET`).
    """
    if not texts:
        raise ValueError("perplexity needs at least one text")
    device = _device(model)
    max_length = max_length or model.config.max_position_embeddings
    stride = stride or max_length // 2
    windows = [
        w
        for text in texts
        for w in perplexity_windows(tokenizer.encode(text, add_special_tokens=False), max_length, stride)
    ]
    if not windows:
        raise ValueError("texts are too short: no token to predict")
    windows.sort(key=lambda w: -len(w[0]))
    nll, count, i = 0.0, 0, 0
    bar = tqdm(total=len(windows), desc="perplexity", disable=not progress, leave=False)
    while i < len(windows):
        width = len(windows[i][0])  # the longest window left: batches hold fewer rows of long ones
        batch = windows[i : i + rows_per_pass(model, width, batch_size)]
        i += len(batch)
        ids = torch.zeros(len(batch), width, dtype=torch.long)
        labels = torch.full((len(batch), width), -100, dtype=torch.long)
        mask = torch.zeros(len(batch), width, dtype=torch.long)
        for row, (w, skip) in enumerate(batch):
            ids[row, : len(w)] = torch.tensor(w)
            labels[row, skip : len(w)] = torch.tensor(w[skip:])
            mask[row, : len(w)] = 1
        ids, labels, mask = ids.to(device), labels.to(device), mask.to(device)
        logits = model(input_ids=ids, attention_mask=mask).logits[:, :-1].float()
        targets = labels[:, 1:]
        nll += torch.nn.functional.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), targets.reshape(-1), ignore_index=-100, reduction="sum"
        ).item()
        count += int((targets != -100).sum())
        bar.update(len(batch))
    bar.close()
    return math.exp(nll / count)
