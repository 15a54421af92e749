"""The per-epoch capability probe on the model *before* unlearning: where every trajectory starts.

Every run records :func:`.runs.capability_probe` (the log perplexity of a few Pile documents)
after each epoch; capability at matched forgetting (:mod:`.matched`) reads those trajectories
from the model before unlearning onwards, so their first point must be the same probe on that
model, not the downstream evaluation's Pile perplexity (other documents, other lengths).  This
module measures it once per model (about a second), cached and recorded like the other
before-unlearning records.  It trains nothing and decides nothing.
"""

from __future__ import annotations

from ..store import results
from . import runs

CODE = __name__


def before_probe(model_name: str) -> dict[str, float]:
    """``{"log_pile_ppl": …}``: the per-epoch probe on ``model_name`` as loaded (cached)."""
    loaded = runs.load(model_name)
    record = results.cached(
        "probe-before",
        {"model": loaded.key, "docs": runs.PROBE_DOCS, "chars": runs.PROBE_CHARS},
        lambda: runs.capability_probe(loaded.tokenizer)(loaded.model),
        code=CODE,
    )
    return {"log_pile_ppl": float(record["log_pile_ppl"])}


def with_probe(before: dict, model_name: str) -> dict:
    """``before`` (:func:`.runs.before`) with the probe of the same model under ``"probe"``: what
    :func:`.matched.start_log_ppl` starts the trajectories from."""
    return before | {"probe": before_probe(model_name)}
