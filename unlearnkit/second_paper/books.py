"""The public-domain novel that stands in for the second paper's copyrighted book.

Gundavarapu et al. fine-tune on *The Lord of the Rings*; that text is copyrighted and never
shipped or fetched here.  *Pride and Prejudice* (Austen, 1813) takes its place.  The novel
is tokenised once and cut into consecutive, non-overlapping passages of
``prompt + continuation`` tokens; a passage's first ``prompt`` tokens are the prompt and the
rest the text the model should (after fine-tuning) or should not (after unlearning)
reproduce.  This module cuts text; it trains and evaluates nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..data import data_file, wikitext_raw_chunks

BOOKS = {"pride_and_prejudice": "public_domain_books/pride_and_prejudice.txt"}


@dataclass(frozen=True)
class Passage:
    prompt: list[int]  # token ids
    continuation: list[int]


def book_text(name: str = "pride_and_prejudice") -> str:
    if name not in BOOKS:
        raise ValueError(f"unknown book {name!r}; shipped: {sorted(BOOKS)}")
    return data_file(BOOKS[name]).read_text(encoding="utf-8")


def cut(token_ids: list[int], prompt: int, continuation: int) -> list[Passage]:
    """Consecutive non-overlapping passages of ``prompt + continuation`` tokens (the tail is dropped)."""
    if prompt < 1 or continuation < 1:
        raise ValueError(f"prompt and continuation lengths must be >= 1, got {prompt}, {continuation}")
    size = prompt + continuation
    return [
        Passage(token_ids[s : s + prompt], token_ids[s + prompt : s + size])
        for s in range(0, len(token_ids) - size + 1, size)
    ]


def passages(tokenizer, name: str = "pride_and_prejudice", prompt: int = 32, continuation: int = 64) -> list[Passage]:
    """The book as passages of the tokenizer's ids (whitespace runs collapsed to one space per line break)."""
    text = "\n".join(" ".join(line.split()) for line in book_text(name).splitlines() if line.strip())
    return cut(tokenizer(text)["input_ids"], prompt, continuation)


def normal_passages(tokenizer, prompt: int = 32, continuation: int = 64) -> list[Passage]:
    """Normal (non-book) text cut the same way: Jang et al.'s WikiText chunks."""
    out = []
    for chunk in wikitext_raw_chunks():
        out += cut(tokenizer(chunk)["input_ids"], prompt, continuation)
    return out
