"""Benchmark: epochs to the forgetting criterion per method, and the trainer's speed-up.

On the testbed and forget set 0: runs GA, GD (full fine-tuning, lr 5e-5), LoRA(GD),
LoRA+IHL and FILA+IHL (rank 16 on q, v, ffn, lr 2e-4) and prints epochs to criterion,
final MA/EL and wall time.  Then repeats one method (``--compare``, default GD) with EL
evaluated every epoch by the slow reference algorithm (``tests/reference_metrics.py``), as a
trainer without the MA gate and the fast EL would, and prints the whole-run time ratio.

    python benchmarks/bench_trainer.py
    python benchmarks/bench_trainer.py --skip-reference
"""

from __future__ import annotations

import argparse

from _common import testbed_problem
from reference_metrics import extraction_likelihood_ref

METHODS = {
    "GA": dict(method="ga", lora=None, lr=5e-5),
    "GD": dict(method="gd", lora=None, lr=5e-5),
    "LoRA(GD)": dict(method="gd", lora="lora", lr=2e-4),
    "LoRA+IHL": dict(method="ihl", lora="lora", lr=2e-4),
    "FILA+IHL": dict(method="ihl", lora="fila", lr=2e-4),
}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="testbed:default")
    parser.add_argument("--max-epochs", type=int, default=20)
    parser.add_argument("--compare", default="GD", choices=sorted(METHODS))
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args(argv)
    from unlearnkit import trainer

    loaded, forget, retain, th = testbed_problem(args.model)
    print(f"model {args.model}  forget {tuple(forget.shape)}  thresholds MA {th.ma:.4f} EL{th.n} {th.el:.4f}")
    print(f"{'method':<10}{'status':>12}{'epochs':>8}{'MA':>8}{'EL10':>8}{'train s':>9}{'eval s':>8}{'wall s':>8}")
    records = {}
    for name, kw in METHODS.items():
        rec = trainer.unlearn(loaded.model, forget, retain, max_epochs=args.max_epochs, thresholds=th,
                              progress=False, **kw).record
        records[name] = rec
        el = "-" if rec["final_el"] is None else f"{rec['final_el']:.3f}"
        print(f"{name:<10}{rec['status']:>12}{str(rec['epochs'] or '-'):>8}{rec['final_ma']:>8.3f}{el:>8}"
              f"{rec['train_seconds']:>9.1f}{rec['eval_seconds']:>8.1f}{rec['wall_seconds']:>8.1f}", flush=True)
    if args.skip_reference:
        return
    fast = records[args.compare]
    slow = trainer.unlearn(loaded.model, forget, retain, max_epochs=args.max_epochs, thresholds=th, progress=False,
                           el_every_epoch=True, el_function=extraction_likelihood_ref, **METHODS[args.compare]).record
    assert slow["epochs_run"] == fast["epochs_run"], "the reference run must take the same decisions"
    print(f"{args.compare} with reference EL every epoch: {slow['wall_seconds']:.1f} s vs {fast['wall_seconds']:.1f} s"
          f" -> speed-up {slow['wall_seconds'] / fast['wall_seconds']:.1f}x (same {fast['epochs_run']} epochs)")


if __name__ == "__main__":
    main()
