"""The memorisation report of a model: MA / EL_n per forget set, held-out thresholds, perplexity.

This is what the book's introduction shows for the testbed (and, in the gpu profile, for
GPT-Neo): how strongly each forget set is memorised compared with sequences the model never
saw, and how good a language model it is on held-out text.  It composes
:mod:`unlearnkit.metrics`; it defines no metric of its own.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from .. import data, metrics
from ..store import results


def perplexity_texts(name: str, count: int | None, seed: int = 0) -> list[str]:
    """Held-out texts for perplexity: ``"pile"`` (Pile sample) or ``"wikitext"`` (raw validation
    chunks), subsampled to ``count`` documents with a fixed seed (``None``: all)."""
    if name == "pile":
        texts = [str(t) for t in data.pile_sample()["text"]]
    elif name == "wikitext":
        texts = data.wikitext_raw_chunks()
    else:
        raise ValueError(f"unknown perplexity set {name!r}; choose 'pile' or 'wikitext'")
    if count is not None and count < len(texts):
        idx = np.sort(np.random.default_rng(seed).choice(len(texts), size=count, replace=False))
        texts = [texts[i] for i in idx]
    return texts


def memorisation_report(
    model,
    tokenizer,
    forget_sets: dict[str, torch.Tensor],
    heldout: torch.Tensor,
    n: int = 10,
    ppl_docs: int | None = 200,
    model_key: str = "",
    progress: bool = True,
) -> dict:
    """MA/EL per forget set, thresholds from ``heldout``, and Pile/WikiText perplexity.

    Cached in the results store under ``model_key`` (e.g. the testbed's recipe hash or a hub
    id); pass ``model_key=""`` to always recompute.
    """
    config = {
        "model": model_key,
        "n": n,
        "ppl_docs": ppl_docs,
        "heldout": len(heldout),
        "forget_sets": sorted(forget_sets),
    }

    def compute() -> dict:
        rows = []
        for name, ids in forget_sets.items():
            ma = metrics.memorization_accuracy(model, ids)
            el = metrics.extraction_likelihood(model, ids, n=n, progress=progress)
            rows.append(
                {
                    "forget_set": name,
                    "ma": ma.mean().item(),
                    "el": el.mean().item(),
                    "ma_per_sequence": ma.tolist(),
                    "el_per_sequence": el.tolist(),
                }
            )
        th = thresholds(model, heldout, n=n, model_key=model_key)
        ppl = {
            k: metrics.perplexity(model, tokenizer, perplexity_texts(k, ppl_docs), progress=progress)
            for k in ("pile", "wikitext")
        }
        return {
            "forget_sets": rows,
            "thresholds": {"ma": th.ma, "el": th.el, "n": n, "source": th.source},
            "perplexity": ppl,
        }

    if not model_key:
        return compute()
    return results.cached("memorisation", config, compute, code=__name__)


TDEC_HELDOUT = "TDEC validation rows"


def thresholds(
    model, heldout: torch.Tensor, n: int = 10, model_key: str = "", source: str = TDEC_HELDOUT
) -> metrics.Thresholds:
    """Forgetting thresholds of ``model`` on ``heldout`` (cached in the results store under
    ``model_key`` and ``source``, the name of the data; ``model_key=""`` recomputes)."""

    def compute() -> dict:
        th = metrics.forgetting_thresholds(model, heldout, n=n, source=source)
        return {"ma": th.ma, "el": th.el, "n": th.n, "source": th.source}

    key = {"model": model_key, "n": n, "heldout": len(heldout)}
    if source != TDEC_HELDOUT:  # TDEC keys stay as they were before other sources existed
        key["data"] = source
    rec = results.cached("thresholds", key, compute, code=__name__) if model_key else compute()
    return metrics.Thresholds(rec["ma"], rec["el"], rec["n"], rec["source"])


def report_table(report: dict) -> pd.DataFrame:
    """The report as a table in %: one row per forget set (mean and least-memorised sequence),
    then the held-out rows the thresholds come from."""
    rows = [
        {
            "set": r["forget_set"],
            "MA (%)": 100 * r["ma"],
            "EL10 (%)": 100 * r["el"],
            "min MA (%)": 100 * min(r["ma_per_sequence"]),
            "min EL10 (%)": 100 * min(r["el_per_sequence"]),
        }
        for r in report["forget_sets"]
    ]
    th = report["thresholds"]
    rows.append({"set": f"held-out: {th['source']}", "MA (%)": 100 * th["ma"], "EL10 (%)": 100 * th["el"]})
    return pd.DataFrame(rows).set_index("set")


def report_facts(report: dict) -> dict[str, str]:
    """The numbers the introduction quotes, as text: mean MA / EL over the forget sets,
    the thresholds and both perplexities."""
    sets, th, ppl = report["forget_sets"], report["thresholds"], report["perplexity"]
    return {
        "mean_ma": f"{100 * np.mean([r['ma'] for r in sets]):.1f}",
        "mean_el": f"{100 * np.mean([r['el'] for r in sets]):.1f}",
        "threshold_ma": f"{100 * th['ma']:.1f}",
        "threshold_el": f"{100 * th['el']:.1f}",
        "ppl_pile": f"{ppl['pile']:.1f}",
        "ppl_wikitext": f"{ppl['wikitext']:.1f}",
    }
