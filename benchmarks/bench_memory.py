"""Benchmark: peak memory of one unlearning run on SmolLM2 as the forget set grows.

Runs LoRA (GD) (rank 16 on q, v and the FFN, lr 2e-4, the real profile's method and rate) on
SmolLM2-135M-Instruct for ``--epochs`` epochs on the first 8, 16 and 32 rows of TDEC forget set
0, each in a fresh process so that one size's peak cannot hide another's, and prints each peak
resident set (the process's ``ru_maxrss``: model load, LoRA set-up, training, the MA/EL check
after every epoch) and the 32-row / 8-row ratio.  The criterion is made unreachable and MA's
test always passing (thresholds MA 2, EL 0), so that every epoch runs the EL check and the last
epoch the exact EL of every row, the most memory any epoch's evaluation takes; memory does not
depend on whether the rows are memorised, so the base model stands in for the injected one (no
25-minute injection).

``--micro-batch N`` fixes the rows per forward pass (32 is what every run used before the
trainer sized its micro-batches by memory: the whole 32-row set in one pass); the default is
the trainer's own choice.

    python benchmarks/bench_memory.py                      # the trainer's choice
    python benchmarks/bench_memory.py --micro-batch 32     # one forward pass per epoch (the old way)
    python benchmarks/bench_memory.py --record             # also write measurements/memory-smollm2.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

ROWS = (8, 16, 32)


def one_run(rows: int, epochs: int, micro_batch: int | None, model_name: str) -> dict:
    """In this process: one LoRA (GD) run on ``rows`` forget rows; returns its figures."""
    import torch

    from unlearnkit import metrics, models, trainer

    torch.set_num_threads(max(1, torch.get_num_threads()))
    loaded = models.load(model_name)
    forget = loaded.forget_set(0)[:rows]
    retain = loaded.retain(256)
    loaded_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    never = metrics.Thresholds(ma=2.0, el=0.0, n=10, source="unreachable, MA always passing: memory benchmark")
    settings = {"lr": 2e-4, "max_epochs": epochs}
    if micro_batch is not None:
        settings["micro_batch"] = micro_batch
    config = trainer.UnlearnConfig.of("LoRA (GD)", **settings)
    start = time.perf_counter()
    run = trainer.unlearn(loaded.model, forget, retain, config, thresholds=never, progress=False)
    return {
        "rows": rows,
        "tokens per row": int(forget.shape[1]),
        "micro_batch": run.record.config["micro_batch"],
        "epochs": run.record.epochs_run,
        "seconds": round(time.perf_counter() - start, 1),
        "peak GB after loading": round(loaded_rss, 2),
        "peak GB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rows", type=int, nargs="+", default=list(ROWS))
    parser.add_argument("--micro-batch", type=int, default=None, help="rows per forward pass (default: the trainer's)")
    parser.add_argument("--record", action="store_true", help="write the figures to measurements/")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(one_run(args.child, args.epochs, args.micro_batch, args.model)))
        return
    results = []
    print(f"{'rows':>5}{'micro-batch':>13}{'epochs':>8}{'seconds':>9}{'after load GB':>15}{'peak GB':>9}")
    for rows in args.rows:
        cmd = [sys.executable, __file__, "--child", str(rows), "--epochs", str(args.epochs), "--model", args.model]
        if args.micro_batch is not None:
            cmd += ["--micro-batch", str(args.micro_batch)]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.stderr.write(out.stderr[-3000:])
            raise SystemExit(f"the {rows}-row run failed (exit {out.returncode}; -9 is the kernel's OOM killer)")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        results.append(r)
        print(
            f"{r['rows']:>5}{r['micro_batch']:>13}{r['epochs']:>8}{r['seconds']:>9.1f}"
            f"{r['peak GB after loading']:>15.2f}{r['peak GB']:>9.2f}",
            flush=True,
        )
    by_rows = {r["rows"]: r for r in results}
    figures = {f"peak GB, {r['rows']} rows (micro-batch {r['micro_batch']})": r["peak GB"] for r in results}
    if 8 in by_rows and 32 in by_rows:
        ratio = by_rows[32]["peak GB"] / by_rows[8]["peak GB"]
        figures["peak ratio 32 / 8 rows"] = round(ratio, 2)
        print(f"peak 32 rows / 8 rows: x{ratio:.2f}")
    if args.record:
        sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
        from unlearnkit.book import measured

        name = "memory-smollm2" + (f"-micro-batch-{args.micro_batch}" if args.micro_batch else "")
        command = "python benchmarks/bench_memory.py" + " ".join([""] + (argv or sys.argv[1:]))
        notes = f"LoRA (GD) on {args.model}, lr 2e-4, {args.epochs} epochs, criterion unreachable"
        measured.record(name, figures, command, notes=notes)


if __name__ == "__main__":
    main()
