"""Published numbers of Cha et al. 2024 (Table 1), shown beside ours in the book.

These are the paper's reported values, typed from the paper (arXiv 2408.06621, Table 1), never
results of this project; the book labels them as such.  Columns: Params %, Epochs, EL10 (%),
MA (%), Reasoning (mean accuracy, 9 tasks), Dialogue (mean F1, 4 tasks), Pile PPL.
"""

from __future__ import annotations

import pandas as pd

COLUMNS = ["Params %", "Epochs", "EL10 (%)", "MA (%)", "Reasoning", "Dialogue", "Pile PPL"]
_NA = None

TABLE1 = {
    "GPT-Neo 125M": {
        "Before": [_NA, _NA, 30.9, 77.4, 43.4, 9.4, 17.8],
        "GA": [100.0, 17.2, 1.0, 27.4, 39.9, 2.6, 577.8],
        "GD": [100.0, 4.6, 0.7, 24.9, 42.4, 5.9, 54.2],
        "LoRA (GD)": [1.6, 8.6, 0.3, 20.6, 40.8, 2.5, 129.4],
        "+ IHL": [1.6, 11.4, 0.4, 22.7, 41.9, 6.0, 32.9],
        "+ FILA": [1.6, 6.0, 0.3, 23.9, 42.2, 10.1, 24.0],
    },
    "GPT-Neo 1.3B": {
        "Before": [_NA, _NA, 67.6, 92.2, 49.8, 11.5, 11.5],
        "GA": [100.0, 13.8, 1.9, 30.4, 49.7, 8.5, 15.8],
        "GD": [100.0, 12.8, 2.2, 30.9, 48.4, 12.7, 10.8],
        "LoRA (GD)": [0.8, 19.3, 1.7, 31.4, 45.0, 9.7, 31.8],
        "+ IHL": [0.8, 20.0, 1.7, 44.6, 47.1, 10.2, 14.9],
        "+ FILA": [0.8, 13.0, 0.5, 29.6, 48.3, 12.1, 14.7],
    },
    "GPT-Neo 2.7B": {
        "Before": [_NA, _NA, 70.4, 93.4, 52.3, 11.5, 10.4],
        "GA": [100.0, 10.8, 1.6, 31.0, 51.9, 11.1, 17.9],
        "GD": [100.0, 8.0, 0.7, 28.3, 44.0, 12.7, 17.9],
        "LoRA (GD)": [0.7, 14.0, 0.1, 20.4, 45.9, 6.7, 61.1],
        "+ IHL": [0.7, 17.8, 0.0, 26.7, 49.6, 8.5, 22.2],
        "+ FILA": [0.7, 10.3, 0.1, 28.5, 49.6, 10.7, 16.0],
    },
}


def table1(model: str = "GPT-Neo 125M") -> pd.DataFrame:
    """The paper's Table 1 block for ``model`` (published values)."""
    if model not in TABLE1:
        raise ValueError(f"no published Table 1 block for {model!r}; have {sorted(TABLE1)}")
    return pd.DataFrame.from_dict(TABLE1[model], orient="index", columns=COLUMNS).rename_axis("Method")


def dialogue_initial() -> dict[str, float]:
    """GPT-Neo 125M's dialogue F1 before unlearning, per task (fractions), from Jang et al.'s
    published ``csv_out/Dialog Initial.csv`` (shipped as ``data/knowledge_unlearning/csv_out``)."""
    from .. import data

    row = pd.read_csv(data.data_file("knowledge_unlearning/csv_out/dialog_initial.csv")).iloc[0]
    return {col.split("/")[0]: float(row[col]) for col in row.index if col.endswith("/f1")}


# Gundavarapu et al. 2024 (arXiv 2405.15152), Tables 1 and 2, as published.
GUNDAVARAPU_HARMFUL = pd.DataFrame(
    [["OPT-1.3B", "original", 32, -0.659], ["OPT-1.3B", "unlearned", 8, -0.942],
     ["OPT-2.7B", "original", 41, -0.913], ["OPT-2.7B", "unlearned", 11, -1.010]],
    columns=["model", "state", "harmful rate (%)", "similarity to original (normal prompts)"])
GUNDAVARAPU_COPYRIGHT = pd.DataFrame(
    [["OPT-1.3B", "original", 0.13, 0.611], ["OPT-1.3B", "fine-tuned", 0.67, 0.102],
     ["OPT-1.3B", "unlearned", 0.01, 0.371], ["OPT-2.7B", "original", 0.27, 0.740],
     ["OPT-2.7B", "fine-tuned", 0.71, 0.237], ["OPT-2.7B", "unlearned", 0.00, 0.503]],
    columns=["model", "state", "similarity to the book", "similarity to original (normal prompts)"])
