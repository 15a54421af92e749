"""Tables and prose facts from run records: Cha et al.'s Table 1, one row per run, the model
before unlearning per task, the learning-rate check.

Presentation only: nothing here trains, evaluates or caches, so editing a table never
changes a cache key (:mod:`unlearnkit.store.codehash` keys records by the code that computes them,
:mod:`unlearnkit.experiments.runs`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..store.records import RunRecord, field_of
from .runs import RunSpec


def forget_rows_text(rows: int | None, parts: list[int] | None = None) -> str:
    """How much of each forget set a chapter unlearns, for its prose."""
    if rows is None:
        return "all 32 sequences"
    if not parts or list(parts) == [0]:
        return f"the first {rows} of its 32 sequences"
    spans = ", ".join(f"{p * rows}–{(p + 1) * rows - 1}" for p in parts)
    return f"{len(parts)} units of {rows} consecutive sequences each (rows {spans} of its 32), unlearned separately"


def _mean_std(values: list[float]) -> str:
    values = [v for v in values if v is not None and np.isfinite(v)]
    if not values:
        return "–"
    return f"{np.mean(values):.1f} ± {np.std(values):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def table1(
    records: dict[str, list[RunRecord]], before_rec: dict, before_mem: dict | None = None, reference: dict | None = None
) -> pd.DataFrame:
    """The paper's Table 1 layout from run records grouped by method name.

    Epochs, EL10, MA, Reasoning (mean accuracy, %), Dialogue (mean F1, %) and Pile PPL are
    mean ± std over the runs that met the criterion; ``failed`` counts the runs that did not
    (they are never dropped silently).  ``reference``: the exact-unlearning reference
    (:func:`unlearnkit.experiments.exact.reference`), shown as a last row.
    """

    def row(method, params, epochs, failed, el, ma, scores) -> dict:
        return {
            "Method": method,
            "Params %": params,
            "Epochs": epochs,
            "failed": failed,
            "EL10 (%)": el,
            "MA (%)": ma,
            **{
                col: _mean_std(scores[key])
                for key, col in (("reasoning", "Reasoning"), ("dialogue", "Dialogue"), ("pile_ppl", "Pile PPL"))
            },
        }

    def pct(value) -> list[float]:
        return [100 * value]

    rows = [
        row(
            "Before",
            "–",
            "–",
            "–",
            _mean_std(pct(before_mem["el"])) if before_mem else "–",
            _mean_std(pct(before_mem["ma"])) if before_mem else "–",
            {
                "reasoning": pct(before_rec["reasoning"]),
                "dialogue": pct(before_rec["dialogue"]),
                "pile_ppl": [before_rec["pile_ppl"]],
            },
        )
    ]
    for name, recs in records.items():
        ok = [r for r in recs if r.succeeded]
        rows.append(
            row(
                name,
                f"{100 * recs[0].trainable_share:.1f}" if recs else "–",
                _mean_std([r.epochs for r in ok]),
                f"{len(recs) - len(ok)}/{len(recs)}",
                _mean_std([100 * r.final_el for r in ok]),
                _mean_std([100 * r.final_ma for r in ok]),
                {
                    "reasoning": [100 * r.reasoning for r in ok],
                    "dialogue": [100 * r.dialogue for r in ok],
                    "pile_ppl": [r.pile_ppl for r in ok],
                },
            )
        )
    refs = [] if reference is None else [reference] if "draw" in reference else list(reference.values())
    if refs:  # the exact-unlearning reference(s): each on its own unit
        label = (
            f"Rebuilt without {refs[0]['forget_set']} (exact)"
            if len(refs) == 1
            else f"Rebuilt without the unit (exact, {len(refs)} units)"
        )
        rows.append(
            row(
                label,
                "100.0",
                "–",
                "–",
                _mean_std([100 * r["el"] for r in refs]),
                _mean_std([100 * r["ma"] for r in refs]),
                {
                    "reasoning": [100 * r["reasoning"] for r in refs],
                    "dialogue": [100 * r["dialogue"] for r in refs],
                    "pile_ppl": [r["pile_ppl"] for r in refs],
                },
            )
        )
    return pd.DataFrame(rows).set_index("Method")


def collateral_table(groups: dict[str, list[RunRecord]], before_ma: dict[str, float] | None = None) -> pd.DataFrame:
    """Collateral forgetting: after unlearning one unit, the mean MA (%) of the model's other
    memorised units, those of the same forget set and those of other sets, over a method's
    runs; with ``before_ma`` (``"set.part"`` → MA before unlearning) the same units before, so
    each "after" has its own "before"."""
    before_ma = before_ma or {}

    def mean(values) -> float | None:
        values = [v for v in values if v is not None]
        return 100 * float(np.mean(values)) if values else None

    rows = []
    for name, recs in groups.items():
        recs = [r for r in recs if r.collateral_ma]
        if not recs:
            continue
        row = {"method": name, "runs": len(recs)}
        for label, same in (("same set", True), ("other sets", False)):
            after, before = [], []
            for r in recs:
                own = r.forget_set.split("[")[0].removeprefix("lm_extraction_32_")
                units = [u for u in r.collateral_ma if (u.split(".")[0] == own) == same]
                if units:
                    after.append(np.mean([r.collateral_ma[u] for u in units]))
                    before.append(
                        np.mean([before_ma[u] for u in units]) if all(u in before_ma for u in units) else None
                    )
            row[f"{label}: before"] = mean(before)
            row[f"{label}: after"] = mean(after)
        rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["runs"])
    return pd.DataFrame(rows).set_index("method")


def runs_table(groups: dict[str, list[RunRecord]]) -> pd.DataFrame:
    """One row per run (failed ones included): status, epochs, final MA/EL, capability, cost."""
    return pd.DataFrame(
        [
            {
                "method": name,
                "forget set": r.forget_set,
                "status": r.status,
                "epochs run": r.epochs_run,
                "MA (%)": 100 * r.final_ma,
                "EL10 (%)": None if r.final_el is None else 100 * r.final_el,
                "Reasoning": None if r.reasoning is None else 100 * r.reasoning,
                "Dialogue": None if r.dialogue is None else 100 * r.dialogue,
                "Pile PPL": r.pile_ppl,
                "train FLOPs": f"{r.train_flops:.2e}",
                "wall (s)": round(r.wall_seconds, 1),
            }
            for name, recs in groups.items()
            for r in recs
        ]
    )


def _cost(r: RunRecord) -> tuple[float, float, float]:
    """(training, criterion checks + probe, total) seconds of one run; evaluation is the rest."""
    return r.train_seconds + r.setup_seconds, r.eval_seconds, r.seconds if r.seconds is not None else r.wall_seconds


def cost_table(groups: dict[str, list[RunRecord]]) -> pd.DataFrame:
    """What a run costs, per method (mean seconds per run): training steps, the per-epoch
    checks (EL/MA against the criterion and the capability probe), the downstream evaluation
    after unlearning, and the total; plus the share of the total each part takes."""
    rows = []
    for name, recs in groups.items():
        if not recs:
            continue
        train, checks, total = np.mean([_cost(r) for r in recs], axis=0)
        evaluation = max(total - train - checks, 0.0)
        rows.append(
            {
                "method": name,
                "runs": len(recs),
                "epochs run": float(np.mean([r.epochs_run for r in recs])),
                "training (s)": train,
                "criterion checks + probe (s)": checks,
                "evaluation (s)": evaluation,
                "total per unit (min)": total / 60,
                "training share": train / total if total else None,
            }
        )
    return pd.DataFrame(rows).set_index("method")


def provenance_text(records: list) -> str:
    """Where a chapter's runs were computed: in this build, or read from records committed under
    ``results/`` (a record carries ``made`` only when it was recorded; its key is its settings and
    the digest of its code, so a record read is the one this build would compute)."""
    from .recorded import distinct

    records = distinct(records)
    made = [m for m in (field_of(r, "made", None) for r in records) if m]
    if not made:
        return "Every run was computed in this build."
    commits = sorted({str(m.get("commit", "?")) for m in made})
    dates = sorted(str(m.get("date", "?"))[:10] for m in made)
    return (
        f"{len(made)} of these {len(records)} runs were read from records committed under `results/` "
        f"(computed at commit{'s' if len(commits) > 1 else ''} {', '.join(commits)}, {dates[0]} to {dates[-1]}), "
        "under the same key as this build's: the same settings and the same code digest; "
        f"{len(records) - len(made)} {'was' if len(records) - len(made) == 1 else 'were'} computed in this build."
    )


def cost_figures(groups: dict[str, list[RunRecord]]) -> dict[str, str]:
    """The cost of a grid as measured figures (for :func:`unlearnkit.book.measured.record`):
    runs, total compute, minutes per unit and what dominates it."""
    from .recorded import distinct

    records = distinct(r for recs in groups.values() for r in recs)  # a run shared by two sections counts once
    if not records:
        return {"runs": "0"}
    train, checks, total = np.sum([_cost(r) for r in records], axis=0)
    return {
        "runs": str(len(records)),
        "compute, all runs": f"{total / 3600:.2f} h",
        "per unit (mean)": f"{total / len(records) / 60:.1f} min",
        "training steps": f"{100 * train / total:.0f} %",
        "criterion checks (EL/MA) and probe": f"{100 * checks / total:.0f} %",
        "downstream evaluation": f"{100 * max(total - train - checks, 0) / total:.0f} %",
    }


def per_task_table(
    before_rec: dict, published_dialogue: dict[str, float] | None = None, published_label: str = "published"
) -> pd.DataFrame:
    """The model before unlearning per downstream task (%), with the documents evaluated and,
    beside the dialogue tasks, published initial scores (``{task: fraction}``) where given."""
    ds, published = before_rec["downstream"], published_dialogue or {}
    rows = [
        {"task": t, "kind": "reasoning (acc %)", "ours": 100 * v, "docs": ds["docs"].get(t)}
        for t, v in ds["reasoning"].items()
    ]
    rows += [
        {
            "task": t,
            "kind": "dialogue (F1 %)",
            "ours": 100 * v,
            "docs": ds["docs"].get(t),
            published_label: 100 * published[t] if t in published else float("nan"),
        }
        for t, v in ds["dialogue"].items()
    ]
    return pd.DataFrame(rows).set_index("task")


def rate_table(groups_by_rate: dict[tuple[float, float], dict[str, list[RunRecord]]]) -> pd.DataFrame:
    """Table 1's methods at several learning-rate pairs: ``{(lr_full, lr_lora): {method: records}}``
    → one row per pair and method with runs, successes, mean epochs to the criterion (a failure
    counts as its budget + 1) and mean Pile perplexity of the successful runs."""
    rows = []
    for (lr_full, lr_lora), groups in groups_by_rate.items():
        for name, recs in groups.items():
            ok = [r for r in recs if r.succeeded]
            rows.append(
                {
                    "rates (full / LoRA)": f"{lr_full:g} / {lr_lora:g}",
                    "LoRA / full": lr_lora / lr_full,
                    "method": name,
                    "runs": len(recs),
                    "forgotten": len(ok),
                    "epochs (failure = budget + 1)": float(np.mean([r.epochs_or_censored() for r in recs])),
                    "Pile PPL (forgotten runs)": float(np.mean([r.pile_ppl for r in ok])) if ok else None,
                }
            )
    if not rows:
        raise ValueError("rate_table: no runs to tabulate (every rate pair has an empty method list)")
    return pd.DataFrame(rows).set_index(["rates (full / LoRA)", "method"])


def table1_facts(
    groups: dict[str, list[RunSpec]],
    before_rec: dict,
    max_epochs: int,
    forget_rows: int | None,
    forget_parts: list[int] | None = None,
) -> dict[str, str]:
    """The numbers Table 1's prose quotes, as text for ``glue``."""
    th, sizes = before_rec["thresholds"], (before_rec.get("downstream") or {}).get("sizes", {})
    records = [r for recs in groups.values() for r in recs]
    facts = {
        "forget_text": forget_rows_text(forget_rows, forget_parts),
        "max_epochs_text": str(max_epochs),
        "th_ma": f"{100 * th['ma']:.1f}",
        "th_el": f"{100 * th['el']:.1f}",
        "th_source": th.get("source", ""),
        "n_runs": str(len(records)),
        "n_failed": str(sum(not r.succeeded for r in records)),
        "n_units": str(max((len(v) for v in groups.values()), default=0)),
        "compute_min": f"{sum(r.seconds or 0.0 for r in records) / 60:.0f}",
        "provenance_text": provenance_text(records),
        "before_reasoning": f"{100 * before_rec['reasoning']:.1f}",
        "before_dialogue": f"{100 * before_rec['dialogue']:.1f}",
        "before_ppl": f"{before_rec['pile_ppl']:.1f}",
    }
    truncated = (before_rec.get("downstream") or {}).get("truncated_requests")
    facts["truncated_requests"] = "an uncounted number of" if truncated is None else f"{truncated:,}"
    for key in ("reasoning_docs", "dialogue_docs", "pile_docs", "wikitext_docs"):
        facts[key] = "all" if sizes.get(key) is None else str(sizes[key])
    if records:
        facts["retain_source"] = str(records[0].tags.get("retain_source", ""))
        lora = records[-1].config.get("lora") or {}
        facts["fisher_estimator"] = str(lora.get("fisher_estimator", ""))
        facts["precision"] = records[0].environment.precision
    return facts
