"""Benchmark: fast exact EL_n / MA (unlearnkit.metrics) against the slow reference algorithm.

Prints, from one run on the same model and the same sequences, the wall time of the slow
reference (a fresh greedy ``model.generate`` per prefix length, as Jang et al.'s code does;
``tests/reference_metrics.py``) and of ``unlearnkit.metrics``, their ratio (target: EL ≥ 20×),
and the largest difference between the two results (they must agree exactly).

    python benchmarks/bench_metrics.py                 # default testbed, forget set 0 (32 × 200)
    python benchmarks/bench_metrics.py --model testbed:smoke --sequences 8
    python benchmarks/bench_metrics.py --model smollm2-135m --sequences 2 --generation-batch-sizes 16,32,64

On a model that never memorised the rows (SmolLM2 as loaded, or any model after unlearning)
almost every prefix diverges, the case where EL is dearest.  ``--generation-batch-sizes``
times the fast EL at other decoding batch sizes (the default is the first timing), and the
early decision :func:`unlearnkit.metrics.extraction_likelihood_below` is timed against a
threshold (``--threshold``, default: half the measured mean, where a "no" needs only the
most memorised sequences) — the trainer's stopping check.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference_metrics import extraction_likelihood_ref, memorization_accuracy_ref  # noqa: E402

from unlearnkit import metrics, models  # noqa: E402


def timed(fn, *args, **kw):
    start = time.perf_counter()
    out = fn(*args, **kw)
    return out, time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="testbed:default", help="testbed:<size>, hub id or local path")
    parser.add_argument("--draw", type=int, default=0, help="forget set lm_extraction_32_<draw>")
    parser.add_argument("--sequences", type=int, default=32)
    parser.add_argument("--n", type=int, default=10)
    parser.add_argument(
        "--generation-batch-sizes",
        default="",
        help="comma-separated decoding batch sizes to time the fast EL at (besides the default)",
    )
    parser.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="EL threshold for the early-decision timing (default: half the measured mean)",
    )
    args = parser.parse_args(argv)

    loaded = models.load(args.model)
    x = loaded.forget_set(args.draw)[: args.sequences]
    model = loaded.model
    attn = getattr(model.config, "_attn_implementation", "?")
    print(
        f"model {args.model}  sequences {tuple(x.shape)}  n={args.n}  layers {model.config.num_hidden_layers}  "
        f"attention {attn}  torch threads {torch.get_num_threads()}"
    )

    ma_fast, t_ma_fast = timed(metrics.memorization_accuracy, model, x)
    ma_ref, t_ma_ref = timed(memorization_accuracy_ref, model, x)
    el_fast, t_el_fast = timed(metrics.extraction_likelihood, model, x, n=args.n, progress=False)
    el_ref, t_el_ref = timed(extraction_likelihood_ref, model, x, n=args.n)

    print(f"{'metric':<6}{'reference s':>13}{'fast s':>10}{'speed-up':>10}{'max |diff|':>12}{'mean':>8}")
    for name, ref, fast, tr, tf in (
        ("MA", ma_ref, ma_fast, t_ma_ref, t_ma_fast),
        (f"EL{args.n}", el_ref, el_fast, t_el_ref, t_el_fast),
    ):
        diff = (ref.double() - fast.double()).abs().max().item()
        print(f"{name:<6}{tr:>13.2f}{tf:>10.2f}{tr / tf:>9.1f}×{diff:>12.2e}{fast.mean().item():>8.3f}")

    for size in [int(b) for b in args.generation_batch_sizes.split(",") if b]:
        el, t = timed(metrics.extraction_likelihood, model, x, n=args.n, generation_batch_size=size)
        diff = (el_ref.double() - el.double()).abs().max().item()
        print(
            f"fast EL{args.n}, decoding batch {size:>3}: {t:7.2f} s  ({t_el_ref / t:5.1f}× the reference, "
            f"max |diff| {diff:.2e})"
        )
    threshold = args.threshold if args.threshold is not None else el_fast.mean().item() / 2
    check, t = timed(metrics.extraction_likelihood_below, model, x, threshold, n=args.n, chunk=1)
    print(
        f"early decision mean EL{args.n} < {threshold:.4f}: {check.below} after {check.evaluated}/{len(x)} "
        f"sequences, {t:.2f} s ({t_el_ref / t:.1f}× the reference)"
    )


if __name__ == "__main__":
    main()
