"""Benchmark: peak memory and time of the Inverted Hinge Loss against cross-entropy.

Each measurement runs in a fresh process (peak resident memory from ``os.wait4``): create
logits ``(B, T, V)`` (fp32, requiring grad) and labels, then loss + backward, ``--repeats``
times.  Printed: peak RSS per loss, the peak above the process that only holds the inputs
(and their gradient), and the ratios IHL / CE measured in this run (target memory ≤ 1.2).

    python benchmarks/bench_losses.py                   # (8, 200, 50257), the issue's shape
    python benchmarks/bench_losses.py --shape 2 64 8192
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time


def worker(kind: str, shape: list[int], repeats: int) -> None:
    import torch

    from unlearnkit.losses import inverted_hinge_loss, nll

    torch.manual_seed(0)
    B, T, V = shape
    logits = torch.randn(B, T, V, requires_grad=True)
    labels = torch.randint(0, V, (B, T))
    logits.grad = torch.zeros_like(logits)  # the gradient buffer exists in every variant
    fn = {"ihl": inverted_hinge_loss, "ce": nll}.get(kind)
    times = []
    for _ in range(repeats if fn else 0):
        start = time.perf_counter()
        fn(logits, labels).backward()
        times.append(time.perf_counter() - start)
    print(min(times) if times else 0.0)


def measure(kind: str, shape: list[int], repeats: int) -> tuple[float, float]:
    cmd = [sys.executable, __file__, "--worker", kind, "--repeats", str(repeats), "--shape", *map(str, shape)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    if status != 0:
        raise RuntimeError(f"worker {kind} failed (status {status})")
    return usage.ru_maxrss / 1024.0, float(out.strip().splitlines()[-1])  # MiB, seconds


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs=3, default=[8, 200, 50257], metavar=("B", "T", "V"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--worker", choices=["inputs", "ihl", "ce"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker, args.shape, args.repeats)
        return
    base, _ = measure("inputs", args.shape, args.repeats)
    ce_mem, ce_t = measure("ce", args.shape, args.repeats)
    ihl_mem, ihl_t = measure("ihl", args.shape, args.repeats)
    print(f"shape {tuple(args.shape)} fp32; inputs + gradient buffer only: peak {base:.0f} MiB")
    print(f"{'loss':<6}{'peak MiB':>10}{'above inputs':>14}{'fwd+bwd s':>11}")
    for name, mem, t in (("CE", ce_mem, ce_t), ("IHL", ihl_mem, ihl_t)):
        print(f"{name:<6}{mem:>10.0f}{mem - base:>14.0f}{t:>11.3f}")
    print(
        f"ratio IHL/CE: peak memory {ihl_mem / ce_mem:.2f}  (above inputs {(ihl_mem - base) / (ce_mem - base):.2f})"
        f"  time {ihl_t / ce_t:.2f}"
    )


if __name__ == "__main__":
    main()
