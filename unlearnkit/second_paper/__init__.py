"""The second paper (Gundavarapu et al., *Machine Unlearning in LLMs*): harmful-response and
copyright unlearning with the 3-term loss, judged by a classifier and by similarity.

* ``safety_data``: the harmful / benign QA CSVs (bad rows reported by line), disjoint splits;
* ``books``: the public-domain novel cut into prompt + continuation passages;
* ``qa``: answer-only labels, random-answer pairing, batched greedy generation, MC1 scoring;
* ``finetune``: LoRA fine-tuning and fixed-step unlearning with a criterion check;
* ``harmful`` / ``copyright``: the two experiments (cached), with their tables;
* ``claims``: verdicts on the paper's claims H1–H2, K1–K3 (from :mod:`unlearnkit.stats`).
* ``read_back``: another profile's experiments (SmolLM2's, the ``real`` profile) read from its
  committed records, computing nothing.

It builds on the core (objectives, trainer), ``evaluation`` and ``experiments``' cache.
"""
