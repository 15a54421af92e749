"""Downstream evaluation: dialogue F1 and prompts by hand, local lm-eval tasks offline, and
multiple-choice accuracy against a direct log-likelihood computation."""

import json

import pytest
import torch

from unlearnkit.evaluation import dialogue, downstream


@pytest.mark.parametrize(
    "text, expected",
    [
        ("The Cat, sat!", "cat sat"),
        ("  An apple  a day\tkeeps... ", "apple day keeps"),
        ("theatre is not 'the'", "theatre is not"),
        ("A", ""),
    ],
)
def test_normalize_answer_by_hand(text, expected):
    assert dialogue.normalize_answer(text) == expected


@pytest.mark.parametrize(
    "pred, ref, expected",
    [
        ("the cat sat", "a cat sat down", 0.8),  # P = 2/2, R = 2/3
        ("x x y", "x y y", 2 / 3),  # overlap counts multiplicity: min(2,1) + min(1,2) = 2
        ("Hello, world!", "hello world", 1.0),
        ("", "anything", 0.0),
        ("completely different", "no overlap here", 0.0),
    ],
)
def test_f1_by_hand(pred, ref, expected):
    assert dialogue.f1_score(pred, ref) == pytest.approx(expected)


def test_prompt_alternates_speakers_and_ends_with_the_next_one():
    assert dialogue.prompt(["hi", "hello there ", "bye"]) == "User 1: hi\nUser 2: hello there\nUser 1:"
    assert dialogue.prompt(["a", "b", "c", "d"]).endswith("User 1: c\nUser 2:")
    with pytest.raises(ValueError, match="two turns"):
        dialogue.prompt(["alone"])


def test_generation_is_cut_at_the_next_speaker_and_scored():
    assert dialogue.cut(" fine, thanks\nUser 2: and you?") == "fine, thanks"
    out = dialogue.process_results({"target": "fine thanks"}, [" Fine, thanks!\nUser 1: good"])
    assert out == {"f1": 1.0}


def test_dialogue_documents_from_file(tmp_path):
    path = tmp_path / "d.json"
    path.write_text(json.dumps({"text": {"1": ["x", "y", "z"], "0": ["a", "b"], "2": ["only"]}}))
    docs = dialogue.documents(path)
    assert docs == [
        {"prompt": "User 1: a\nUser 2:", "target": "b"},
        {"prompt": "User 1: x\nUser 2: y\nUser 1:", "target": "z"},
    ]
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="bad.json"):
        dialogue.documents(tmp_path / "bad.json")


def test_unknown_task_lists_the_available_ones():
    with pytest.raises(ValueError, match="available: lambada, hellaswag"):
        downstream.documents("squad")
    with pytest.raises(ValueError, match="unknown downstream size preset"):
        downstream.sizes("huge")


def test_missing_task_file_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(downstream, "TASKS_DIR", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"copa\.yaml is missing; available tasks"):
        downstream.task_config("copa", 2)


def test_every_local_task_has_documents_in_one_schema():
    for name in downstream.REASONING_TASKS:
        docs = downstream.documents(name, 3, seed=1)
        assert len(docs) == 3
        if name == "lambada":
            assert {"context", "continuation"} <= docs[0].keys()
        elif name == "winogrande":
            assert len(docs[0]["context_options"]) == 2 and docs[0]["gold"] in (0, 1)
        else:
            assert 0 <= docs[0]["gold"] < len(docs[0]["choices"]), name
    for name in downstream.DIALOGUE_TASKS:
        doc = downstream.documents(name, 2)[0]
        assert doc["prompt"].startswith("User 1: ") and doc["target"]
    assert downstream.documents("copa", 5, seed=3) == downstream.documents("copa", 5, seed=3)


def test_every_local_task_scores_a_tiny_model_offline(smoke_testbed):
    docs = {}
    scores = downstream.lm_eval_scores(
        smoke_testbed.model, smoke_testbed.tokenizer, downstream.available_tasks(), count=3, docs=docs
    )
    assert set(scores) == set(downstream.available_tasks())
    assert all(0.0 <= v <= 1.0 for v in scores.values())
    assert all(1 <= docs[n] <= 3 for n in scores)


def test_a_preset_can_name_its_reasoning_tasks_and_an_argument_overrides_them(smoke_testbed):
    sizes = downstream.Sizes(
        reasoning_docs=2, dialogue_docs=1, pile_docs=0, wikitext_docs=0, reasoning_tasks=("copa", "piqa")
    )
    m, tok = smoke_testbed.model, smoke_testbed.tokenizer
    out = downstream.evaluate(m, tok, sizes, dialogue_tasks=[], progress=False)
    assert set(out["reasoning"]) == {"copa", "piqa"} and out["sizes"]["reasoning_tasks"] == ("copa", "piqa")
    assert set(
        downstream.evaluate(m, tok, sizes, reasoning=["lambada"], dialogue_tasks=[], progress=False)["reasoning"]
    ) == {"lambada"}
    with pytest.raises(ValueError, match="unknown downstream task"):
        downstream.evaluate(m, tok, downstream.Sizes(reasoning_tasks=("arc",)), progress=False)
    brief = downstream.SIZES["brief"].reasoning_tasks
    assert set(brief) < set(downstream.REASONING_TASKS) and {"arc_easy", "arc_challenge"} <= set(brief)


def _choice_logprob(model, tokenizer, context: str, continuation: str) -> float:
    """log p(continuation | context), splitting the tokens of the whole string as lm-eval does
    (trailing spaces of the context move to the continuation)."""
    spaces = len(context) - len(context.rstrip())
    if spaces:
        context, continuation = context[:-spaces], context[-spaces:] + continuation
    whole = tokenizer.encode(context + continuation, add_special_tokens=False)
    n_ctx = len(tokenizer.encode(context, add_special_tokens=False))
    ids = torch.tensor([whole])
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=ids).logits[0].double(), -1)
    return sum(logp[t - 1, whole[t]].item() for t in range(n_ctx, len(whole)))


@pytest.mark.parametrize("task, delimiter", [("copa", " "), ("mathqa", "")])
def test_multiple_choice_accuracy_matches_direct_loglikelihood(smoke_testbed, task, delimiter):
    model, tok = smoke_testbed.model, smoke_testbed.tokenizer
    docs = [
        d
        for d in downstream.documents(task, 12, seed=2)
        if len(tok.encode(d["query"] + " " + max(d["choices"], key=len))) < model.config.max_position_embeddings
    ]
    correct = [
        max(
            range(len(d["choices"])), key=lambda i: _choice_logprob(model, tok, d["query"], delimiter + d["choices"][i])
        )
        == d["gold"]
        for d in docs
    ]
    got = downstream.lm_eval_scores(model, tok, [task], count=12, seed=2)[task]
    assert len(docs) == 12  # short enough that no context was truncated
    assert got == pytest.approx(sum(correct) / len(correct))


def test_lm_evals_per_request_truncation_warnings_are_counted_not_printed(caplog):
    import logging

    from unlearnkit.evaluation.downstream import TruncationCount

    log = logging.getLogger(TruncationCount.LOGGER)
    with caplog.at_level(logging.WARNING, logger=TruncationCount.LOGGER), TruncationCount() as count:
        log.warning("Combined length of context (300) and continuation (5) exceeds model's maximum length (256).")
        log.warning("Left truncation applied. Original sequence length was 587, truncating to last 224 tokens.")
        log.warning("something else")
    assert count.count == 2
    assert [r.getMessage() for r in caplog.records] == ["something else"]


def test_a_batch_is_bounded_by_the_memory_of_its_logits():
    assert downstream.bounded_batch(200, 49_152, memory=32 * 200 * 49_152 * 8) == 32
    assert downstream.bounded_batch(200, 49_152, memory=5 * 200 * 49_152 * 8 + 7) == 5
    assert downstream.bounded_batch(100_000, 49_152, memory=1) == 1  # never below one request
    assert downstream.bounded_batch(10, 100, cap=8, memory=1 << 40) == 8


def test_the_testbeds_are_scored_in_batches_of_32_as_before_the_bound(smoke_testbed):
    """The bound changes no testbed computation: even a request as long as any testbed's window
    fits a batch of 32 (so records computed with a fixed batch of 32 are what the code computes now)."""
    from unlearnkit.models import testbed

    vocabulary = smoke_testbed.model.config.vocab_size
    assert vocabulary == len(smoke_testbed.tokenizer)  # every testbed shares this tokenizer
    for recipe in testbed.RECIPES.values():
        assert downstream.bounded_batch(recipe.max_positions, vocabulary) == 32


def test_memory_bounded_batches_score_as_batches_of_32(smoke_testbed, monkeypatch):
    """A budget that fits only a few requests per batch gives the same scores as a batch of 32,
    and the batches it runs really are smaller (their longest request bounds each)."""
    model, tok = smoke_testbed.model, smoke_testbed.tokenizer
    sizes = []
    hook = model.register_forward_pre_hook(
        lambda m, args, kw: sizes.append(kw["input_ids"].shape if "input_ids" in kw else args[0].shape),
        with_kwargs=True,
    )
    try:
        tasks = ["copa", "piqa", "lambada"]
        wide = downstream.lm_eval_scores(model, tok, tasks, count=12, seed=1)
        wide_sizes, sizes[:] = list(sizes), []
        memory = 3 * 40 * model.config.vocab_size * 8
        monkeypatch.setattr(downstream, "LOGITS_MEMORY", memory)
        narrow = downstream.lm_eval_scores(model, tok, tasks, count=12, seed=1)
    finally:
        hook.remove()
    assert narrow == wide
    assert max(b for b, _ in wide_sizes) > 3
    assert all(b * length * model.config.vocab_size * 8 <= memory or b == 1 for b, length in sizes)
    assert max(b for b, _ in sizes) >= 2  # short requests still share a batch
