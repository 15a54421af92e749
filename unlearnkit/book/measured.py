"""Measured figures: records written by the commands that measure, and the page made from them.

Every figure the project quotes about itself (test-suite and build times, benchmark ratios,
chapter times) is a JSON record in ``measurements/``, written by the command that measured it
(:func:`record`) with that command, the commit it ran at, the date and the machine.
``python -m unlearnkit.book.measured page`` (``make measured``) turns the records into
``book/measured.md``, the book's "Measured" page; nobody types a figure there, and a test
checks that the committed page is what the records give.

Writers: ``python -m unlearnkit.book.measured run NAME -- COMMAND…`` times any command and
keeps its last pytest summary line (``make test`` measured this way); the benchmark scripts in
``benchmarks/``; and every ``make book`` (chapter times of its profile).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import subprocess
import sys
import time
from pathlib import Path

from ..store import origin
from ..store.cache import write_json_atomic

ROOT = Path(__file__).resolve().parents[2]
FOLDER = "measurements"
PAGE = "book/measured.md"


def record(name: str, figures: dict[str, object], command: str, *, notes: str = "", root: Path = ROOT) -> Path:
    """Write ``measurements/<name>.json``: ``figures`` (label -> value) with the command that
    measured them, the commit, the date and the machine, and regenerate the page.  Returns the path."""
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", name):
        raise ValueError(f"measurement name {name!r}: use letters, digits, '.', '_' and '-' only")
    path = root / FOLDER / f"{name}.json"
    write_json_atomic(
        path,
        {
            "name": name,
            "figures": figures,
            "command": command,
            "commit": origin.commit(root, ignore=(FOLDER + "/", PAGE)),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": origin.machine(),
            "python": platform.python_version(),
            "notes": notes,
        },
    )
    write_page(root)  # the page never lags its records
    return path


SUMMARY = re.compile(r"=+ (.*\d+ (?:passed|failed|error).*?) in ([\d.]+)s")


def _minutes(seconds: float) -> str:
    return f"{seconds / 60:.1f} min ({seconds:.0f} s)"


def run_and_record(name: str, command: list[str], root: Path = ROOT, notes: str = "") -> int:
    """Run ``command``, stream its output, record its wall time, exit status and (for pytest)
    its summary line as measurement ``name``, and regenerate the page.  Returns the command's
    exit status."""
    if not command:
        raise ValueError("give the command to measure after '--'")
    start = time.perf_counter()
    proc = subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    summary = pytest_seconds = None
    for line in proc.stdout:
        sys.stdout.write(line)
        match = SUMMARY.search(line)
        if match:
            summary, pytest_seconds = match.group(1), float(match.group(2))
    code = proc.wait()
    seconds = time.perf_counter() - start
    figures = {"wall time": _minutes(seconds), "exit status": code}
    if summary:
        figures["tests"] = summary
        figures["pytest time"] = _minutes(pytest_seconds)
    record(name, figures, " ".join(command), notes=notes, root=root)
    return code


def _cell(value: object) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def page(root: Path = ROOT) -> str:
    """The Markdown of the "Measured" page from every record in ``measurements/``."""
    records = [json.loads(p.read_text()) for p in sorted((root / FOLDER).glob("*.json"))]
    lines = [
        "# Measured",
        "",
        "Every figure on this page was written by the command that measured it, into a JSON record",
        f"in `{FOLDER}/`; `make measured` regenerates this page from those records",
        "(`unlearnkit.book.measured`). None is typed by hand. A commit ending in `+dirty` ran with",
        "uncommitted changes.",
        "",
    ]
    if not records:
        lines += ["No measurements are recorded yet.", ""]
    for rec in records:
        lines += [
            f"## {rec['name']}",
            "",
            f"Command: `{rec['command']}`  ",
            f"Commit {rec['commit']}, {rec['date']}, on {rec['machine']} (Python {rec['python']}).",
            "",
        ]
        if rec.get("notes"):
            lines += [rec["notes"], ""]
        lines += ["| figure | value |", "|---|---|"]
        lines += [f"| {_cell(k)} | {_cell(v)} |" for k, v in rec["figures"].items()]
        lines.append("")
    return "\n".join(lines)


def write_page(root: Path = ROOT) -> Path:
    path = root / PAGE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page(root))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("page", help=f"regenerate {PAGE} from {FOLDER}/*.json")
    run = sub.add_parser("run", help="run a command and record its wall time (and pytest summary)")
    run.add_argument("name", help=f"the record's name ({FOLDER}/<name>.json)")
    run.add_argument("--notes", default="", help="what a reader should know about the conditions of the run")
    run.add_argument("cmd", nargs=argparse.REMAINDER, help="-- the command")
    args = parser.parse_args(argv)
    if args.command == "page":
        print(f"wrote {write_page()}")
        return 0
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    return run_and_record(args.name, cmd, notes=args.notes)


if __name__ == "__main__":
    sys.exit(main())
