"""unlearnkit: knowledge unlearning for LLMs (IHL, FILA, the forgetting criterion) and the book.

The package is layered; a module imports only from its own layer or the ones above it in
this list (``tests/test_layout.py`` checks it):

* **core** (this folder): what the project exists for —
  ``losses`` (objectives: GA, GD, IHL, KL, NPO, yao3), ``methods`` (the one table of named
  methods: objective + full fine-tuning or a LoRA init), ``fila`` (Fisher-weighted LoRA
  initialisation), ``metrics`` (MA, EL_n, thresholds, perplexity), ``trainer`` (unlearning
  with the forgetting criterion, settings in ``UnlearnConfig``), ``gradients`` (the GA/IHL
  gradient analysis), ``stats`` (paired tests, intervals, equivalence: every verdict's
  statistics), ``data`` (the shipped data); and what it stands on, in two subpackages of the
  same layer: ``training`` (the one optimisation loop, micro-batch sizing, LoRA target modules,
  FLOP counts) and ``store`` (cache folder and atomic writes, records keyed by their config and
  by the digest of the code that computes them, the typed run record, where a result was made).
* ``models``: the registry of loadable models (the testbed, hub ids, local paths).
* ``evaluation``: what is measured on a model — downstream reasoning/dialogue/perplexity
  through lm-eval, the memorisation report, similarity, text classifiers.
* ``experiments``: run specs, cached runs and grids, dispatch, the ablations, and the
  verdicts on the main paper's claims.
* ``second_paper``: Gundavarapu et al.'s harmful-response and copyright experiments.
* ``book``: builds the book (papermill + Jupyter Book), provenance, published numbers;
  ``cli``: the ``unlearnkit`` command.

Where new things go: an objective → ``losses`` (and a method using it → ``methods``); a model → ``models``; a downstream task →
``evaluation`` (plus its YAML in ``evaluation/lm_eval_tasks``); a chapter → ``book/*.ipynb``
at the repository root and ``_toc.yml``, with its logic in the package it belongs to.
"""
