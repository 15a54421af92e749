"""Recorded results: a chapter's run records saved with their provenance, read back anywhere.

Some results cost hours (the ``real`` profile's Table 1 on SmolLM2).  The chapter that
computes them calls :func:`save`, which writes one JSON file (records, no weights) under the
repository's ``results/`` folder with where and how it was made: commit, command, machine,
date, the compute time of its records, and each record's code digest (the digests of the
modules that computed it, :mod:`unlearnkit.store.codehash`).  The default book reads it back with
:func:`load` and shows it *as recorded*; :meth:`Recorded.stale` compares every record's code
digests with the current code's and names the modules that changed since, so a result whose
code has moved on is labelled stale instead of being presented as current.

This module reads and writes files; :func:`spot_check` recomputes one record through
:func:`unlearnkit.experiments.runs.run` (from the cache when this machine has it).
"""

from __future__ import annotations

import json
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

from ..store import codehash, origin, results
from ..store.cache import write_json_atomic
from ..store.records import RunRecord

ROOT = Path(__file__).resolve().parents[2]
FORMAT = 1


def results_root() -> Path:
    """The recorded-results folder: ``$UNLEARNKIT_RESULTS`` if set (the tests use a temporary
    one), else the repository's ``results/``."""
    return results.repository_results()


def _dicts(records) -> list[dict]:
    return [r.to_dict() if isinstance(r, RunRecord) else dict(r) for r in records]


def _flat(groups: dict):
    """Every record of ``{label: [records]}`` or ``{section: {label: [records]}}``."""
    for v in groups.values():
        for recs in v.values() if isinstance(v, dict) else [v]:
            yield from recs


def distinct(records) -> list:
    """``records`` without repeats: a run shown in two sections (GA in Table 1 and again beside
    the LoRA methods at another rate) is one run, identified by its spec (else its whole record)."""
    seen, out = set(), []
    for r in records:
        d = r.to_dict() if isinstance(r, RunRecord) else dict(r)
        key = json.dumps(d.get("spec") or d, sort_keys=True, default=str)
        if key not in seen:
            seen.add(key)
            out.append(r)
    return out


def save(name: str, *, groups: dict, extra: dict | None = None, command: str = "", root: Path | None = None) -> Path:
    """Write ``results/<name>.json``: ``groups`` (``{label: [RunRecord]}``, or
    ``{section: {label: [RunRecord]}}``), ``extra`` (JSON-able: the model before unlearning,
    references, parameters) and the provenance.  Atomic: an interrupted write leaves the
    previous file whole."""
    nested = {
        k: {kk: _dicts(vv) for kk, vv in v.items()} if isinstance(v, dict) else _dicts(v) for k, v in groups.items()
    }
    flat = list(_flat(groups))
    runs = distinct(flat)
    seconds = sum((r.seconds if isinstance(r, RunRecord) else r.get("seconds")) or 0.0 for r in runs)
    provenance = {
        "commit": origin.commit(ROOT, ignore=("results/",)),  # +dirty: code changed since the commit
        "command": command,
        "machine": origin.machine(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "compute_seconds": seconds,  # of the distinct runs: a run shown in two sections counts once
        "records": len(runs),
        "entries": len(flat),
    }
    path = (root or results_root()) / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    write_json_atomic(path, {"format": FORMAT, "provenance": provenance, "groups": nested, "extra": extra or {}})
    return path


@dataclass
class Recorded:
    """A recorded result read back: its groups of :class:`RunRecord`, extras and provenance."""

    path: Path
    provenance: dict
    groups: dict  # {label: [RunRecord]} or {section: {label: [RunRecord]}}
    extra: dict
    _stale: dict | None = field(default=None, repr=False)

    def section(self, name: str | None = None) -> dict[str, list[RunRecord]]:
        """The ``{label: [RunRecord]}`` of a nested section (``None``: the top level)."""
        return self.groups if name is None else self.groups.get(name, {})

    def records(self) -> list[RunRecord]:
        return list(_flat(self.groups))

    def stale(self) -> dict[str, list[str]]:
        """``{module: [records' forget sets…]}``: the modules whose code differs now from the
        code that computed a record (empty: every record is current)."""
        if self._stale is None:
            out: dict[str, list[str]] = {}
            for r in self.records():
                old = (r.code or {}).get("modules") or {}
                if not old:
                    out.setdefault("(no code digest recorded)", []).append(r.forget_set)
                    continue
                for m, digest in old.items():
                    try:
                        same = codehash.module_digests(m)[m] == digest
                    except ValueError:  # moved or removed: named as such
                        m, same = f"{m} (moved or removed)", False
                    if not same:
                        out.setdefault(m, []).append(r.forget_set)
            self._stale = out
        return self._stale

    def label(self) -> str:
        """One line for the book: recorded where and when, and current or stale (naming what changed)."""
        p = self.provenance
        head = (
            f"Recorded results ({self.path.name}): {p.get('records')} runs computed at commit "
            f"{p.get('commit') or '?'} on {p.get('date')} ({p.get('machine')}), "
            f"{(p.get('compute_seconds') or 0) / 3600:.1f} h of compute, by `{p.get('command') or '?'}`."
        )
        changed = self.stale()
        if not changed:
            return head + " Current: the code that computed every record is unchanged."
        return (
            head + f" STALE: the code changed since in {', '.join(sorted(changed))}; these numbers are "
            "what that earlier code computed, not what the current code would."
        )


def table_order(labels) -> list[str]:
    """``labels`` with Table 1's rows first, in the paper's order (the file stores them sorted),
    then the others (PiSSA + IHL, sections) in their stored order."""
    from ..methods import TABLE1

    rows = list(TABLE1)
    return sorted(labels, key=lambda k: rows.index(k) if k in rows else len(rows))


def load(name_or_path: str | Path, root: Path | None = None) -> Recorded | None:
    """Read ``results/<name>.json`` (or a path); ``None`` when there is no such file."""
    path = Path(name_or_path)
    if path.suffix != ".json":
        path = (root or results_root()) / f"{name_or_path}.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if data.get("format") != FORMAT:
        raise ValueError(f"{path}: recorded-results format {data.get('format')!r}, this unlearnkit reads {FORMAT}")

    def read(v):
        if isinstance(v, dict):
            return {k: read(v[k]) for k in table_order(v)}
        return [RunRecord.from_dict(r, source=f"{path}") for r in v]

    return Recorded(path, data["provenance"], read(data["groups"]), data.get("extra", {}))


def spec_of(record: RunRecord):
    """The :class:`~unlearnkit.experiments.runs.RunSpec` a run record was made from."""
    import dataclasses

    from .runs import RunSpec

    names = {f.name for f in dataclasses.fields(RunSpec)}
    spec = {k: v for k, v in (record.spec or {}).items() if k in names}
    if "targets" in spec:
        spec["targets"] = tuple(spec["targets"])
    return RunSpec(**spec)


def record_spot_check(name: str, spec, command: str = "", root: Path | None = None) -> Path:
    """Compute ``spec`` (a :class:`~.runs.RunSpec`) and write it alone as ``results/<name>.json``
    (section ``spot check``), the record a cheaper build recomputes with :func:`spot_check`."""
    from .runs import run

    record = run(spec, progress=False)
    return save(name, groups={"spot check": {_label(spec): [record]}}, command=command, root=root)


def _label(spec) -> str:
    """A spec's Table 1 label where it has one (``GA``, ``+ FILA`` …), else its method name."""
    from .. import methods

    return next(
        (label for label, m in methods.TABLE1.items() if (m.objective, m.lora_init) == (spec.method, spec.lora_init)),
        spec.method,
    )


SPOT_FIELDS = ("status", "epochs", "final_ma", "final_el", "pile_ppl", "reasoning", "dialogue")


def spot_check(record: RunRecord, rel_tol: float = 1e-3):
    """Recompute ``record`` from its spec here and compare: one row per field (recorded, now,
    whether they agree: exactly for status and epochs, within ``rel_tol`` for the rest), and a
    last row with the verdict ("reproduced" or what differed)."""
    import math

    import pandas as pd

    from .runs import run

    spec = spec_of(record)
    with results.local_only():  # recomputed here (or from this machine's cache), never read back
        now = run(spec, progress=False)
    rows = []
    for name in SPOT_FIELDS:
        a, b = getattr(record, name), getattr(now, name)
        if isinstance(a, float) and isinstance(b, float):
            same = math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-9)
        else:
            same = a == b
        rows.append({"field": name, "recorded": a, "recomputed here": b, "agrees": same})
    differ = [r["field"] for r in rows if not r["agrees"]]
    rows.append(
        {
            "field": f"{spec.method} on {record.forget_set}",
            "recorded": (record.code or {}).get("digest"),
            "recomputed here": (now.code or {}).get("digest"),
            "agrees": not differ,
        }
    )
    table = pd.DataFrame(rows).set_index("field")
    table.attrs["verdict"] = "reproduced" if not differ else f"differs in {', '.join(differ)}"
    return table
