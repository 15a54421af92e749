"""Attacks on an unlearned model: is the forgotten text really gone?

Meeting the MA/EL criterion says a model no longer *produces* the forget set under greedy
decoding; later work shows that this often survives neither weight quantisation (Zhang et al.,
ICLR 2025), nor a few fine-tuning steps on related text (relearning: Hu et al. 2024; Deeb &
Roger 2024), nor membership inference (MUSE's privacy leak).  Each attack here is a function of
a model (LoRA adapters merged first) and token ids, and never modifies its input:

* :func:`quantise`: a copy whose every linear layer's weight is rounded to ``bits`` bits, per
  group of ``group_size`` input weights: round-to-nearest on a min-max grid (``"rtn"``: what
  optimum-quanto's ``qint4`` computes, group 128, checked against it in the tests), or the NF4
  code book of QLoRA (``"nf4"``) or bitsandbytes' FP4 code book (``"fp4"``), each absmax per
  group (both checked against bitsandbytes' own quantiser in the tests: Zhang et al.'s grid).
  The copy computes in the input's dtype (fake quantisation): exactly the rounded weights,
  without a quantised kernel.
* :func:`relearn`: a copy fine-tuned on some rows for a few steps (the attacker's data);
  :func:`relearn_curve` measures it after several step counts of one run.
* :func:`membership_scores` and :func:`auc`: LOSS, zlib, Min-K % (k = 20 %, and MUSE's
  k = 40 %) and Min-K %++ scores per row and the ROC AUC of member against non-member rows;
  :func:`privacy_leak`: MUSE's PrivLeak from two such AUCs.
* :func:`weight_change`: how far unlearning moved the weights, in quantisation steps (why
  quantisation can or cannot undo it).

The audit (which models, which units, the exact reference as control) is the caller's; this
module attacks and measures one model at a time.
"""

from __future__ import annotations

import copy
import math
import zlib

import numpy as np
import torch

SCHEMES = ("rtn", "nf4", "fp4")

# QLoRA's NF4 code book (Dettmers et al. 2023, appendix E): the 16 quantiles of N(0, 1) scaled to
# [-1, 1], with an exact zero.
NF4 = torch.tensor(
    [
        -1.0,
        -0.6961928009986877,
        -0.5250730514526367,
        -0.39491748809814453,
        -0.28444138169288635,
        -0.18477343022823334,
        -0.09105003625154495,
        0.0,
        0.07958029955625534,
        0.16093020141124725,
        0.24611230194568634,
        0.33791524171829224,
        0.44070982933044434,
        0.5626170039176941,
        0.7229568362236023,
        1.0,
    ]
)


# bitsandbytes' FP4 code book (``bitsandbytes.functional.get_4bit_type("fp4")``: sign, 2 exponent and
# 1 mantissa bits, scaled to [-1, 1]); rounding to the nearest value is bitsandbytes' own rule
FP4 = torch.tensor(
    [-1.0, -2 / 3, -0.5, -1 / 3, -0.25, -1 / 6, -0.0052083334885537624, 0.0]
    + [0.0052083334885537624, 1 / 6, 0.25, 1 / 3, 0.5, 2 / 3, 1.0]
)
CODE_BOOKS = {"nf4": NF4, "fp4": FP4}


def quantise_weight(w: torch.Tensor, bits: int = 4, scheme: str = "rtn", group_size: int = 64) -> torch.Tensor:
    """``w`` (out, in) rounded per group of ``group_size`` consecutive input weights of a row,
    returned dequantised in ``w``'s dtype.  ``rtn``: ``2**bits`` levels evenly between the
    group's min and max; ``nf4`` and ``fp4`` (4 bits only): the code book times the group's absmax."""
    if scheme not in SCHEMES:
        raise ValueError(f"unknown quantisation scheme {scheme!r}; choose one of {SCHEMES}")
    if scheme in CODE_BOOKS and bits != 4:
        raise ValueError(f"{scheme} is a 4-bit code book, got bits={bits}")
    if not 2 <= bits <= 8:
        raise ValueError(f"bits must be in 2..8, got {bits}")
    out, inp = w.shape
    if inp % group_size:
        raise ValueError(
            f"group_size {group_size} does not divide the {inp} input weights of a {tuple(w.shape)} matrix"
        )
    g = w.detach().float().reshape(out, inp // group_size, group_size)
    if scheme == "rtn":
        q, scale, lo = _rtn_codes(g, bits)
        deq = q * scale + lo
    else:
        absmax = g.abs().amax(-1, keepdim=True).clamp(min=1e-12)
        book = CODE_BOOKS[scheme].to(g.device)
        idx = (g / absmax).unsqueeze(-1).sub(book).abs().argmin(-1)
        deq = book[idx] * absmax
    return deq.reshape(out, inp).to(w.dtype)


def _rtn_codes(g: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Round-to-nearest codes of groups ``g`` (``(..., group_size)``) on each group's min-max grid:
    ``(codes, step, min)``."""
    lo, hi = g.amin(-1, keepdim=True), g.amax(-1, keepdim=True)
    levels = 2**bits - 1
    scale = (hi - lo).clamp(min=1e-12) / levels
    return torch.clamp(torch.round((g - lo) / scale), 0, levels), scale, lo


def quantise(model, bits: int = 4, scheme: str = "rtn", group_size: int = 64):
    """A copy of ``model`` with every ``torch.nn.Linear`` weight of its blocks quantised
    (:func:`quantise_weight`); embeddings, norms, biases and the output head untouched (as GPTQ
    and AWQ keep the head in full precision; a tied head is the embedding); the input untouched.
    A layer whose input size ``group_size`` does not divide keeps one group per row."""
    q = copy.deepcopy(model)
    with torch.no_grad():
        for module in _quantised_linears(q).values():
            size = group_size if module.in_features % group_size == 0 else module.in_features
            module.weight.copy_(quantise_weight(module.weight, bits, scheme, size))
    return q.eval()


def relearn(model, rows: torch.Tensor, steps: int, lr: float = 1e-5, batch: int | None = None, seed: int = 0):
    """A copy of ``model`` fine-tuned for ``steps`` AdamW steps on ``rows`` (``(N, T)`` token
    ids; all rows each step unless ``batch``): the relearning attack's model.  The input is
    untouched."""
    return _relearn(model, rows, steps, lr, batch, seed)


def relearn_curve(model, rows: torch.Tensor, at, measure, lr: float = 1e-5, batch: int | None = None, seed: int = 0):
    """``{k: measure(model after k steps)}`` for every ``k`` of ``at``, from one fine-tuning run of
    ``max(at)`` steps (the same steps :func:`relearn` takes; ``measure`` sees the model in eval
    mode).  The input is untouched."""
    at = sorted(set(at))
    if not at or at[0] < 1:
        raise ValueError(f"relearning checkpoints must be positive step counts, got {at}")
    out = {}

    def after(step, m):
        if step.step in at:
            m.eval()
            with torch.no_grad():
                out[step.step] = measure(m)
            m.train()

    _relearn(model, rows, at[-1], lr, batch, seed, after)
    return out


def _relearn(model, rows, steps, lr, batch, seed, after=None):
    from .. import training

    m = copy.deepcopy(model).train()
    for p in m.parameters():  # a merged LoRA model keeps its base weights frozen
        p.requires_grad_(True)
    gen = torch.Generator().manual_seed(seed)
    device = next(m.parameters()).device
    rows = rows.to(device)

    def loss(step: int) -> torch.Tensor:
        x = rows if batch is None else rows[torch.randperm(len(rows), generator=gen)[:batch].to(device)]
        return m(input_ids=x, labels=x).loss

    training.train(
        m,
        loss,
        steps,
        training.Optimisation(lr=lr, clip=1.0, precision="fp32"),
        params=list(m.parameters()),
        after_step=None if after is None else (lambda step: after(step, m)),
        progress=False,
    )
    return m.eval()


@torch.no_grad()
def token_log_probs(model, ids: torch.Tensor, batch_size: int = 16) -> tuple[torch.Tensor, torch.Tensor]:
    """Per row and position 1..T-1: the log-probability of the true token, and the mean and
    standard deviation of the log-probability under the model's own next-token distribution
    (Min-K %++'s normalisation): ``(logp, (mu, sigma))``, each ``(N, T-1)``."""
    device = next(model.parameters()).device
    out_lp, out_mu, out_sd = [], [], []
    for s in range(0, len(ids), batch_size):
        x = ids[s : s + batch_size].to(device)
        logits = model(input_ids=x).logits[:, :-1].float()
        logp_all = torch.log_softmax(logits, -1)
        p = logp_all.exp()
        lp = logp_all.gather(-1, x[:, 1:].unsqueeze(-1)).squeeze(-1)
        mu = (p * logp_all).sum(-1)
        var = (p * logp_all.square()).sum(-1) - mu.square()
        out_lp.append(lp.cpu())
        out_mu.append(mu.cpu())
        out_sd.append(var.clamp(min=0).sqrt().cpu())
    return torch.cat(out_lp), (torch.cat(out_mu), torch.cat(out_sd))


MEMBERSHIP = ("loss", "zlib", "min_k", "min_k_40", "min_k_pp")
MUSE_K = 0.4  # MUSE computes its privacy leak with Min-K % Prob at k = 40 %


def membership_scores(model, ids: torch.Tensor, tokenizer=None, k: float = 0.2) -> dict[str, np.ndarray]:
    """Membership scores per row, each *higher for a likelier member*:

    * ``loss``: minus the mean token NLL (Yeom et al.);
    * ``zlib``: minus the total NLL over the zlib-compressed length of the row's text
      (Carlini et al. 2021; needs ``tokenizer``, else the ids' bytes are compressed);
    * ``min_k``: the mean log-probability of the row's ``k`` least likely tokens (Shi et al. 2024);
      ``min_k_40`` the same at MUSE's :data:`MUSE_K` = 40 %;
    * ``min_k_pp``: the same over tokens standardised by the model's own next-token
      distribution, ``(log p - mu) / sigma`` (Min-K %++, Zhang et al. 2024).
    """
    lp, (mu, sd) = token_log_probs(model, ids)
    n = lp.shape[1]
    keep = max(1, int(math.ceil(k * n)))
    keep_muse = max(1, int(math.ceil(MUSE_K * n)))
    nll_total = -lp.sum(1)
    if tokenizer is not None:
        texts = [tokenizer.decode(row) for row in ids.tolist()]
        lengths = [len(zlib.compress(t.encode("utf-8"))) for t in texts]
    else:
        lengths = [len(zlib.compress(np.asarray(row, dtype=np.int32).tobytes())) for row in ids.tolist()]
    z = (lp - mu) / sd.clamp(min=1e-6)
    lowest = lp.sort(1).values  # each row's token log-probabilities, least likely first
    return {
        "loss": (-nll_total / n).numpy(),
        "zlib": (-nll_total / torch.tensor(lengths, dtype=lp.dtype)).numpy(),
        "min_k": lowest[:, :keep].mean(1).numpy(),
        "min_k_40": lowest[:, :keep_muse].mean(1).numpy(),
        "min_k_pp": z.sort(1).values[:, :keep].mean(1).numpy(),
    }


def auc(member_scores, nonmember_scores) -> float:
    """ROC AUC of telling members (positives) from non-members by the score (scikit-learn)."""
    from sklearn.metrics import roc_auc_score

    a, b = np.asarray(member_scores, float), np.asarray(nonmember_scores, float)
    if not len(a) or not len(b):
        raise ValueError(f"need members and non-members, got {len(a)} and {len(b)}")
    return float(roc_auc_score(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b]))


def privacy_leak(auc_model: float, auc_reference: float) -> float:
    """MUSE's PrivLeak in % (Shi et al. 2024, "MUSE: Machine Unlearning Six-Way Evaluation",
    Sec. 3): ``(AUC_model - AUC_ref) / AUC_ref`` with MUSE's AUC, which is one minus the
    conventional AUC that :func:`auc` returns (forget rows as the positive class, higher Min-K
    score = likelier member); open-unlearning's ``privleak`` converts the same way.  The exact
    reference (the model retrained without the forget rows) scores 0; a model that still tells
    its forget rows from unseen ones (under-unlearning, e.g. the model before unlearning) scores
    *negative*, down to -100 %; one whose forget rows look less familiar than unseen rows
    (over-unlearning) scores positive.  MUSE's attack is Min-K % at k = 40 % (``min_k_40``)."""
    muse_model, muse_ref = 1.0 - auc_model, 1.0 - auc_reference
    if muse_ref <= 0:
        raise ValueError(f"the reference's AUC {auc_reference} leaves MUSE's AUC {muse_ref} <= 0: no privacy leak")
    return 100.0 * (muse_model - muse_ref) / muse_ref


def membership(model, member_ids: torch.Tensor, nonmember_ids: torch.Tensor, tokenizer=None) -> dict[str, float]:
    """The ROC AUC of every score of :data:`MEMBERSHIP` for ``member_ids`` against
    ``nonmember_ids`` (0.5: the model does not tell them apart)."""
    m = membership_scores(model, member_ids, tokenizer)
    o = membership_scores(model, nonmember_ids, tokenizer)
    return {name: auc(m[name], o[name]) for name in MEMBERSHIP}


def _quantised_linears(model):
    """``{name: Linear}`` of the layers :func:`quantise` rounds (every linear but the output head)."""
    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and m is not head}


@torch.no_grad()
def weight_change(original, unlearned, bits: int = 4, group_size: int = 64) -> dict[str, float]:
    """How far unlearning moved the weights :func:`quantise` rounds, in units of the rounding
    step: Zhang et al.'s explanation of why quantisation restores forgotten knowledge is that
    unlearning moves most weights by less than one step, so both models round to the same grid.

    Returns ``median_steps`` (the median over every such weight of ``|ΔW|`` over its group's
    ``bits``-bit round-to-nearest step in ``original``), ``share_above_half_step`` (weights moved
    by more than half a step) and ``share_codes_changed`` (weights whose 4-bit code, the index on
    their group's own grid, differs between the two models), all over the same layers."""
    a, b = _quantised_linears(original), _quantised_linears(unlearned)
    if set(a) != set(b):
        raise ValueError(f"the two models have different linear layers: {sorted(set(a) ^ set(b))[:4]} …")
    ratios, moved, total = [], 0, 0
    for name, layer in a.items():
        w0, w1 = layer.weight.float(), b[name].weight.float()
        size = group_size if layer.in_features % group_size == 0 else layer.in_features
        g0, g1 = (w.reshape(w.shape[0], -1, size) for w in (w0, w1))
        codes0, step, _ = _rtn_codes(g0, bits)
        codes1, _, _ = _rtn_codes(g1, bits)
        ratios.append(((g1 - g0).abs() / step).flatten())
        moved += int((codes0 != codes1).sum())
        total += w0.numel()
    r = torch.cat(ratios)
    return {
        "median_steps": float(r.median()),
        "share_above_half_step": float((r > 0.5).float().mean()),
        "share_codes_changed": moved / total,
    }
