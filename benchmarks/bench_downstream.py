"""Benchmark: the full downstream evaluation on the testbed, as a ratio to one unlearning run.

Times :func:`unlearnkit.evaluation.downstream.evaluate` at a size preset (default ``cpu``: the sizes the
cpu-profile book evaluates every Table 1 run with) on the testbed before unlearning, split
into reasoning (9 lm-eval tasks), dialogue (4 generation tasks) and perplexity, and one
GD unlearning run on forget set 0 at the cpu profile's learning rate (to the criterion or
20 epochs).  Prints both times and their ratio, and the scores.

    python benchmarks/bench_downstream.py
    python benchmarks/bench_downstream.py --preset full
"""

from __future__ import annotations

import argparse
import time

from _common import testbed_problem


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="testbed:default")
    parser.add_argument("--preset", default="cpu", help="size preset of unlearnkit.evaluation.downstream.SIZES")
    parser.add_argument("--lr", type=float, default=1e-4, help="GD learning rate of the reference run (cpu profile)")
    args = parser.parse_args(argv)
    from unlearnkit import trainer
    from unlearnkit.evaluation import downstream

    loaded, forget, retain, th = testbed_problem(args.model)
    downstream.evaluate(loaded.model, loaded.tokenizer, "smoke", progress=False)  # warm-up: imports, task index
    start = time.perf_counter()
    scores = downstream.evaluate(loaded.model, loaded.tokenizer, args.preset, progress=False)
    eval_s = time.perf_counter() - start
    start = time.perf_counter()
    run = trainer.unlearn(
        loaded.model, forget, retain, trainer.UnlearnConfig(objective="gd", lr=args.lr), thresholds=th, progress=False
    )
    run_s = time.perf_counter() - start
    print(f"sizes ({args.preset}): {scores['sizes']}")
    print(f"documents scored: {scores['docs']}")
    print(
        "evaluation seconds: "
        + ", ".join(f"{k} {v:.1f}" for k, v in scores["seconds"].items())
        + f"; total {eval_s:.1f}"
    )
    print(f"one GD unlearning run: {run_s:.1f} s ({run.record.status} after {run.record.epochs_run} epochs)")
    print(f"downstream evaluation / unlearning run = {eval_s / run_s:.2f}")
    print(
        f"before unlearning: reasoning {100 * scores['reasoning_mean']:.1f} %, dialogue F1 "
        f"{100 * scores['dialogue_mean']:.2f} %, Pile PPL {scores['pile_ppl']:.1f}, WikiText PPL "
        f"{scores['wikitext_ppl']:.1f}"
    )
    for task, v in {**scores["reasoning"], **scores["dialogue"]}.items():
        print(f"  {task:<22}{100 * v:6.1f}")


if __name__ == "__main__":
    main()
