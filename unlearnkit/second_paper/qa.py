"""Prompt/answer sequences for a causal LM: encoding with answer-only labels, random-answer
pairing, batched greedy generation and multiple-choice log-likelihood scoring (MC1, MC2).  What an
answer is (harmful, harmless, a non-answer) is decided at read time, by :mod:`.outcomes`.

A question reaches an instruction-tuned model through its tokenizer's chat template whenever
the tokenizer has one (SmolLM2-Instruct does; the testbed does not, and gets
``Question: …\nAnswer:``), for fine-tuning, unlearning and evaluation alike: every prompt
is built by :func:`encode_qa`.

Yao et al.'s objective (used by the second paper) puts loss on answer tokens only: the
question is context.  :func:`pack` builds such batches from token ids, so it serves both
the harmful QA pairs and the book passages (prompt = the passage's first tokens).  Their
code (kevinyaobytedance/llm_unlearn) masked the question into the random-answer loss too; here every batch is
built by the same :func:`pack`, so question tokens never carry a label.
"""

from __future__ import annotations

import random

import torch
from tqdm import tqdm

from ..losses import IGNORE

PROMPT_FORMAT = "Question: {question}\nAnswer:"


def uses_chat_template(tokenizer) -> bool:
    """Whether prompts to this tokenizer's model go through its chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


def prompt_text(question: str, tokenizer=None) -> str:
    """The prompt for ``question``: the tokenizer's chat template (one user turn, the
    assistant's turn opened) when it has one, else ``Question: …\nAnswer:``."""
    if tokenizer is not None and uses_chat_template(tokenizer):
        return tokenizer.apply_chat_template(
            [{"role": "user", "content": question.strip()}], tokenize=False, add_generation_prompt=True
        )
    return PROMPT_FORMAT.format(question=question.strip())


def encode_qa(
    tokenizer, questions: list[str], answers: list[str], max_answer_tokens: int = 48, max_prompt_tokens: int = 64
) -> tuple[list[list[int]], list[list[int]]]:
    """Token ids of prompts and answers (answer + EOS), truncated: ``Question: …\nAnswer:`` and
    `` answer`` for a plain LM (the prompt's last ``max_prompt_tokens``), the chat template and
    ``answer`` for a chat model (the question's last ``max_prompt_tokens`` tokens inside it, so
    truncation never cuts the template)."""
    if len(questions) != len(answers):
        raise ValueError(f"{len(questions)} questions but {len(answers)} answers")
    eos = tokenizer.eos_token_id
    if uses_chat_template(tokenizer):
        cut = [
            tokenizer.decode(tokenizer(q.strip(), add_special_tokens=False)["input_ids"][-max_prompt_tokens:])
            for q in questions
        ]
        prompts = [tokenizer(prompt_text(q, tokenizer), add_special_tokens=False)["input_ids"] for q in cut]
        outs = [
            tokenizer(a.strip(), add_special_tokens=False)["input_ids"][: max_answer_tokens - 1] + [eos]
            for a in answers
        ]
        return prompts, outs
    prompts = [tokenizer(prompt_text(q))["input_ids"][-max_prompt_tokens:] for q in questions]
    outs = [(tokenizer(" " + a.strip())["input_ids"][: max_answer_tokens - 1]) + [eos] for a in answers]
    return prompts, outs


def pack(prompts: list[list[int]], answers: list[list[int]], pad_id: int) -> dict:
    """Right-padded causal-LM batch of ``prompt + answer`` with labels on answer tokens only."""
    if len(prompts) != len(answers) or not prompts:
        raise ValueError(f"need equally many (>0) prompts and answers, got {len(prompts)} and {len(answers)}")
    if any(len(a) == 0 for a in answers):
        raise ValueError("an answer has no tokens")
    T = max(len(p) + len(a) for p, a in zip(prompts, answers))
    ids = torch.full((len(prompts), T), pad_id, dtype=torch.long)
    labels = torch.full((len(prompts), T), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(prompts), T), dtype=torch.long)
    for i, (p, a) in enumerate(zip(prompts, answers)):
        seq = p + a
        ids[i, : len(seq)] = torch.tensor(seq)
        labels[i, len(p) : len(seq)] = torch.tensor(a)
        mask[i, : len(seq)] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}


def batch_rows(n: int, size: int, step: int, seed: int) -> list[int]:
    """``size`` row indices in ``range(n)`` for optimiser step ``step``, drawn with replacement,
    reproducible from ``(seed, step)`` alone (so a resumed or re-run loop sees the same batches)."""
    rng = random.Random(seed * 1_000_003 + step)
    return [rng.randrange(n) for _ in range(size)]


@torch.no_grad()
def generate(
    model,
    prompts: list[list[int]],
    pad_id: int,
    eos_id: int | None,
    max_new_tokens: int = 32,
    batch_size: int = 32,
    progress: bool = False,
) -> list[list[int]]:
    """Greedy continuations (new token ids, cut before EOS) of each prompt, left-padded batches."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out: list[list[int]] = [None] * len(prompts)  # type: ignore[list-item]
    order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
    for s in tqdm(range(0, len(order), batch_size), desc="generate", disable=not progress, leave=False):
        rows = order[s : s + batch_size]
        T = max(len(prompts[i]) for i in rows)
        ids = torch.full((len(rows), T), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), T), dtype=torch.long)
        for j, i in enumerate(rows):
            ids[j, T - len(prompts[i]) :] = torch.tensor(prompts[i])
            mask[j, T - len(prompts[i]) :] = 1
        gen = model.generate(
            input_ids=ids.to(device),
            attention_mask=mask.to(device),
            do_sample=False,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_id,
            eos_token_id=eos_id,
        )
        for j, i in enumerate(rows):
            new = gen[j, T:].tolist()
            if eos_id is not None and eos_id in new:
                new = new[: new.index(eos_id)]
            out[i] = new
    model.train(was_training)
    return out


@torch.no_grad()
def answer_log_likelihoods(
    model, prompts: list[list[int]], answers: list[list[int]], pad_id: int, batch_size: int = 32
) -> torch.Tensor:
    """Sum of log p(answer tokens | prompt) per pair, ``(N,)``."""
    from ..losses import sequence_log_likelihood

    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    out = []
    for s in range(0, len(prompts), batch_size):
        batch = pack(prompts[s : s + batch_size], answers[s : s + batch_size], pad_id)
        logits = model(
            input_ids=batch["input_ids"].to(device), attention_mask=batch["attention_mask"].to(device)
        ).logits
        out.append(sequence_log_likelihood(logits.float(), batch["labels"].to(device)).cpu())
    model.train(was_training)
    return torch.cat(out)


def multiple_choice_accuracy(model, tokenizer, items, batch_size: int = 32) -> float:
    """TruthfulQA MC1-style accuracy: share of items whose best answer has a higher summed
    log-likelihood than every incorrect answer.  ``items``: :class:`~unlearnkit.second_paper.safety_data.TruthfulItem`."""
    correct = multiple_choice_correct(model, tokenizer, items, batch_size)
    return sum(correct) / len(correct)


def multiple_choice_correct(model, tokenizer, items, batch_size: int = 32) -> list[int]:
    """Per item, 1 when its best answer out-scores every incorrect one (MC1), else 0 — so two
    models can be compared paired over the same questions."""
    return multiple_choice_scores(model, tokenizer, items, batch_size)["mc1_correct"]


def multiple_choice_scores(model, tokenizer, items, batch_size: int = 32) -> dict[str, list[float]]:
    """TruthfulQA's two multiple-choice scores per item, with what chance would give:

    * ``mc1_correct``: 1 when the best answer's summed log-likelihood beats every incorrect one;
      ``mc1_chance``: 1 / (1 + incorrect answers), a uniform guess among them;
    * ``mc2``: the probability mass on the correct answers, normalised over correct and
      incorrect ones (TruthfulQA's MC2, answer probabilities ``exp`` of summed log-likelihoods);
      ``mc2_chance``: the share of correct answers, what a model indifferent among them scores.
    """
    prompts, answers = [], []
    for item in items:
        correct = list(dict.fromkeys([item.best, *item.correct]))
        choices = [item.best, *item.incorrect] + correct
        p, a = encode_qa(tokenizer, [item.question] * len(choices), choices)
        prompts += p
        answers += [x[:-1] for x in a]  # no EOS: score the answer text only
    if not prompts:
        raise ValueError("no multiple-choice items")
    ll = answer_log_likelihoods(model, prompts, answers, tokenizer.pad_token_id, batch_size)
    out = {"mc1_correct": [], "mc1_chance": [], "mc2": [], "mc2_chance": []}
    start = 0
    for item in items:
        n1 = 1 + len(item.incorrect)
        nc = len(dict.fromkeys([item.best, *item.correct]))
        scores = ll[start : start + n1]
        out["mc1_correct"].append(int(n1 == 1 or scores[0] > scores[1:].max()))
        out["mc1_chance"].append(1.0 / n1)
        wrong, right = ll[start + 1 : start + n1], ll[start + n1 : start + n1 + nc]
        both = torch.cat([right, wrong]).double()
        p = torch.softmax(both, 0)  # exp(ll) normalised over correct and incorrect answers
        out["mc2"].append(float(p[: len(right)].sum()))
        out["mc2_chance"].append(len(right) / (len(right) + len(wrong)))
        start += n1 + nc
    return out
