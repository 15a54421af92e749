"""The book's findings page: every claim's verdict per model, gathered from the chapters.

Chapters that decide claims call :func:`add` with their verdict rows (the builder passes
each a ``findings_path`` in the build folder); the introduction, which the builder executes
last, reads them back with :func:`load` and shows one table: each claim against what the
paper reports, the recorded real-model results (:mod:`unlearnkit.experiments.recorded`) and
the models this build ran, each verdict linked to the chapter that decided it.

This module collects and presents; it decides nothing (the verdicts come from
:mod:`unlearnkit.experiments.claims` and :mod:`unlearnkit.second_paper.claims`).
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path

from ..store.cache import write_json_atomic
from ..experiments.claims import CLAIMS as FIRST_PAPER_CLAIMS
from ..experiments.robustness_report import CLAIMS as ROBUSTNESS_CLAIMS
from ..second_paper.claims import STATEMENTS as SECOND_PAPER_CLAIMS
from . import paper

# Every claim the book decides, in reading order, with its statement (each from the module that decides it)
STATEMENTS = (
    FIRST_PAPER_CLAIMS | SECOND_PAPER_CLAIMS | {claim: c[3] for claim, c in ROBUSTNESS_CLAIMS.items()}
)


def paper_evidence() -> dict[str, str]:
    """What each paper reports for its claims (its own tables, GPT-Neo 125M and OPT-1.3B)."""
    t = paper.table1("GPT-Neo 125M")
    h = paper.GUNDAVARAPU_HARMFUL.set_index(["model", "state"])
    c = paper.GUNDAVARAPU_COPYRIGHT.set_index(["model", "state"])

    def v(row, col):
        return t.loc[row, col]

    return {
        "C1": f"Pile PPL {v('Before', 'Pile PPL'):g} → {v('GA', 'Pile PPL'):g} after GA (×{v('GA', 'Pile PPL') / v('Before', 'Pile PPL'):.0f})",
        "C2": f"epochs GD {v('GD', 'Epochs'):g} vs GA {v('GA', 'Epochs'):g}; PPL {v('GD', 'Pile PPL'):g} vs {v('GA', 'Pile PPL'):g}",
        "C3": f"LoRA (GD) {v('LoRA (GD)', 'Epochs'):g} epochs vs GD {v('GD', 'Epochs'):g}; PPL {v('LoRA (GD)', 'Pile PPL'):g} vs {v('GD', 'Pile PPL'):g}",
        "C4": f"PPL {v('+ IHL', 'Pile PPL'):g} vs {v('LoRA (GD)', 'Pile PPL'):g}; dialogue {v('+ IHL', 'Dialogue'):g} vs {v('LoRA (GD)', 'Dialogue'):g}",
        "C5": f"epochs {v('+ FILA', 'Epochs'):g} vs {v('+ IHL', 'Epochs'):g}",
        "C5b": "not tested in the paper (no PiSSA arm)",
        "C6": f"PPL {v('+ FILA', 'Pile PPL'):g}, dialogue {v('+ FILA', 'Dialogue'):g}: best of the LoRA rows",
        "C7": "Figure 4 (no numbers published)",
        "H1": f"harmful rate {h.loc[('OPT-1.3B', 'original'), 'harmful rate (%)']} % → "
        f"{h.loc[('OPT-1.3B', 'unlearned'), 'harmful rate (%)']} % (OPT-1.3B)",
        "H2": "TruthfulQA kept (Section 5; no paired test)",
        "K1": f"similarity {c.loc[('OPT-1.3B', 'original'), 'similarity to the book']:g} → "
        f"{c.loc[('OPT-1.3B', 'fine-tuned'), 'similarity to the book']:g} (OPT-1.3B)",
        "K2": f"→ {c.loc[('OPT-1.3B', 'unlearned'), 'similarity to the book']:g} after unlearning",
        "K3": f"normal-prompt similarity {c.loc[('OPT-1.3B', 'fine-tuned'), 'similarity to original (normal prompts)']:g} → "
        f"{c.loc[('OPT-1.3B', 'unlearned'), 'similarity to original (normal prompts)']:g}",
    } | {claim: "not tested in either paper" for claim in ROBUSTNESS_CLAIMS}


def entry(row: dict, chapter: str = "") -> dict:
    """One verdict row reduced to what the findings table shows: verdict, n, p (Holm's where
    the chapter adjusted) and the chapter that decided it."""
    p = row.get("Holm p", row.get("p"))
    return {
        "claim": row["claim"],
        "verdict": str(row["verdict"]),
        "n": row.get("n"),
        "p": None if p is None or (isinstance(p, float) and math.isnan(p)) else float(p),
        "chapter": chapter,
    }


def add(path: str | Path | None, chapter: str, model: str, rows: list[dict]) -> None:
    """Record ``rows`` (verdict rows with ``claim``, ``verdict``, ``n``, ``p``) decided by
    ``chapter`` on ``model`` in the findings file ``path`` (nothing when ``path`` is empty)."""
    if not path:
        return
    path = Path(path)
    data = json.loads(path.read_text()) if path.is_file() else {}
    data.setdefault(model, {})
    for row in rows:
        data[model][row["claim"]] = entry(row, chapter)
    write_json_atomic(path, data)


def load(path: str | Path | None) -> dict:
    """``{model: {claim: {verdict, n, p, chapter}}}`` from ``path`` (empty when absent)."""
    if not path or not Path(path).is_file():
        return {}
    return json.loads(Path(path).read_text())


def _cell(entry: dict | None, chapter_default: str = "") -> str:
    if not entry:
        return '<span style="color:#888">not decided</span>'
    verdict = html.escape(entry["verdict"])
    n = entry.get("n")
    p = entry.get("p")
    detail = ", ".join(x for x in (f"n = {n}" if n is not None else "", f"p = {p:.2g}" if p is not None else "") if x)
    chapter = entry.get("chapter") or chapter_default
    link = f'<a href="{html.escape(chapter)}.html">{verdict}</a>' if chapter else verdict
    return link + (f"<br><small>{html.escape(detail)}</small>" if detail else "")


def table_html(columns: dict[str, dict]) -> str:
    """The findings table as HTML: one row per claim of :data:`STATEMENTS`, the paper's reported
    evidence, then one column per ``{label: {claim: entry}}`` (entries from :func:`load`, each
    linked to the chapter that decided it)."""
    evidence = paper_evidence()
    head = "".join(f"<th>{html.escape(label)}</th>" for label in columns)
    rows = []
    for claim, statement in STATEMENTS.items():
        cells = "".join(f"<td>{_cell(col.get(claim))}</td>" for col in columns.values())
        rows.append(
            f"<tr><td><b>{claim}</b> {html.escape(statement)}</td><td>{html.escape(evidence[claim])}</td>{cells}</tr>"
        )
    return (
        '<div class="unlearnkit-findings" style="overflow-x:auto"><table>'
        f"<thead><tr><th>claim</th><th>the paper reports</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
