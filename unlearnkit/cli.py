"""Command line: ``unlearnkit unlearn …`` runs one unlearning job; ``unlearnkit evaluate …``
scores a model's downstream capability; ``unlearnkit testbed`` builds a testbed.

    unlearnkit unlearn --model testbed:default --draw 0 --method "FILA + IHL" --out run.json
    unlearnkit unlearn --draw 0 --method ihl --lora fila           # the same: objective + adapter
    unlearnkit unlearn --draw 1 --method gd --downstream cpu   # and evaluate the unlearned model
    unlearnkit evaluate --model testbed:default --preset cpu --tasks copa,piqa,wizard_of_wikipedia
    unlearnkit unlearn --profile gpu --method gd --lr 5e-5          # GPT-Neo 125M from the hub

Parameters come from ``profiles/<profile>.yaml`` (``all:`` and ``unlearn:`` sections) and are
overridden by the flags.  Thresholds are measured on the model's held-out TDEC rows (cached).
The record is printed as JSON and written to ``--out`` when given.  This module parses
arguments and calls the library; it holds no logic of its own.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

DEFAULTS = {
    "model_name": "testbed:default",
    "heldout_rows": 128,
    "retain_rows": 256,
    "max_epochs": 20,
    "lr_full": 5e-5,
    "lr_lora": 2e-4,
    "rank": 16,
    "targets": ["q", "v", "ffn"],
    "n": 10,
}


def _profile(name: str | None) -> dict:
    if not name:
        return dict(DEFAULTS)
    from .book.build import load_profile

    prof = load_profile(name)
    return DEFAULTS | prof.get("all", {}) | prof.get("unlearn", {})


def check_unlearn_arguments(args, profile: dict) -> None:
    """Reject a bad argument at once, naming it and its valid values (nothing expensive runs first)."""
    from . import data
    from .experiments.runs import check_run_settings

    if args.size not in data.FORGET_SET_SIZES:
        raise SystemExit(
            f"unlearnkit unlearn: --size {args.size} is not a forget-set size; choose one of "
            f"{list(data.FORGET_SET_SIZES)}"
        )
    settings = {
        "draw": args.draw,
        "method": _method(args)[0],
        "targets": args.targets.split(",") if args.targets else profile["targets"],
    }
    for flag, key in (("rank", "rank"), ("max_epochs", "max_epochs"), ("heldout_rows", "heldout_rows"), ("lr", "lr")):
        if getattr(args, flag) is not None:
            settings[key] = getattr(args, flag)
    if args.downstream:
        settings["downstream"] = args.downstream
    try:
        check_run_settings(**settings)
    except ValueError as err:
        raise SystemExit(f"unlearnkit unlearn: {err}") from None


def _method(args) -> tuple[str, str | None]:
    """``(objective, LoRA init)`` from ``--method`` (a method of :data:`unlearnkit.methods.METHODS`
    or an objective) and ``--lora``."""
    from . import methods

    lora = None if args.lora == "none" else ("random" if args.lora == "lora" else args.lora)
    try:
        m = methods.get(args.method)
    except ValueError:  # an objective name: the adapter comes from --lora
        return args.method, lora
    if lora is not None and lora != m.lora_init:
        raise SystemExit(
            f"unlearnkit unlearn: --method {args.method!r} already names its training "
            f"({m.lora_init or 'every weight'}); drop --lora {args.lora} or pass an objective"
        )
    return m.objective, m.lora_init


def unlearn_main(args) -> int:
    from . import models, trainer
    from .evaluation import memorisation

    p = _profile(args.profile)
    name = args.model or p["model_name"]
    check_unlearn_arguments(args, p)  # before any model is loaded or built
    loaded = models.load(name)
    forget = loaded.forget_set(args.draw, args.size)
    heldout = loaded.heldout(args.heldout_rows or p["heldout_rows"])
    th = memorisation.thresholds(loaded.model, heldout, n=p["n"], model_key=loaded.key)
    objective, init = _method(args)
    lora = None
    if init is not None:
        lora = trainer.LoraSettings(
            rank=args.rank or p["rank"],
            init=init,
            targets=tuple(args.targets.split(",") if args.targets else p["targets"]),
        )
    lr = args.lr if args.lr is not None else (p["lr_lora"] if lora else p["lr_full"])
    config = trainer.UnlearnConfig(
        objective=objective, lora=lora, lr=lr, max_epochs=args.max_epochs or p["max_epochs"], seed=args.seed
    )
    run = trainer.unlearn(
        loaded.model,
        forget,
        loaded.retain(p["retain_rows"]),
        config,
        thresholds=th,
        save_dir=args.save_dir,
        record_path=args.out,
        tags={"model": loaded.key, "forget_set": f"lm_extraction_{args.size}_{args.draw}"},
    )
    full = run.record.to_dict()
    if args.downstream:
        from .evaluation import downstream
        from .store.cache import write_json_atomic

        full["downstream"] = downstream.evaluate(run.model, loaded.tokenizer, args.downstream)
        if args.out:
            write_json_atomic(Path(args.out), full)
    rec = {k: v for k, v in full.items() if k != "history"}
    print(json.dumps(rec, indent=2))
    return 0 if run.succeeded else 1


def evaluate_main(args) -> int:
    from . import models
    from .evaluation import downstream
    from .store.cache import write_json_atomic

    tasks = downstream.check_tasks(args.tasks.split(",")) if args.tasks else None  # before loading a model
    kw = (
        {}
        if tasks is None
        else {
            "reasoning": [t for t in tasks if t in downstream.REASONING_TASKS],
            "dialogue_tasks": [t for t in tasks if t in downstream.DIALOGUE_TASKS],
        }
    )
    loaded = models.load(args.model)
    out = downstream.evaluate(loaded.model, loaded.tokenizer, args.preset, mode=args.mode, **kw)
    if args.out:
        write_json_atomic(Path(args.out), out)
    print(json.dumps(out, indent=2))
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="unlearnkit", description="Knowledge unlearning for LLMs.")
    sub = parser.add_subparsers(dest="command", required=True)
    u = sub.add_parser("unlearn", help="run one unlearning job and print its record")
    u.add_argument("--profile", help="profiles/<name>.yaml to take defaults from (smoke, cpu, gpu)")
    u.add_argument("--model", help="testbed:<size>, a hub id or a local path (default: the profile's)")
    u.add_argument("--draw", type=int, default=0, help="forget set lm_extraction_<size>_<draw> (0..4)")
    u.add_argument("--size", type=int, default=32, help="forget set size (1, 4, 8, 32, 128)")
    u.add_argument(
        "--method",
        default="gd",
        help="a method (GA, GD, 'LoRA (GD)', 'LoRA + IHL', 'FILA + IHL', …: "
        "unlearnkit.methods) or an objective (ga, gd, ihl, ihl_only, kl, "
        "npo, yao3) trained as --lora says",
    )
    u.add_argument(
        "--lora",
        default="none",
        choices=["none", "lora", "fila", "pissa"],
        help="with an objective: train a LoRA adapter with this init (default: every weight)",
    )
    u.add_argument("--rank", type=int)
    u.add_argument("--targets", help="comma-separated LoRA target groups: q,k,v,o,ffn")
    u.add_argument("--lr", type=float)
    u.add_argument("--max-epochs", type=int)
    u.add_argument("--heldout-rows", type=int)
    u.add_argument("--seed", type=int, default=0)
    u.add_argument("--out", help="write the JSON record here (atomically)")
    u.add_argument("--save-dir", help="save the unlearned (merged) model here, in safetensors")
    u.add_argument(
        "--downstream", help="also evaluate reasoning/dialogue/perplexity at this size preset (smoke, cpu, full)"
    )
    e = sub.add_parser("evaluate", help="downstream scores of a model: reasoning, dialogue, perplexity")
    e.add_argument("--model", default="testbed:default", help="testbed:<size>, a hub id or a local path")
    e.add_argument("--preset", default="cpu", help="documents per task: smoke, cpu or full")
    e.add_argument(
        "--mode",
        default="local",
        choices=["local", "online"],
        help="local: shipped task YAMLs and data (offline); online: lm-eval's own reasoning tasks",
    )
    e.add_argument("--tasks", help="comma-separated subset of the 13 tasks (default: all)")
    e.add_argument("--out", help="write the JSON result here (atomically)")
    t = sub.add_parser("testbed", help="build (or load) a testbed and print where it is cached")
    t.add_argument("--size", default="default")
    args = parser.parse_args(argv)
    if args.command == "unlearn":
        return unlearn_main(args)
    if args.command == "evaluate":
        return evaluate_main(args)
    from .models import testbed

    tb = testbed.build(args.size)
    print(f"testbed {args.size} at {tb.path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
