"""Downstream capability: 9 reasoning tasks and 4 dialogue tasks through lm-eval, and perplexity.

Table 1's "Reasoning" (mean accuracy over LAMBADA, HellaSwag, Winogrande, COPA, ARC-Easy,
ARC-Challenge, PIQA, MathQA, PubMedQA), "Dialogue" (mean unigram F1 over Blended Skill
Talk, Empathetic Dialogues, Wizard of Internet, Wizard of Wikipedia) and "Pile (PPL)"
columns come from :func:`evaluate`.

Every score goes through one harness, ``lm_eval.simple_evaluate`` on the in-memory model
(``HFLM``).  ``mode="local"`` (the default, offline) uses the task YAMLs shipped in
``unlearnkit/evaluation/lm_eval_tasks/``; their data are the copies in ``data/`` converted to one
JSON-lines schema and subsampled with a fixed seed into the cache.  ``mode="online"`` asks
lm-eval for its standard task names instead (a user with network access; ``limit`` then
takes lm-eval's first documents, not a random sample).  Dialogue always uses Jang et al.'s
validation files, which lm-eval has no standard task for.

Where the local copies differ from the paper's evaluation: ARC and MathQA are test splits
(llm-foundry's copies), MathQA has 4 options instead of 5, COPA is its 100-example
validation set, LAMBADA is OpenAI's detokenised test set, and HellaSwag contexts are
"activity: context" as in rowanz's text file.  Perplexity lives in
:func:`unlearnkit.metrics.perplexity`; this module only orchestrates.
"""

from __future__ import annotations

import bz2
import functools
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from .. import data, metrics
from ..store.cache import atomic_file, cache_root
from . import dialogue, memorisation

REASONING_TASKS = (
    "lambada",
    "hellaswag",
    "winogrande",
    "copa",
    "arc_easy",
    "arc_challenge",
    "piqa",
    "mathqa",
    "pubmedqa",
)
DIALOGUE_TASKS = dialogue.DIALOGUE_TASKS
TASKS_DIR = Path(__file__).parent / "lm_eval_tasks"
# The task definitions compute the scores too: their bytes enter this module's code digest (unlearnkit.store.codehash).
CODE_DATA = ("lm_eval_tasks/*.yaml", "lm_eval_tasks/*.py")
# lm-eval's own names for the reasoning tasks (mode="online")
ONLINE_NAMES = {
    "lambada": "lambada_openai",
    "hellaswag": "hellaswag",
    "winogrande": "winogrande",
    "copa": "copa",
    "arc_easy": "arc_easy",
    "arc_challenge": "arc_challenge",
    "piqa": "piqa",
    "mathqa": "mathqa",
    "pubmedqa": "pubmedqa",
}
PRIMARY_METRIC = {**{t: "acc" for t in REASONING_TASKS}, **{t: "f1" for t in DIALOGUE_TASKS}}


@dataclass(frozen=True)
class Sizes:
    """Documents per task (``None``: the whole set), subsampled with ``seed``; which reasoning
    tasks (``None``: all of :data:`REASONING_TASKS`)."""

    reasoning_docs: int | None = 100
    dialogue_docs: int | None = 25
    pile_docs: int | None = 200
    wikitext_docs: int | None = 20
    seed: int = 0
    reasoning_tasks: tuple[str, ...] | None = None


# Named presets (the book's profiles name one); "cpu" keeps one evaluation of the testbed
# near 20 s on 2 CPU cores (benchmarks/bench_downstream.py); on SmolLM2-135M the same preset
# takes about 6 min, so the real-model runs use "brief": 40 documents of the seven tasks
# SmolLM2-135M-Instruct scores above chance at 100 documents (ARC-Challenge kept for the model
# card's ARC average; PubMedQA, 43 % vs chance 33 %, kept although its documents are the
# longest), not MathQA (25 % vs chance 20 %) or Winogrande (45 % vs 50 %); and 20 dialogues per
# dialogue task, so that a unigram F1 near 12 % can count as above chance (with 5, only F1
# above about 27 % could: the at-chance rule then excluded dialogue by construction).
# Result records are keyed by a preset's name and by this module's code (unlearnkit.store.codehash),
# so a preset whose sizes change is recomputed without a new name.
SIZES = {
    "smoke": Sizes(reasoning_docs=4, dialogue_docs=2, pile_docs=4, wikitext_docs=2),
    "brief": Sizes(
        reasoning_docs=40,
        dialogue_docs=20,
        pile_docs=20,
        wikitext_docs=5,
        reasoning_tasks=("lambada", "hellaswag", "copa", "arc_easy", "arc_challenge", "piqa", "pubmedqa"),
    ),
    "cpu": Sizes(reasoning_docs=100, dialogue_docs=25, pile_docs=200, wikitext_docs=20),
    "full": Sizes(reasoning_docs=None, dialogue_docs=None, pile_docs=None, wikitext_docs=None),
}


def sizes(preset: str | Sizes) -> Sizes:
    """A :class:`Sizes` from a preset name (``smoke``, ``cpu``, ``full``) or itself."""
    if isinstance(preset, Sizes):
        return preset
    if preset not in SIZES:
        raise ValueError(f"unknown downstream size preset {preset!r}; choose one of {sorted(SIZES)}")
    return SIZES[preset]


def available_tasks() -> tuple[str, ...]:
    return REASONING_TASKS + DIALOGUE_TASKS


def check_tasks(names) -> list[str]:
    names = list(names)
    unknown = [n for n in names if n not in available_tasks()]
    if unknown:
        raise ValueError(f"unknown downstream task(s) {unknown}; available: {', '.join(available_tasks())}")
    return names


# ---------------------------------------------------------------- local documents


def _jsonl(relpath: str) -> list[dict]:
    with open(data.data_file(relpath), encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _hellaswag() -> list[dict]:
    """rowanz's text file: blocks of 6 lines (context, gold index, 4 endings)."""
    with bz2.open(data.data_file("reasoning_benchmarks/hellaswag_val_full.txt.bz2"), "rt", encoding="utf-8") as fh:
        lines = fh.read().split("\n")
    docs = []
    for i in range(0, len(lines) - 5, 6):
        docs.append({"query": lines[i], "gold": int(lines[i + 1]), "choices": lines[i + 2 : i + 6]})
    return docs


def _pubmedqa() -> list[dict]:
    options = ["yes", "no", "maybe"]
    return [
        {"query": d["context"], "choices": options, "gold": options.index(d["continuation"].strip())}
        for d in _jsonl("reasoning_benchmarks/llmfoundry_pubmed_qa_labeled.jsonl")
    ]


def _foundry(name: str):
    return lambda: _jsonl(f"reasoning_benchmarks/llmfoundry_{name}.jsonl")


def _dialogue(name: str):
    return lambda: dialogue.documents(data.data_file(f"knowledge_unlearning/validation_data/{name}.json"))


_SOURCES = {
    "lambada": _foundry("lambada_openai"),
    "hellaswag": _hellaswag,
    "winogrande": _foundry("winogrande"),
    "copa": _foundry("copa"),
    "arc_easy": _foundry("arc_easy"),
    "arc_challenge": _foundry("arc_challenge"),
    "piqa": _foundry("piqa"),
    "mathqa": _foundry("math_qa"),
    "pubmedqa": _pubmedqa,
    **{name: _dialogue(name) for name in DIALOGUE_TASKS},
}


def documents(name: str, count: int | None = None, seed: int = 0) -> list[dict]:
    """The local documents of task ``name``; ``count`` of them drawn with ``seed`` (order kept)."""
    (name,) = check_tasks([name])
    docs = _SOURCES[name]()
    if count is not None and count < len(docs):
        idx = np.sort(np.random.default_rng(seed).choice(len(docs), size=count, replace=False))
        docs = [docs[i] for i in idx]
    return docs


def prepared_file(name: str, count: int | None, seed: int) -> Path:
    """The JSON-lines copy lm-eval reads for ``(name, count, seed)``, written once, atomically."""
    path = cache_root() / "lm_eval_data" / f"{count or 'all'}-seed{seed}" / f"{name}.jsonl"
    if not path.is_file():
        docs = documents(name, count, seed)
        with atomic_file(path) as tmp:
            tmp.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    return path


def _drop_long_answers(tokenizer, max_tokens: int):
    """A ``process_docs`` hook: keep documents whose every answer has at most ``max_tokens``
    tokens (lm-eval cannot score an answer longer than the model's context; this matters
    only for tiny contexts such as the testbed's 256 positions, where a few PIQA answers
    are longer than half of it)."""

    def fits(doc):
        answers = doc.get("choices") or [doc.get("continuation") or ""]
        return all(len(tokenizer.encode(" " + a, add_special_tokens=False)) <= max_tokens for a in answers)

    return lambda dataset: dataset.filter(fits)


def task_config(
    name: str, count: int | None = None, seed: int = 0, tokenizer=None, max_answer_tokens: int | None = None
) -> dict:
    """lm-eval's config dict for local task ``name`` (its YAML, pointed at the prepared data).

    With ``tokenizer`` and ``max_answer_tokens``, documents with a longer answer are left
    out (the results' ``docs`` count says how many were scored)."""
    from lm_eval.tasks._yaml_loader import load_yaml

    (name,) = check_tasks([name])
    yaml_path = TASKS_DIR / f"{name}.yaml"
    if not yaml_path.is_file():
        raise FileNotFoundError(f"task file {yaml_path} is missing; available tasks: {', '.join(available_tasks())}")
    cfg = load_yaml(yaml_path)
    cfg["dataset_kwargs"] = {"data_files": {"test": str(prepared_file(name, count, seed))}}
    if tokenizer is not None and max_answer_tokens and name in REASONING_TASKS:
        cfg["process_docs"] = _drop_long_answers(tokenizer, max_answer_tokens)
    return cfg


# ----------------------------------------------------------------- evaluation


# Bytes one batch of scored requests may spend on its full-vocabulary logits and their
# log-softmax (two float32 [batch, length, vocabulary] tensors).  A fixed batch of 32 long
# requests through SmolLM2's 49,152-token output layer took 9 GB; within this bound a batch
# shrinks where its requests are long and the vocabulary large, and stays at ``batch_size``
# elsewhere: on the testbeds (8,192 tokens, at most 256 positions) every batch is 32, as before.
LOGITS_MEMORY = 1 << 30


def bounded_batch(length: int, vocabulary: int, cap: int = 32, memory: int | None = None) -> int:
    """The largest batch, at most ``cap`` and at least 1, whose logits and log-softmax for
    requests of ``length`` tokens over ``vocabulary`` fit in ``memory`` bytes (default
    :data:`LOGITS_MEMORY`)."""
    memory = LOGITS_MEMORY if memory is None else memory
    return max(1, min(cap, memory // (8 * max(length, 1) * vocabulary)))


@functools.cache
def _memory_bounded_lm():
    """lm-eval's ``HFLM`` with each batch of scored requests sized by :func:`bounded_batch`.

    lm-eval sorts requests longest first and, with ``batch_size="auto"``, asks a scheduler for
    each batch's size; its own scheduler probes for an out-of-memory error, which on a CPU is
    the kernel killing the process.  This one sizes each batch for its first (longest)
    request.  Generation keeps the fixed batch: it keeps one position's logits per step."""
    from lm_eval.models.huggingface import HFLM

    class MemoryBoundedHFLM(HFLM):
        def __init__(self, *args, cap: int = 32, **kw):
            super().__init__(*args, batch_size="auto", max_batch_size=cap, **kw)
            self.cap, self._batch_end, self._batch_now = cap, 0, cap

        def _bounded(self, length: int) -> int:
            return bounded_batch(length, self.model.config.vocab_size, self.cap)

        def _batch_scheduler(self, pos, requests):
            if pos == 0 or pos >= self._batch_end:  # a batch starts here, with its longest request
                _, context, continuation = requests[pos]
                self._batch_now = self._bounded(len((context + continuation)[-(self.max_length + 1) :][:-1]))
                self._batch_end = pos + self._batch_now
            return self._batch_now

        def _detect_batch_size(self, requests=None, pos=0):  # rolling log-likelihoods: whole windows
            return self._bounded(self.max_length)

        def generate_until(self, requests, disable_tqdm: bool = False):
            self.batch_size_per_gpu = self.cap
            try:
                return super().generate_until(requests, disable_tqdm)
            finally:
                self.batch_size_per_gpu = "auto"

    return MemoryBoundedHFLM


@functools.lru_cache(maxsize=2)
def _task_manager(include_defaults: bool):
    """One lm-eval ``TaskManager`` per process.  Building one indexes every task YAML that
    lm-eval ships (about 11 s here); local mode passes its tasks as configs and needs none
    of them (``include_defaults=False``), online mode indexes them once."""
    from lm_eval.tasks import TaskManager

    return TaskManager(include_defaults=include_defaults)


def lm_eval_scores(
    model,
    tokenizer,
    names,
    count: int | None = None,
    seed: int = 0,
    mode: str = "local",
    batch_size: int = 32,
    docs: dict | None = None,
    all_metrics: dict | None = None,
) -> dict[str, float]:
    """Primary metric (accuracy or F1) per task, from one ``lm_eval.simple_evaluate`` call.

    ``docs``, if given, receives the number of documents scored per task; ``all_metrics``
    receives every metric lm-eval reports per task (``{"hellaswag": {"acc": …, "acc_norm": …}}``).
    """
    import lm_eval

    names = check_tasks(names)
    if mode not in ("local", "online"):
        raise ValueError(f"mode must be 'local' or 'online', got {mode!r}")
    dialogue_names = [n for n in names if n in DIALOGUE_TASKS]
    max_answer = getattr(model.config, "max_position_embeddings", None)
    if mode == "local":
        os.environ.setdefault("HF_DATASETS_OFFLINE", "1")  # local JSON files only: never wait on the network
        tasks = [task_config(n, count, seed, tokenizer, max_answer // 2 if max_answer else None) for n in names]
        task_names = {n: f"unlearnkit_{n}" for n in names}
    else:
        tasks = [ONLINE_NAMES[n] for n in names if n not in DIALOGUE_TASKS]
        task_names = {n: ONLINE_NAMES[n] for n in names if n not in DIALOGUE_TASKS}
    device = str(next(model.parameters()).device)
    was_training = model.training
    model.eval()
    lm = _memory_bounded_lm()(pretrained=model, tokenizer=tokenizer, cap=batch_size, device=device)
    logging.getLogger("lm_eval").setLevel(logging.WARNING)
    scores = {}
    try:
        if tasks:
            out = lm_eval.simple_evaluate(
                model=lm,
                tasks=tasks,
                limit=count if mode == "online" else None,
                bootstrap_iters=0,
                log_samples=False,
                verbosity="ERROR",
                task_manager=_task_manager(include_defaults=mode == "online"),
            )
            for n, tname in task_names.items():
                scores[n] = float(out["results"][tname][f"{PRIMARY_METRIC[n]},none"])
                if all_metrics is not None:
                    all_metrics[n] = {
                        k.removesuffix(",none"): float(v)
                        for k, v in out["results"][tname].items()
                        if k.endswith(",none") and "stderr" not in k
                    }
                if docs is not None:
                    docs[n] = int(out["n-samples"][tname]["effective"])
        if mode == "online" and dialogue_names:
            scores.update(lm_eval_scores(model, tokenizer, dialogue_names, count, seed, "local", batch_size, docs))
    finally:
        model.train(was_training)
    return scores


class TruncationCount(logging.Filter):
    """Counts, and keeps off the terminal, lm-eval's one warning per request whose context is
    longer than the model's window ("Combined length of context … Truncating … from the left"
    for scored requests, "Left truncation applied …" for generated ones): a cold book printed
    about 3,500 of them.  Used as a context manager
    around an evaluation; :func:`evaluate` reports the count as ``truncated_requests``."""

    LOGGER = "lm_eval.models.huggingface"

    def __init__(self):
        super().__init__()
        self.count = 0

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith(("Combined length of context", "Left truncation applied")):
            self.count += 1
            return False
        return True

    def __enter__(self) -> TruncationCount:
        logging.getLogger(self.LOGGER).addFilter(self)
        return self

    def __exit__(self, *exc) -> None:
        logging.getLogger(self.LOGGER).removeFilter(self)


def evaluate(
    model,
    tokenizer,
    preset: str | Sizes = "cpu",
    mode: str = "local",
    batch_size: int = 32,
    reasoning=None,
    dialogue_tasks=DIALOGUE_TASKS,
    progress: bool = True,
) -> dict:
    """Reasoning accuracy, dialogue F1 (per task and mean) and Pile/WikiText perplexity.

    ``preset`` names the documents per task (:data:`SIZES`) and, where it says so, the
    reasoning tasks (``reasoning`` overrides them; default: all nine).  Returns plain floats
    (accuracies and F1 as fractions) and the seconds each part took.  ``reasoning_norm`` holds
    the length-normalised accuracy (lm-eval's ``acc_norm``) of the multiple-choice tasks, the
    figure published model cards usually report (:mod:`.published`).
    """
    sizes_ = sizes(preset)
    reasoning = check_tasks(reasoning if reasoning is not None else sizes_.reasoning_tasks or REASONING_TASKS)
    seconds, docs, every = {}, {}, {}
    truncated = TruncationCount()
    with truncated:
        start = time.perf_counter()
        reason = lm_eval_scores(
            model, tokenizer, reasoning, sizes_.reasoning_docs, sizes_.seed, mode, batch_size, docs, every
        )
        seconds["reasoning"] = time.perf_counter() - start
        start = time.perf_counter()
        dial = lm_eval_scores(
            model, tokenizer, dialogue_tasks, sizes_.dialogue_docs, sizes_.seed, "local", batch_size, docs
        )
        seconds["dialogue"] = time.perf_counter() - start
    start = time.perf_counter()
    ppl = {}
    for name, count in (("pile", sizes_.pile_docs), ("wikitext", sizes_.wikitext_docs)):
        if count != 0:
            texts = memorisation.perplexity_texts(name, count, seed=sizes_.seed)
            ppl[f"{name}_ppl"] = metrics.perplexity(model, tokenizer, texts, progress=progress)
    seconds["perplexity"] = time.perf_counter() - start
    return {
        "reasoning": reason,
        "reasoning_mean": float(np.mean(list(reason.values()))) if reason else None,
        "reasoning_norm": {t: m["acc_norm"] for t, m in every.items() if "acc_norm" in m},
        "dialogue": dial,
        "dialogue_mean": float(np.mean(list(dial.values()))) if dial else None,
        **ppl,
        "docs": docs,
        "sizes": asdict(sizes_),
        "mode": mode,
        "seconds": seconds,
        "truncated_requests": truncated.count,
    }
