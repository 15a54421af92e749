"""Benchmark: the book built cold, each chapter's seconds and where the time goes.

Builds the book on a profile (default ``cpu``, what ``make book`` builds) with an empty cache
(a fresh ``$UNLEARNKIT_CACHE``: testbeds, injected models, run records, downstream scores all
recomputed, as on a reader's new machine, except the records committed in ``results/*/records``
whose code is the build's: a fresh clone reads those, as a reader's does) and prints:

* each chapter's seconds (from the build's ``_timings.json``) and the total wall time;
* the share of each stage, read from what the build left in the cache: model builds (the
  testbed and injected models, from their build reports), unlearning runs split into set-up
  (LoRA/FILA), training steps, criterion checks (MA/EL after every epoch) and downstream
  evaluation of the unlearned model (a record's compute time minus its run), and the rest
  (every other evaluation, figures, rendering: the wall time left over);
* how many unlearning runs were read from committed records and how many computed;
* the peak resident set of the largest process of the build (``RUSAGE_CHILDREN``: the
  builder or one chapter's kernel, whichever peaked higher).

Hours on the ``cpu`` profile: run it alone on the machine (a second torch job on 2 cores
slows both by an order of magnitude).  ``--record`` writes ``measurements/book-cold-<profile>.json``
and regenerates the Measured page.

    python benchmarks/bench_book.py                     # the default book, cold
    python benchmarks/bench_book.py --profile smoke     # the same on the smoke profile (minutes)
    python benchmarks/bench_book.py --record
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def recorded_names(kind: str = "unlearn") -> set[str]:
    """The names of the records of ``kind`` committed under ``results/*/records`` (read, not computed,
    by a build whose code is theirs)."""
    return {p.name for p in (ROOT / "results").glob(f"*/records/{kind}/*.json")}


def stage_seconds(cache: Path) -> dict[str, float]:
    """Seconds per stage, summed over what a build computed under ``cache`` (a run read from the
    repository's committed records is copied into the cache, but its seconds were spent elsewhere:
    left out, and counted by :func:`run_counts`)."""
    stages = {"model builds": 0.0, "LoRA/FILA set-up": 0.0, "training": 0.0, "criterion checks": 0.0}
    stages["downstream evaluation of runs"] = 0.0
    committed = recorded_names()
    for info in cache.glob("testbed/*/testbed.json"):
        stages["model builds"] += float(json.loads(info.read_text()).get("build_seconds") or 0.0)
    for report in cache.glob("injected/*/report.json"):
        stages["model builds"] += float(json.loads(report.read_text()).get("seconds") or 0.0)
    for path in (cache / "results" / "unlearn").glob("*.json"):
        if path.name in committed:
            continue
        try:
            rec = json.loads(path.read_text())
        except json.JSONDecodeError:
            continue
        stages["LoRA/FILA set-up"] += rec.get("setup_seconds") or 0.0
        stages["training"] += rec.get("train_seconds") or 0.0
        stages["criterion checks"] += rec.get("eval_seconds") or 0.0
        stages["downstream evaluation of runs"] += max(
            0.0, (rec.get("seconds") or 0.0) - (rec.get("wall_seconds") or 0.0)
        )
    return stages


def run_counts(cache: Path) -> dict[str, int]:
    """Unlearning runs the build used: read from committed records, and computed."""
    used = {p.name for p in (cache / "results" / "unlearn").glob("*.json")}
    read = len(used & recorded_names())
    return {"unlearning runs read from committed records": read, "unlearning runs computed": len(used) - read}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="cpu")
    parser.add_argument("--keep-cache", action="store_true", help="leave the cold cache folder in place")
    parser.add_argument("--record", action="store_true", help="write the figures to measurements/")
    args = parser.parse_args(argv)
    cache = Path(tempfile.mkdtemp(prefix="unlearnkit-cold-"))
    env = os.environ | {"UNLEARNKIT_CACHE": str(cache)}
    print(f"[bench_book] building the {args.profile!r} book with an empty cache at {cache}", flush=True)
    start = time.perf_counter()
    code = subprocess.call([sys.executable, "-m", "unlearnkit.book", "--profile", args.profile], cwd=ROOT, env=env)
    wall = time.perf_counter() - start
    peak_gb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 2**20
    if code != 0:
        raise SystemExit(f"the build failed (exit {code}) after {wall / 60:.1f} min; cache kept at {cache}")
    timings = json.loads((ROOT / "_build" / "src" / "book" / "_timings.json").read_text())["seconds"]
    print(f"\n{'chapter':<28}{'seconds':>9}{'share':>8}")
    for name, seconds in sorted(timings.items(), key=lambda kv: -kv[1]):
        print(f"{Path(name).name:<28}{seconds:>9.0f}{seconds / wall:>8.0%}")
    stages = stage_seconds(cache)
    stages["everything else (other evaluations, figures, rendering)"] = max(0.0, wall - sum(stages.values()))
    print(f"\n{'stage':<58}{'seconds':>9}{'share':>8}")
    for name, seconds in stages.items():
        print(f"{name:<58}{seconds:>9.0f}{seconds / wall:>8.0%}")
    counts = run_counts(cache)
    print("\n" + "; ".join(f"{n}: {c}" for n, c in counts.items()))
    print(f"\ntotal {wall / 60:.1f} min, peak RSS of the largest process {peak_gb:.1f} GB")
    if args.record:
        sys.path.insert(0, str(ROOT))
        from unlearnkit.book import measured

        figures = {
            "wall time, cold": f"{wall / 60:.1f} min ({wall:.0f} s)",
            "peak RSS, largest process": f"{peak_gb:.1f} GB",
        }
        figures |= {f"chapter {Path(n).name} (s)": round(s) for n, s in timings.items()}
        figures |= {f"stage: {n} (s)": round(s) for n, s in stages.items()}
        figures |= counts
        measured.record(
            f"book-cold-{args.profile}",
            figures,
            f"python benchmarks/bench_book.py --profile {args.profile} --record",
            notes=(
                "empty UNLEARNKIT_CACHE; runs whose committed record (results/*/records) has the build's"
                " code are read, not computed; stages read from the build's cache; run alone on the machine"
            ),
        )
    if not args.keep_cache:
        import shutil

        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
