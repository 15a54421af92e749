"""Benchmark: the cost of FILA (Fisher estimation + initialisation) against one unlearning epoch.

One LoRA+IHL run with FILA on the testbed (forget set 0) for ``--epochs`` epochs; the
trainer times the set-up (two Fisher passes and the SVD initialisation) and each epoch
(optimiser step + MA evaluation; epochs where EL was computed are excluded).  Prints both
ratios measured in this run: set-up / training step, set-up / epoch (target ≤ 1).

    python benchmarks/bench_fila.py
"""

from __future__ import annotations

import argparse

from _common import testbed_problem


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="testbed:default")
    parser.add_argument("--epochs", type=int, default=3)
    args = parser.parse_args(argv)
    from unlearnkit import trainer

    loaded, forget, retain, th = testbed_problem(args.model)
    config = trainer.UnlearnConfig.of("FILA + IHL", lr=2e-4, max_epochs=args.epochs)
    rec = trainer.unlearn(loaded.model, forget, retain, config, thresholds=th, progress=False).record.to_dict()
    plain = [h for h in rec["history"] if h["el"] is None and h["el_lower_bound"] is None]
    step = sum(h["train_seconds"] for h in plain) / len(plain)
    epoch = sum(h["train_seconds"] + h["eval_seconds"] for h in plain) / len(plain)
    print(f"model {args.model}  forget {tuple(forget.shape)}  LoRA rank 16 on q,v,ffn")
    print(
        f"FILA set-up (Fisher on forget + retain sample, init): {rec['setup_seconds']:.2f} s, "
        f"{rec['setup_flops'] / 1e9:.1f} GFLOP"
    )
    print(f"one epoch: training step {step:.2f} s + MA evaluation = {epoch:.2f} s  (mean of {len(plain)} epochs)")
    print(
        f"ratio set-up / training step {rec['setup_seconds'] / step:.2f}   set-up / epoch {rec['setup_seconds'] / epoch:.2f}"
    )


if __name__ == "__main__":
    main()
