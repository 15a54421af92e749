"""Benchmark: peak memory of the downstream evaluation of SmolLM2, batches of 32 against
batches bounded by the memory of their logits.

Runs :func:`unlearnkit.evaluation.downstream.evaluate` on SmolLM2-135M-Instruct as loaded (preset
``brief``: the real chapter's) twice, each in a fresh process so that one peak cannot hide the
other: once with the bound lifted (every lm-eval batch 32 requests, what every evaluation did
before :func:`~unlearnkit.evaluation.downstream.bounded_batch`), once with the default
:data:`~unlearnkit.evaluation.downstream.LOGITS_MEMORY`.  Prints each peak resident set
(``ru_maxrss``) and time, their ratios, and whether every score is the same.

    python benchmarks/bench_downstream_memory.py
    python benchmarks/bench_downstream_memory.py --record   # also write measurements/downstream-memory-smollm2.json
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time


def one_evaluation(model_name: str, preset: str, bounded: bool) -> dict:
    """In this process: one downstream evaluation; returns its figures and scores."""
    from unlearnkit import models
    from unlearnkit.evaluation import downstream

    if not bounded:
        downstream.LOGITS_MEMORY = 1 << 62  # every batch 32
    loaded = models.load(model_name)
    start = time.perf_counter()
    out = downstream.evaluate(loaded.model, loaded.tokenizer, preset, progress=False)
    return {
        "seconds": round(time.perf_counter() - start, 1),
        "peak GB": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2),
        "scores": {
            **out["reasoning"],
            **out["dialogue"],
            **{k: out[k] for k in ("pile_ppl", "wikitext_ppl") if k in out},
        },
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--preset", default="brief", help="size preset of unlearnkit.evaluation.downstream.SIZES")
    parser.add_argument("--record", action="store_true", help="write the figures to measurements/")
    parser.add_argument("--child", choices=["fixed", "bounded"], default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child is not None:
        print(json.dumps(one_evaluation(args.model, args.preset, args.child == "bounded")))
        return
    runs = {}
    for kind in ("fixed", "bounded"):
        cmd = [sys.executable, __file__, "--child", kind, "--model", args.model, "--preset", args.preset]
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            sys.stderr.write(out.stderr[-3000:])
            raise SystemExit(f"the {kind} evaluation failed (exit {out.returncode}; -9 is the kernel's OOM killer)")
        runs[kind] = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{kind:>8}: {runs[kind]['seconds']:7.1f} s, peak {runs[kind]['peak GB']:.2f} GB", flush=True)
    fixed, bounded = runs["fixed"], runs["bounded"]
    same = fixed["scores"] == bounded["scores"]
    differing = sorted(k for k in fixed["scores"] if fixed["scores"][k] != bounded["scores"].get(k))
    figures = {
        "peak GB, batches of 32": fixed["peak GB"],
        "peak GB, bounded batches": bounded["peak GB"],
        "peak ratio bounded / 32": round(bounded["peak GB"] / fixed["peak GB"], 2),
        "time ratio bounded / 32": round(bounded["seconds"] / fixed["seconds"], 2),
        "scores identical": same,
    }
    print(
        f"peak bounded / 32: x{figures['peak ratio bounded / 32']}; time bounded / 32: x{figures['time ratio bounded / 32']}"
    )
    print("every score identical" if same else f"scores differ: {', '.join(differing)}")
    if args.record:
        sys.path.insert(0, str(__import__("pathlib").Path(__file__).resolve().parents[1]))
        from unlearnkit.book import measured

        command = "python benchmarks/bench_downstream_memory.py" + " ".join([""] + (argv or sys.argv[1:]))
        notes = f"downstream.evaluate({args.model}, {args.preset!r}) as loaded, each in a fresh process"
        measured.record("downstream-memory-smollm2", figures, command, notes=notes)


if __name__ == "__main__":
    main()
