"""The testbed: a small GPT-Neo that memorises TDEC sequences the way GPT-Neo 125M does.

No model weights can be downloaded here, so the book's default results come from a scale
model built deterministically from the shipped data:

* a real ``GPTNeoForCausalLM`` with a compact tokenizer: GPT-2's own byte-level BPE cut
  to its 7,935 most frequent merges (``data/testbed_tokenizer/tokenizer.json``, a generated
  file; regenerate with ``python -m unlearnkit.models.testbed --train-tokenizer``), so the output
  layer is 8,192 wide instead of 50,257 and a TDEC sequence is the first 200 *testbed*
  tokens of the same text;
* pretrained on real text: decoded TDEC Pile sequences that are in no forget set and
  WikiText-2 *test* articles, each seen about once;
* with the sequences of the five 32-sequence forget sets (``lm_extraction_32_{0..4}``) in
  every batch, so each is seen dozens of times (duplication is what makes real LLMs
  memorise TDEC sequences);
* TDEC *validation* rows are never trained on: they are the held-out "unseen data" that
  set the forgetting thresholds.  The Pile sample and WikiText validation chunks used for
  perplexity are never trained on either.

The built model is cached under ``cache_root()/testbed/<size>-<recipe hash>``; a second
``build`` loads it in seconds.  This module builds and loads; it does not evaluate
(see :mod:`unlearnkit.metrics`).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .. import data, training
from ..losses import Loss
from ..store import codehash
from ..store.cache import atomic_directory, cache_root, config_hash, write_json_atomic

TOKENIZER_FILE = "testbed_tokenizer/tokenizer.json"
EOS = "<|endoftext|>"


@dataclass(frozen=True)
class Recipe:
    """Everything that determines a testbed; its hash names the cache entry."""

    size: str
    hidden: int
    layers: int
    heads: int
    steps: int
    forget_per_step: int  # forget sequences in each optimiser step
    general_per_step: int  # general-text chunks in each optimiser step
    general_length: int  # tokens per general-text chunk
    lr: float
    warmup_steps: int
    forget_draws: tuple[int, ...]  # which lm_extraction_32_k sets are memorised
    general_tdec_rows: int  # non-forget TDEC train rows in the pretraining text
    use_wikitext: bool
    heldout_rows: int  # TDEC val rows kept as unseen data
    retain_rows: int  # general TDEC rows (seen in training) exposed as the retain set
    seed: int = 0
    max_positions: int = 256
    # Forget sets left out of pretraining: the exact-unlearning reference ("retrained without
    # forget set k"). They stay in the splits, as data the model never saw.
    without: tuple[int, ...] = ()

    def hash(self) -> str:
        """The recipe, the tokenizer file and the digest of the code that builds the testbed."""
        return config_hash(
            dataclasses.asdict(self)
            | {"tokenizer": data.manifest()[TOKENIZER_FILE]["sha256"], "code": codehash.code_digest(__name__)}
        )

    @property
    def trained_draws(self) -> tuple[int, ...]:
        """The forget sets in the pretraining batches (``forget_draws`` less ``without``)."""
        return tuple(d for d in self.forget_draws if d not in self.without)

    @property
    def name(self) -> str:
        """``default``, or ``default:without-0`` for a testbed retrained without forget set 0."""
        return self.size + "".join(f":without-{d}" for d in self.without)


RECIPES: dict[str, Recipe] = {
    "smoke": Recipe(
        size="smoke",
        hidden=64,
        layers=2,
        heads=2,
        steps=120,
        forget_per_step=8,
        general_per_step=4,
        general_length=256,
        lr=5e-3,
        warmup_steps=10,
        forget_draws=(0,),
        general_tdec_rows=400,
        use_wikitext=False,
        heldout_rows=32,
        retain_rows=64,
    ),
    "default": Recipe(
        size="default",
        hidden=192,
        layers=4,
        heads=4,
        steps=950,
        forget_per_step=8,
        general_per_step=4,
        general_length=256,
        lr=1e-3,
        warmup_steps=50,
        forget_draws=(0, 1, 2, 3, 4),
        general_tdec_rows=8000,
        use_wikitext=True,
        heldout_rows=128,
        retain_rows=256,
    ),
}


# ------------------------------------------------------------------------ tokenizer


def load_tokenizer():
    """The shipped compact testbed tokenizer as a ``PreTrainedTokenizerFast``."""
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast(
        tokenizer_file=str(data.data_file(TOKENIZER_FILE)),
        eos_token=EOS,
        bos_token=EOS,
        unk_token=EOS,
        pad_token=EOS,
        clean_up_tokenization_spaces=False,
    )


def train_tokenizer(vocab_size: int = 8192) -> Path:
    """Write the compact testbed tokenizer into ``data/``: GPT-2's BPE cut to its first merges.

    GPT-2's merges are ranked by frequency and token ``256 + r`` is the result of merge ``r``,
    so keeping the 256 byte tokens, the first ``vocab_size - 257`` merges and
    ``<|endoftext|>`` gives a valid byte-level BPE whose tokens are GPT-2 tokens.  Any
    text encodes into at least as many tokens as with GPT-2 (a refinement of GPT-2's
    segmentation), so a TDEC row always yields 200 testbed tokens covering most of its
    text.  The output is a generated file; update its sha256 in ``data/MANIFEST.tsv``.
    """
    spec = json.loads(data.data_file("tokenizer_gpt2/tokenizer.json").read_text(encoding="utf-8"))
    n_merges = vocab_size - 257
    model = spec["model"]
    model["merges"] = model["merges"][:n_merges]
    model["vocab"] = {t: i for t, i in model["vocab"].items() if i < 256 + n_merges}
    model["vocab"][EOS] = 256 + n_merges
    spec["added_tokens"][0]["id"] = 256 + n_merges
    out = data.data_dir() / TOKENIZER_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(spec, ensure_ascii=False), encoding="utf-8")
    return out


# ---------------------------------------------------------------------- the splits


def forget_doc_ids_all() -> set[int]:
    """TDEC rows in any shipped forget set (every size and draw)."""
    return {
        i
        for size in data.FORGET_SET_SIZES
        for d in range(data.FORGET_SET_DRAWS)
        for i in data.forget_set(size, d).doc_ids
    }


def general_tdec_doc_ids(count: int, seed: int) -> np.ndarray:
    """``count`` TDEC train rows in no forget set, chosen with ``seed`` (sorted)."""
    excluded = forget_doc_ids_all()
    candidates = np.array([i for i in range(len(data.tdec_sequences("train"))) if i not in excluded])
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(candidates, size=count, replace=False))


def general_tdec_doc_pool(count: int, seed: int) -> np.ndarray:
    """:func:`general_tdec_doc_ids` ``(count, seed)`` in order, followed by ``count`` more such rows:
    a pool from which a tokenizer that makes some rows too short still finds ``count`` (a
    GPT-2-vocabulary model takes exactly the first ``count``)."""
    first = general_tdec_doc_ids(count, seed)
    more = np.setdiff1d(general_tdec_doc_ids(2 * count, seed), first)
    return np.concatenate([first, more])


def heldout_ids(tokenizer, count: int) -> torch.Tensor:
    """The first ``count`` TDEC *validation* rows (never trained on) as ``(count, 200)`` ids."""
    rows = data.tdec_sequences("val")[:count]
    return torch.from_numpy(data.encode_tdec(rows, tokenizer))


def forget_ids(tokenizer, draw: int, size: int = 32) -> torch.Tensor:
    """Forget set ``lm_extraction_{size}_{draw}`` as ``(size, 200)`` ids of ``tokenizer``."""
    return torch.from_numpy(data.encode_tdec(data.forget_set(size, draw).token_ids(), tokenizer))


def token_blocks(tokenizer, texts: list[str], length: int) -> torch.Tensor:
    ids: list[int] = []
    for t in texts:
        ids.extend(tokenizer.encode(t, add_special_tokens=False))
        ids.append(tokenizer.eos_token_id)
    n = len(ids) // length
    return torch.tensor(ids[: n * length], dtype=torch.long).view(n, length)


# --------------------------------------------------------------------------- build


@dataclass
class Testbed:
    """A built testbed: the model, its tokenizer, and the token-id splits it was built with."""

    model: torch.nn.Module
    tokenizer: object
    recipe: Recipe
    path: Path
    splits: dict[str, torch.Tensor]  # "forget_<k>", "heldout", "retain"
    info: dict

    def forget_set(self, draw: int = 0) -> torch.Tensor:
        """Forget set ``lm_extraction_32_{draw}`` as ``(32, 200)`` testbed ids."""
        key = f"forget_{draw}"
        if key not in self.splits:
            raise KeyError(
                f"forget set {draw} is not part of the {self.recipe.name!r} testbed "
                f"(has {list(self.recipe.forget_draws)})"
            )
        return self.splits[key]

    @property
    def heldout(self) -> torch.Tensor:
        return self.splits["heldout"]

    @property
    def retain(self) -> torch.Tensor:
        return self.splits["retain"]

    def __iter__(self):  # ``model, tokenizer = testbed.build(...)``
        return iter((self.model, self.tokenizer))

    def summary(self) -> dict:
        """What the book's introduction shows about the testbed: size, data, cost, recipe hash."""
        info, recipe = self.info, self.recipe
        return {
            "layers x width": f"{recipe.layers} x {recipe.hidden}",
            "parameters (M)": round(sum(p.numel() for p in self.model.parameters()) / 1e6, 2),
            "vocabulary": len(self.tokenizer),
            "optimiser steps": recipe.steps,
            "forget sequences": info["forget_sequences"],
            "times each forget sequence was seen": round(info["times_each_forget_sequence_seen"], 1),
            "general tokens seen": info["general_tokens_seen"],
            "build time (s)": round(info["build_seconds"]),
            "torch threads": info["torch_threads"],
            "recipe hash": recipe.hash(),
        }


def _make_model(recipe: Recipe, vocab_size: int, eos_id: int):
    from transformers import GPTNeoConfig, GPTNeoForCausalLM

    config = GPTNeoConfig(
        vocab_size=vocab_size,
        hidden_size=recipe.hidden,
        num_layers=recipe.layers,
        num_heads=recipe.heads,
        attention_types=[[["global"], recipe.layers]],
        intermediate_size=4 * recipe.hidden,
        max_position_embeddings=recipe.max_positions,
        window_size=recipe.max_positions,
        bos_token_id=eos_id,
        eos_token_id=eos_id,
        pad_token_id=eos_id,
        embed_dropout=0.0,
        attention_dropout=0.0,
        resid_dropout=0.0,
    )
    return GPTNeoForCausalLM(config)


def _splits(recipe: Recipe, tokenizer) -> dict[str, torch.Tensor]:
    splits = {f"forget_{d}": forget_ids(tokenizer, d) for d in recipe.forget_draws}
    splits["heldout"] = heldout_ids(tokenizer, recipe.heldout_rows)
    rows = general_tdec_doc_ids(recipe.general_tdec_rows, recipe.seed)
    splits["retain"] = torch.from_numpy(
        data.encode_tdec(data.tdec_sequences("train")[rows[: recipe.retain_rows]], tokenizer)
    )
    return splits


def _pretrain(recipe: Recipe, model, tokenizer, splits, progress: bool) -> dict:
    gen = torch.Generator().manual_seed(recipe.seed)
    rows = general_tdec_doc_ids(recipe.general_tdec_rows, recipe.seed)
    texts = data.decode_tdec(data.tdec_sequences("train")[rows])
    if recipe.use_wikitext:
        texts += data.wikitext2("test")
    general = token_blocks(tokenizer, texts, recipe.general_length)
    forget_parts = [splits[f"forget_{d}"] for d in recipe.trained_draws]
    # No forget set left to memorise (a one-set testbed retrained without it): general text only.
    forget = torch.unique(torch.cat(forget_parts), dim=0) if forget_parts else None

    def lr_at(step: int) -> float:
        if step < recipe.warmup_steps:
            return (step + 1) / recipe.warmup_steps
        frac = (step - recipe.warmup_steps) / max(1, recipe.steps - recipe.warmup_steps)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * frac))

    order = {"f": torch.empty(0, dtype=torch.long), "g": torch.empty(0, dtype=torch.long)}

    def refill(key: str, pool: torch.Tensor, count: int) -> None:
        if len(order[key]) < count:
            order[key] = torch.cat([order[key], torch.randperm(len(pool), generator=gen)])

    def take(key: str, pool: torch.Tensor, count: int) -> torch.Tensor:
        refill(key, pool, count)
        rows, order[key] = order[key][:count], order[key][count:]
        return pool[rows]

    def loss(step: int) -> Loss:
        if forget is not None:  # the forget order is drawn first, as every testbed was built
            refill("f", forget, recipe.forget_per_step)
        gb = take("g", general, recipe.general_per_step)
        n_g = gb.numel() - len(gb)  # predicted tokens
        if forget is None:
            loss_g = model(input_ids=gb, labels=gb).loss
            return Loss(loss_g, {"forget": float("nan"), "general": loss_g.item()})
        fb = take("f", forget, recipe.forget_per_step)  # its forward first, as every cached testbed was built
        n_f = fb.numel() - len(fb)
        loss_f = model(input_ids=fb, labels=fb).loss
        loss_g = model(input_ids=gb, labels=gb).loss
        return Loss((loss_f * n_f + loss_g * n_g) / (n_f + n_g), {"forget": loss_f.item(), "general": loss_g.item()})

    done = training.train(
        model,
        loss,
        recipe.steps,
        training.Optimisation(lr=recipe.lr, betas=(0.9, 0.95), weight_decay=0.01, clip=1.0, precision="fp32"),
        params=list(model.parameters()),
        schedule=lr_at,
        progress=progress,
        desc=f"testbed[{recipe.name}]",
        leave=True,
    )
    losses = [(s.parts["forget"], s.parts["general"]) for s in done.steps]
    return {
        "forget_sequences": 0 if forget is None else len(forget),
        "general_chunks": len(general),
        "general_tokens_seen": recipe.steps * recipe.general_per_step * recipe.general_length,
        "times_each_forget_sequence_seen": 0.0
        if forget is None
        else recipe.steps * recipe.forget_per_step / len(forget),
        "final_loss_forget": float(np.mean([f for f, _ in losses[-20:]])),
        "final_loss_general": float(np.mean([g for _, g in losses[-20:]])),
        "loss_curve": losses,
    }


def cache_path(size: str, without: tuple[int, ...] = ()) -> Path:
    recipe = _recipe(size, without)
    return cache_root() / "testbed" / f"{recipe.size}-{recipe.hash()}"


def _recipe(size: str, without: tuple[int, ...] = ()) -> Recipe:
    if size not in RECIPES:
        raise ValueError(f"unknown testbed size {size!r}; choose one of {sorted(RECIPES)}")
    recipe = RECIPES[size]
    without = tuple(sorted(set(without)))
    for d in without:
        if d not in recipe.forget_draws:
            raise ValueError(
                f"cannot retrain the {size!r} testbed without forget set {d}: "
                f"it memorises forget sets {list(recipe.forget_draws)}"
            )
    return dataclasses.replace(recipe, without=without)


def parse_name(name: str) -> tuple[str, tuple[int, ...]]:
    """``"default"`` → ``("default", ())``; ``"default:without-0"`` → ``("default", (0,))``."""
    size, *rest = name.split(":")
    without = []
    for part in rest:
        if not (part.startswith("without-") and part.removeprefix("without-").isdigit()):
            raise ValueError(
                f"bad testbed name {name!r}: expected '<size>' or '<size>:without-<k>' "
                f"(k a forget set), e.g. 'default:without-0'"
            )
        without.append(int(part.removeprefix("without-")))
    return size, tuple(without)


def build(size: str = "default", progress: bool = True, without: tuple[int, ...] = ()) -> Testbed:
    """Build (or load from the cache) the testbed of the given size.

    Args:
        size: ``"smoke"`` (seconds; for tests) or ``"default"`` (minutes; for the book).
        progress: show a progress bar while training.
        without: forget sets to leave out of pretraining, everything else the same (recipe,
            seed, steps, batch make-up): the exact-unlearning reference for those sets.  The
            remaining forget sequences fill the forget slots of each batch, so each is seen
            more often than in the full testbed (``info["times_each_forget_sequence_seen"]``).

    Returns:
        A :class:`Testbed`; ``model, tokenizer = build(size)`` also works.
    """
    from safetensors.torch import load_file, save_file
    from transformers import GPTNeoForCausalLM

    recipe = _recipe(size, without)
    path = cache_path(size, without)
    if not (path / "testbed.json").is_file():
        torch.manual_seed(recipe.seed)
        tokenizer = load_tokenizer()
        splits = _splits(recipe, tokenizer)
        model = _make_model(recipe, len(tokenizer), tokenizer.eos_token_id)
        start = time.perf_counter()
        info = _pretrain(recipe, model, tokenizer, splits, progress)
        info["build_seconds"] = time.perf_counter() - start
        info["torch_threads"] = torch.get_num_threads()
        with atomic_directory(path) as tmp:
            model.save_pretrained(tmp)
            tokenizer.save_pretrained(tmp)
            save_file({k: v.contiguous() for k, v in splits.items()}, tmp / "splits.safetensors")
            write_json_atomic(
                tmp / "testbed.json", {"recipe": dataclasses.asdict(recipe), "hash": recipe.hash(), **info}
            )
    from transformers import AutoTokenizer

    model = GPTNeoForCausalLM.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    splits = load_file(path / "splits.safetensors")
    info = json.loads((path / "testbed.json").read_text())
    return Testbed(model, tokenizer, recipe, path, splits, info)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="default", choices=sorted(RECIPES))
    parser.add_argument(
        "--without",
        type=int,
        nargs="*",
        default=[],
        metavar="K",
        help="leave forget sets K out of pretraining (the exact-unlearning reference)",
    )
    parser.add_argument("--train-tokenizer", action="store_true", help="regenerate data/" + TOKENIZER_FILE)
    args = parser.parse_args(argv)
    if args.train_tokenizer:
        out = train_tokenizer()
        print(f"wrote {out} (sha256 {data.sha256_of(out)}); update data/MANIFEST.tsv")
        return
    tb = build(args.size, without=tuple(args.without))
    print(f"testbed {tb.recipe.name} at {tb.path} (built in {tb.info['build_seconds']:.0f} s)")


if __name__ == "__main__":
    main()
