"""Benchmark: epochs to the forgetting criterion per method, and the trainer's speed-up.

On the testbed and forget set 0: runs GA, GD (full fine-tuning), LoRA(GD), LoRA+IHL and
FILA+IHL (rank 16 on q, v, ffn) at the cpu profile's learning rates (the paper's 5e-5 / 2e-4
leave GD and every LoRA method short of the criterion in 20 epochs on the testbed; pass
``--lr-full 5e-5 --lr-lora 2e-4`` to see it) and prints epochs to criterion, final MA/EL,
held-out Pile perplexity and wall time.  Then repeats one method (``--compare``, default GA) with EL
evaluated every epoch by the slow reference algorithm (``tests/reference_metrics.py``), as a
trainer without the MA gate and the fast EL would, and prints the whole-run time ratio
(GA at a learning rate high enough to finish in a few epochs, to bound the cost: the
reference EL takes about two minutes per epoch on the testbed).

    python benchmarks/bench_trainer.py
    python benchmarks/bench_trainer.py --skip-reference
"""

from __future__ import annotations

import argparse

from _common import testbed_problem
from reference_metrics import extraction_likelihood_ref

METHODS = ("GA", "GD", "LoRA (GD)", "LoRA + IHL", "FILA + IHL")  # unlearnkit.methods names


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="testbed:default")
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--lr-full", type=float, default=1e-4, help="full fine-tuning (paper: 5e-5; cpu profile: 1e-4)")
    parser.add_argument("--lr-lora", type=float, default=1e-3, help="LoRA/FILA (paper: 2e-4; cpu profile: 1e-3)")
    parser.add_argument(
        "--compare", default="GA", choices=sorted(METHODS), help="method repeated with the reference EL every epoch"
    )
    parser.add_argument(
        "--compare-lr",
        type=float,
        default=2e-4,
        help="its learning rate (high enough to finish in a few epochs: the reference EL "
        "costs about two minutes per epoch on the testbed)",
    )
    parser.add_argument("--skip-reference", action="store_true")
    parser.add_argument("--ppl-docs", type=int, default=100, help="Pile-sample documents for held-out perplexity")
    args = parser.parse_args(argv)
    from unlearnkit import methods, metrics, trainer
    from unlearnkit.evaluation import memorisation

    texts = memorisation.perplexity_texts("pile", args.ppl_docs)

    def ppl(model) -> float:
        return metrics.perplexity(model, loaded.tokenizer, texts)

    loaded, forget, retain, th = testbed_problem(args.model)
    print(f"model {args.model}  forget {tuple(forget.shape)}  thresholds MA {th.ma:.4f} EL{th.n} {th.el:.4f}")
    print(f"Pile-sample perplexity ({args.ppl_docs} documents) before unlearning: {ppl(loaded.model):.1f}")
    print(
        f"{'method':<10}{'status':>12}{'epochs':>8}{'MA':>8}{'EL10':>8}{'Pile PPL':>10}{'train s':>9}{'eval s':>8}"
        f"{'wall s':>8}"
    )
    records = {}
    for name in METHODS:
        lr = args.lr_full if methods.get(name).full_finetuning else args.lr_lora
        config = trainer.UnlearnConfig.of(name, lr=lr, max_epochs=args.max_epochs)
        result = trainer.unlearn(loaded.model, forget, retain, config, thresholds=th, progress=False)
        rec = result.record.to_dict()
        records[name] = rec
        el = "-" if rec["final_el"] is None else f"{rec['final_el']:.3f}"
        print(
            f"{name:<10}{rec['status']:>12}{str(rec['epochs'] or '-'):>8}{rec['final_ma']:>8.3f}{el:>8}"
            f"{ppl(result.model):>10.1f}"
            f"{rec['train_seconds']:>9.1f}{rec['eval_seconds']:>8.1f}{rec['wall_seconds']:>8.1f}",
            flush=True,
        )
    if args.skip_reference:
        return
    config = trainer.UnlearnConfig.of(args.compare, lr=args.compare_lr, max_epochs=args.max_epochs)
    fast = trainer.unlearn(loaded.model, forget, retain, config, thresholds=th, progress=False).record.to_dict()
    # the trainer's benchmark-only switches: the reference EL, every epoch
    slow = trainer._unlearn(
        loaded.model,
        forget,
        retain,
        config,
        thresholds=th,
        progress=False,
        el_every_epoch=True,
        el_function=extraction_likelihood_ref,
    ).record.to_dict()
    assert slow["epochs_run"] == fast["epochs_run"], "the reference run must take the same decisions"
    print(
        f"{args.compare} (lr {args.compare_lr:g}) with reference EL every epoch: {slow['wall_seconds']:.1f} s vs {fast['wall_seconds']:.1f} s"
        f" -> speed-up {slow['wall_seconds'] / fast['wall_seconds']:.1f}x (same {fast['epochs_run']} epochs)"
    )


if __name__ == "__main__":
    main()
