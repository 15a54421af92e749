"""Building the book: ``python -m unlearnkit.book.build --profile cpu`` (what ``make book`` runs).

* ``build``: executes the chapters (``book/*.ipynb`` at the repository root) with papermill
  and renders them with Jupyter Book; progress and per-chapter times;
* ``provenance``: versions, hardware and chapter times for the provenance page;
* ``glue``: ``glue_all(facts)``, the chapters' one call that hands computed numbers to the prose;
* ``paper``: the published numbers the chapters compare with (Cha et al., Jang et al.,
  Gundavarapu et al.).

A new chapter is a notebook in ``book/`` named in ``_toc.yml`` with its parameters in
``profiles/*.yaml``; its logic belongs in the package it is about, not here.
"""
