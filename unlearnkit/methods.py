"""Every unlearning method the project names, in one table.

A *method* is an objective (:data:`unlearnkit.losses.OBJECTIVES`) trained in one way: every
weight (full fine-tuning) or a LoRA adapter with an initialisation (random as in peft,
PiSSA, or FILA).  :data:`METHODS` is the only place a name such as ``"FILA + IHL"`` is tied
to ``("ihl", "fila")``; the Table 1 grid, the ablations, the second paper, the CLI and every
chapter read it.  ``table1_label`` is the row label Cha et al.'s Table 1 prints for a method
("+ IHL" is LoRA + IHL, "+ FILA" is FILA + IHL); :func:`get` accepts either name.

This module is a table: it trains and evaluates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

LORA_INITS = ("random", "pissa", "fila")


@dataclass(frozen=True)
class Method:
    """One method: its display ``name``, ``objective`` and ``lora_init`` (``None``: every weight)."""

    name: str
    objective: str
    lora_init: str | None = None
    table1_label: str | None = None  # its row in Cha et al.'s Table 1, if it has one

    @property
    def full_finetuning(self) -> bool:
        return self.lora_init is None


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("GA", "ga", table1_label="GA"),
        Method("GD", "gd", table1_label="GD"),
        Method("IHL", "ihl"),
        Method("NPO", "npo"),
        Method("yao3", "yao3"),  # Yao et al.'s GA + random answers + KL (the second paper)
        Method("LoRA (GD)", "gd", "random", table1_label="LoRA (GD)"),
        Method("LoRA + IHL", "ihl", "random", table1_label="+ IHL"),
        Method("FILA + GD", "gd", "fila"),
        Method("FILA + IHL", "ihl", "fila", table1_label="+ FILA"),
        Method("PiSSA + IHL", "ihl", "pissa"),
    )
}

# Cha et al.'s Table 1 rows, in the paper's order: row label -> method.
TABLE1: dict[str, Method] = {m.table1_label: m for m in METHODS.values() if m.table1_label}


def get(name: str) -> Method:
    """The method called ``name`` (its display name or its Table 1 label); a clear error otherwise."""
    if name in METHODS:
        return METHODS[name]
    if name in TABLE1:
        return TABLE1[name]
    raise ValueError(f"unknown method {name!r}; choose one of {list(METHODS)} (or a Table 1 label: {list(TABLE1)})")


def named(names) -> dict[str, Method]:
    """``{name: method}`` for each name of ``names``, in order, each checked by :func:`get`."""
    return {n: get(n) for n in names}
