"""Inline against local worker processes for a grid of unlearning runs, measured in one run.

The same grid (Table 1's methods on two forget sets, a short budget, no downstream
evaluation) runs once ``inline`` (one process, every core) and once with the ``processes``
backend (2 workers x 1 thread each), each from an empty record cache with the model and its
thresholds already cached, and prints the wall-time ratio.  The figures are written to
``measurements/bench-dispatch-<model>.json`` (``make measured`` puts them on the Measured page).

    python benchmarks/bench_dispatch.py --model testbed:default
    python benchmarks/bench_dispatch.py --model smollm2-135m+tdec:one-set --draws 0 --forget-rows 8
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time

import _common  # noqa: F401  (puts tests/ on the path)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="testbed:default")
    parser.add_argument("--draws", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--forget-rows", type=int, default=8)
    parser.add_argument("--max-epochs", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    from unlearnkit import experiments
    from unlearnkit.book import measured
    from unlearnkit.experiments import dispatch
    from unlearnkit.store import results

    common = dict(forget_rows=args.forget_rows, max_epochs=args.max_epochs, downstream=None, heldout_rows=64)
    grid = experiments.table1_specs(args.model, args.draws, lr_full=1e-4, lr_lora=1e-3, **common)
    specs = [s for group in grid.values() for s in group]
    experiments.thresholds(args.model, 64)  # the model built or injected, its thresholds cached: not timed

    def timed(backend: str, **kw) -> float:
        shutil.rmtree(results.results_dir() / "unlearn", ignore_errors=True)  # every run really runs
        start = time.perf_counter()
        dispatch.run_specs(specs, backend, progress=False, **kw)
        return time.perf_counter() - start

    inline = timed("inline")
    procs = timed("processes", workers=args.workers, threads=1)
    print(
        f"{args.model}: {len(specs)} runs; inline {inline:.1f} s, processes {args.workers}x1 thread {procs:.1f} s "
        f"-> processes take {procs / inline:.2f}x the inline time"
    )
    safe = args.model.replace(":", "-").replace("+", "-")
    measured.record(
        f"bench-dispatch-{safe}",
        {
            "runs in the grid": len(specs),
            "inline (s)": round(inline, 1),
            f"processes, {args.workers} workers x 1 thread (s)": round(procs, 1),
            "processes / inline": round(procs / inline, 2),
        },
        "python benchmarks/bench_dispatch.py " + " ".join(sys.argv[1:]),
        notes="Table 1's five methods on each forget set, first rows only, a short budget, no downstream "
        "evaluation; the model and its thresholds cached beforehand.",
    )


if __name__ == "__main__":
    main()
