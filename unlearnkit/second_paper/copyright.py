"""The second paper's copyright experiment (Gundavarapu et al. 2024, Table 2), with a
public-domain novel in place of *The Lord of the Rings*.

1. **Fine-tune** the original model with LoRA on ``train_passages`` passages of the book
   (the forget set).
2. **Unlearn** on the LoRA weights (the adapter stays, only it trains) with yao3 (GA on the
   passage's continuation given its prompt + NLL of a random normal-text continuation + KL
   to the fine-tuned model on normal text), and GA / IHL for comparison, for a fixed step
   budget; every ``check_every`` steps the BLEU of the forget prompts' continuations is
   measured, and the first step where it is back to the original model's + ``tolerance``
   is the criterion-based stop.
3. **Evaluate** original / fine-tuned / unlearned: greedy continuations of the forget
   prompts and of held-out book prompts against the true continuations (BLEU, as the
   paper's text says, and embedding cosine, as its code did); the share of continuations a
   "from the book?" classifier flags; continuations of normal (WikiText) prompts against
   the original model's (similarity to original).

Runs are cached (kinds ``"copyright_reference"`` and ``"copyright"``); the fine-tuned
adapter in the cache folder.  The chapter only calls :func:`experiment`.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from dataclasses import dataclass

import pandas as pd
import torch

from .. import experiments, losses, methods
from ..evaluation import similarity, text_classifier
from ..store import codehash, results
from ..store.cache import atomic_directory, cache_root, config_hash
from ..trainer import LoraSettings, wrap_lora
from . import books, finetune, qa, safety_data

METHODS = ("yao3", "GA", "IHL")  # names of unlearnkit.methods.METHODS


@dataclass(frozen=True)
class CopyrightConfig:
    model_name: str = "testbed:default"
    book: str = "pride_and_prejudice"
    seed: int = 0
    prompt_tokens: int = 32
    continuation_tokens: int = 48
    train_passages: int = 32  # fine-tuned on, then forgotten
    heldout_passages: int = 64
    classifier_passages: int = 400  # per class
    normal_passages: int = 64  # normal prompts evaluated
    finetune_steps: int = 600  # each passage seen ~150 times: the testbed then reproduces them (BLEU ~0.8)
    finetune_lr: float = 2e-3
    finetune_batch: int = 8
    rank: int = 16
    steps: int = 200
    batch: int = 2
    lr: float = 5e-4
    check_every: int = 10
    tolerance: float = 0.02  # criterion: forget BLEU <= original's + tolerance
    eps: tuple[float, float, float] = (0.5, 1.0, 1.0)


@dataclass
class _Parts:
    forget: list[books.Passage]
    heldout: list[books.Passage]
    classifier_book: list[books.Passage]
    classifier_normal: list[books.Passage]
    retain: list[books.Passage]
    normal_eval: list[books.Passage]


@functools.lru_cache(maxsize=4)
def parts(cfg: CopyrightConfig) -> _Parts:
    """Disjoint passages: forget, held-out, classifier (book and normal), retain, normal eval.

    ``retain`` (KL data and random continuations) is the normal text left after the
    classifier's share and the normal evaluation prompts, so no evaluated prompt is trained on."""
    tok = experiments.load(cfg.model_name).tokenizer
    book = safety_data.split(
        books.passages(tok, cfg.book, cfg.prompt_tokens, cfg.continuation_tokens), {"all": 1.0}, cfg.seed
    )["all"]
    normal = safety_data.split(
        books.normal_passages(tok, cfg.prompt_tokens, cfg.continuation_tokens), {"all": 1.0}, cfg.seed
    )["all"]
    a, b, c, n = cfg.train_passages, cfg.heldout_passages, cfg.classifier_passages, cfg.normal_passages
    if len(book) < a + b + c or len(normal) < c + 2 * n:
        raise ValueError(
            f"the book has {len(book)} passages and the normal text {len(normal)}; "
            f"the config asks for {a + b + c} and {c + 2 * n}"
        )
    return _Parts(book[:a], book[a : a + b], book[a + b : a + b + c], normal[:c], normal[c + n :], normal[c : c + n])


def _text(tok, ids) -> str:
    return tok.decode(ids, skip_special_tokens=True).strip()


@functools.lru_cache(maxsize=4)
def classifier(cfg: CopyrightConfig):
    """The "is this passage from the book?" classifier (book vs WikiText continuations, 80 %
    of the classifier passages) and its metrics on the other 20 %."""
    tok = experiments.load(cfg.model_name).tokenizer
    p = parts(cfg)
    half = len(p.classifier_book) * 4 // 5
    book = [_text(tok, x.continuation) for x in p.classifier_book]
    normal = [_text(tok, x.continuation) for x in p.classifier_normal]
    clf = text_classifier.TextClassifier.fit(book[:half], normal[:half], seed=cfg.seed)
    return clf, clf.evaluate(book[half:], normal[half:])


def _continuations(model, tok, passages, max_new_tokens) -> list[str]:
    ids = qa.generate(model, [p.prompt for p in passages], tok.pad_token_id, None, max_new_tokens)
    return [_text(tok, x) for x in ids]


def evaluate(model, tok, cfg: CopyrightConfig, original_normal: list[str] | None) -> dict:
    p = parts(cfg)
    clf, _ = classifier(cfg)
    out = {}
    for name, group in (("forget", p.forget), ("heldout", p.heldout)):
        hyp = _continuations(model, tok, group, cfg.continuation_tokens)
        ref = [_text(tok, x.continuation) for x in group]
        out[f"{name}_bleu"] = similarity.bleu(hyp, ref)
        out[f"{name}_bleu_per_passage"] = similarity.sentence_bleus(hyp, ref)  # for paired tests
        out[f"{name}_cosine"] = similarity.cosine(hyp, ref)
        out[f"{name}_book_rate"] = clf.rate(hyp)
        if name == "forget":
            out["examples"] = list(zip([_text(tok, x.prompt) for x in group[:2]], hyp[:2], ref[:2]))
    normal = _continuations(model, tok, p.normal_eval, cfg.continuation_tokens)
    out["normal_continuations"] = normal
    if original_normal is not None:
        out["normal_cosine_to_original"] = similarity.cosine(normal, original_normal)
        out["normal_cosine_per_passage"] = similarity.cosines(normal, original_normal)
        out["normal_bleu_to_original"] = similarity.bleu(normal, original_normal)
    return out


def _batch(tok, passages, rows, answers=None, whole: bool = False) -> dict:
    ps = [passages[r] for r in rows]
    if whole:  # labels on every token of the passage
        return qa.pack([[] for _ in ps], [x.prompt + x.continuation for x in ps], tok.pad_token_id)
    return qa.pack([x.prompt for x in ps], answers or [x.continuation for x in ps], tok.pad_token_id)


def _adapter_path(cfg: CopyrightConfig, model_key: str):
    keys = (
        "model_name",
        "book",
        "seed",
        "prompt_tokens",
        "continuation_tokens",
        "train_passages",
        "heldout_passages",
        "classifier_passages",
        "finetune_steps",
        "finetune_lr",
        "finetune_batch",
        "rank",
    )
    return (
        cache_root()
        / "models"
        / f"copyright-finetuned-{config_hash({k: getattr(cfg, k) for k in keys} | {'model': model_key, 'code': codehash.code_digest(__name__)})}"
    )


def finetuned_model(cfg: CopyrightConfig, progress: bool = True):
    """The original model with a LoRA adapter fine-tuned on the forget passages (adapter cached)."""
    from peft import PeftModel

    loaded = experiments.load(cfg.model_name)
    tok = loaded.tokenizer
    path = _adapter_path(cfg, loaded.key)
    if not (path / "adapter_config.json").is_file():
        p = parts(cfg)
        torch.manual_seed(cfg.seed)
        model, _ = wrap_lora(copy.deepcopy(loaded.model), LoraSettings(rank=cfg.rank), None, None)
        finetune.finetune(
            model,
            lambda s: _batch(tok, p.forget, qa.batch_rows(len(p.forget), cfg.finetune_batch, s, cfg.seed), whole=True),
            cfg.finetune_steps,
            cfg.finetune_lr,
            progress,
            desc="fine-tune (book)",
        )
        with atomic_directory(path) as tmp:
            model.save_pretrained(tmp)
    return PeftModel.from_pretrained(copy.deepcopy(loaded.model), path, is_trainable=True).eval()


def _key(cfg, model_key):
    return dataclasses.asdict(cfg) | {"model_key": model_key}


def _reference_evaluations(cfg: CopyrightConfig, progress: bool) -> dict:
    loaded = experiments.load(cfg.model_name)
    tok = loaded.tokenizer

    def compute():
        o = evaluate(loaded.model, tok, cfg, None)
        f = evaluate(finetuned_model(cfg, progress), tok, cfg, o["normal_continuations"])
        o["normal_cosine_to_original"], o["normal_bleu_to_original"] = 1.0, 1.0
        return {"original": o, "finetuned": f}

    return results.cached("copyright_reference", _key(cfg, loaded.key), compute, code=__name__)


def run(cfg: CopyrightConfig, method: str, progress: bool = True) -> dict:
    """Unlearn the book from the fine-tuned LoRA weights with ``method`` (cached)."""
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose one of {list(METHODS)}")
    loaded = experiments.load(cfg.model_name)
    tok = loaded.tokenizer
    refs = _reference_evaluations(cfg, progress)

    def compute():
        p = parts(cfg)
        model = finetuned_model(cfg, progress)
        reference = copy.deepcopy(model).requires_grad_(False).eval()

        def batches(step):
            rows = qa.batch_rows(len(p.forget), cfg.batch, step, cfg.seed)
            # a fresh random normal-text continuation per passage and step, as Yao et al. draw them
            picks = qa.batch_rows(len(p.retain), len(rows), step, cfg.seed + 1_000)
            return losses.UnlearnBatch(
                forget=_batch(tok, p.forget, rows),
                random=_batch(tok, p.forget, rows, [p.retain[i].continuation for i in picks]),
                retain=_batch(tok, p.retain, qa.batch_rows(len(p.retain), cfg.batch, step, cfg.seed + 7), whole=True),
                reference=reference,
            )

        limit = refs["original"]["forget_bleu"] + cfg.tolerance
        refs_forget = [_text(tok, x.continuation) for x in p.forget]

        def check(m):
            hyp = _continuations(m, tok, p.forget, cfg.continuation_tokens)
            return {
                "forget_bleu": similarity.bleu(hyp, refs_forget),
                "forget_cosine": similarity.cosine(hyp, refs_forget),
            }

        objective = methods.get(method).objective
        kwargs = {"eps1": cfg.eps[0], "eps2": cfg.eps[1], "eps3": cfg.eps[2]} if objective == "yao3" else {}
        torch.manual_seed(cfg.seed)
        rec = finetune.unlearn_steps(
            model,
            objective,
            batches,
            cfg.steps,
            cfg.lr,
            check=check,
            check_every=cfg.check_every,
            stop=lambda m: m["forget_bleu"] <= limit,
            objective_kwargs=kwargs,
            progress=progress,
        )
        final = evaluate(model, tok, cfg, refs["original"]["normal_continuations"])
        final.pop("normal_continuations")
        return {"method": method, "objective": objective, "criterion_limit": limit, **rec, "final": final}

    return results.cached("copyright", _key(cfg, loaded.key) | {"method": method}, compute, code=__name__)


def experiment(cfg: CopyrightConfig, methods: list[str] | None = None, progress: bool = True) -> dict:
    """Classifier metrics, original / fine-tuned evaluations and every method's run."""
    _, metrics = classifier(cfg)
    refs = _reference_evaluations(cfg, progress)
    return {"classifier": metrics, **refs, "runs": {m: run(cfg, m, progress) for m in (methods or list(METHODS))}}


def table(exp: dict) -> pd.DataFrame:
    """The paper's Table 2 layout, ours."""
    rows = []

    def row(name, ev, steps=None, seconds=None):
        rows.append(
            {
                "model": name,
                "steps": steps,
                "run (s)": seconds,
                "BLEU to book (forget prompts)": ev["forget_bleu"],
                "cosine to book (forget prompts)": ev["forget_cosine"],
                "BLEU to book (held-out prompts)": ev.get("heldout_bleu"),
                "cosine to book (held-out prompts)": ev.get("heldout_cosine"),
                "flagged 'from the book' (%)": 100 * ev["forget_book_rate"] if "forget_book_rate" in ev else None,
                "cosine to original (normal prompts)": ev.get("normal_cosine_to_original"),
            }
        )

    row("original", exp["original"])
    row("fine-tuned", exp["finetuned"])
    for name, r in exp["runs"].items():
        row(f"unlearned: {name}, {r['steps_run']}-step budget", r["final"], r["steps_run"], round(r["seconds"]))
        c = next((c for c in r["checks"] if c["step"] == r["criterion_step"]), None)
        if c is not None:
            row(f"unlearned: {name}, criterion stop", c, r["criterion_step"])
        else:
            rows.append({"model": f"unlearned: {name}, criterion stop", "steps": None})
    return pd.DataFrame(rows).set_index("model")


def facts(cfg: CopyrightConfig, exp: dict) -> dict[str, str]:
    """The numbers the chapter's prose quotes about the copyright experiment, as text."""
    return {
        "book_clf_acc": f"{100 * exp['classifier']['accuracy']:.1f}",
        "n_passages": str(cfg.train_passages),
        "n_heldout": str(cfg.heldout_passages),
        "n_normal": str(cfg.normal_passages),
        "p_tokens": str(cfg.prompt_tokens),
        "c_tokens": str(cfg.continuation_tokens),
        "c_steps": str(cfg.steps),
        "c_ft_steps": str(cfg.finetune_steps),
        "bleu_original": f"{exp['original']['forget_bleu']:.2f}",
        "bleu_finetuned": f"{exp['finetuned']['forget_bleu']:.2f}",
        **{
            f"bleu_{name}": f"{r['final']['forget_bleu']:.2f}" for name, r in exp["runs"].items() if name.isidentifier()
        },
    }


def plot_curves(exp: dict):
    """BLEU of the continuations to the book against unlearning steps, per method."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    data = pd.DataFrame(
        [
            {"method": name, "step": c["step"], "BLEU to the book (forget prompts)": c["forget_bleu"]}
            for name, r in exp["runs"].items()
            for c in r["checks"]
        ]
    )
    fig, ax = plt.subplots(figsize=(6, 3.6))
    sns.lineplot(data=data, x="step", y="BLEU to the book (forget prompts)", hue="method", marker="o", ax=ax)
    ax.axhline(exp["finetuned"]["forget_bleu"], ls="--", c="k", lw=1, label="fine-tuned")
    ax.axhline(exp["original"]["forget_bleu"], ls=":", c="grey", lw=1, label="original")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
