"""What is measured on a model, apart from the forgetting criterion (which is core ``metrics``).

* ``downstream``: Table 1's capability columns through lm-eval (reasoning, dialogue) and
  perplexity; the offline task YAMLs live in ``lm_eval_tasks/``;
* ``dialogue``: dialogue prompts and SQuAD unigram F1;
* ``memorisation``: a model's memorisation report (MA/EL per forget set, thresholds, PPL);
* ``similarity``: BLEU and embedding cosine; ``text_classifier``: MiniLM + logistic regression.

A new downstream task goes here (a YAML in ``lm_eval_tasks/`` and its name in
``downstream``).  Evaluation never trains a model.
"""
