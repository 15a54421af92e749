"""Benchmark: how long the path of one run spec is through the library, traced, not read.

Runs one unlearning run (``experiments.runs.run``) on the smoke testbed, computed afresh in a
temporary cache, with a profiler hook on every Python call, and prints:

* the ``unlearnkit`` modules whose functions the run called (the modules it *visits*, against
  the import closure of ``experiments.runs``, which also counts what it only imports);
* the hand-offs: distinct (caller function, callee function) pairs where the caller and the
  callee live in different ``unlearnkit`` modules (a call from a module into itself, or into
  torch, transformers or peft, is no hand-off);
* the hand-offs per pair of modules, so a long way can be seen and cut.

The count is a property of the code, not of the machine: run it on two commits to compare
(``git worktree add`` the older one).  ``--json PATH`` writes the figures.

    python benchmarks/run_path.py
    python benchmarks/run_path.py --method ihl --lora-init fila
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import sys
import tempfile
from pathlib import Path

PACKAGE = "unlearnkit"
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's library, not an installed one


def _module_of(frame) -> str | None:
    name = frame.f_globals.get("__name__", "")
    return name if name == PACKAGE or name.startswith(PACKAGE + ".") else None


def trace(call):
    """Call ``call()`` under a profile hook; return (modules visited, hand-off pairs)."""
    visited: set[str] = set()
    pairs: set[tuple[str, str]] = set()

    def hook(frame, event, _arg):
        if event != "call":
            return
        callee = _module_of(frame)
        if callee is None:
            return
        visited.add(callee)
        caller_frame = frame.f_back
        # the nearest unlearnkit caller (library frames in between: a callback through torch)
        while caller_frame is not None and _module_of(caller_frame) is None:
            caller_frame = caller_frame.f_back
        if caller_frame is None:
            return
        caller = _module_of(caller_frame)
        if caller != callee:
            pairs.add((f"{caller}.{caller_frame.f_code.co_name}", f"{callee}.{frame.f_code.co_name}"))

    sys.setprofile(hook)
    try:
        call()
    finally:
        sys.setprofile(None)
    return visited, pairs


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="ga")
    parser.add_argument("--lora-init", default=None)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="run-path-") as tmp:
        os.environ["UNLEARNKIT_CACHE"] = os.environ.get("UNLEARNKIT_CACHE") or str(Path(tmp) / "cache")
        os.environ["UNLEARNKIT_RESULTS"] = str(Path(tmp) / "results")  # never read a committed record
        from unlearnkit import experiments, models

        try:
            from unlearnkit.store import codehash
        except ImportError:  # commits before the storage modules moved into unlearnkit.store
            from unlearnkit import codehash

        models.load("testbed:smoke")  # built before the trace: the path of a run, not of a build
        spec = experiments.RunSpec(
            model_name="testbed:smoke",
            draw=0,
            method=args.method,
            lora_init=args.lora_init,
            rank=4,
            lr=1e-3,
            max_epochs=1,
            retain_rows=8,
            downstream=None,
            forget_rows=8,
            thresholds="jang",
            seed=int.from_bytes(os.urandom(2), "little"),  # a new seed: computed, never a cache hit
        )
        visited, pairs = trace(lambda: experiments.run(spec, progress=False))
        closure = codehash.module_digests("unlearnkit.experiments.runs")

    by_modules = collections.Counter((a.rsplit(".", 1)[0], b.rsplit(".", 1)[0]) for a, b in pairs)
    print(f"run path of {spec.method} ({spec.lora_init or 'no adapter'}) on testbed:smoke")
    print(f"  modules visited: {len(visited)} (import closure of experiments.runs: {len(closure)})")
    print(f"  hand-offs (distinct cross-module function calls): {len(pairs)}")
    for (a, b), n in sorted(by_modules.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"    {n:3d}  {a} -> {b}")
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "modules visited": sorted(visited),
                    "hand-offs": sorted(map(list, pairs)),
                    "import closure": len(closure),
                },
                indent=1,
            )
        )


if __name__ == "__main__":
    main()
