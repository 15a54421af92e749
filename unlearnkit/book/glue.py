"""Handing a chapter's numbers to its prose: ``glue_all(facts)`` glues every ``{name: text}``.

The facts themselves are computed by the library (``*_facts`` functions next to what they
describe); this module only hands them to MyST-NB, so a chapter needs one line per figure
of numbers instead of one ``glue`` call per number.
"""

from __future__ import annotations


def glue_all(facts: dict[str, str]) -> None:
    """``myst_nb.glue(name, text, display=False)`` for every item.

    Returns nothing, so a cell that ends with it prints nothing (a returned dict would be
    shown under the cell as a raw Python object)."""
    from myst_nb import glue

    for name, text in facts.items():
        if not isinstance(text, str):
            raise TypeError(f"glue_all: fact {name!r} must be text (format it first), got {type(text).__name__}")
        glue(name, text, display=False)
