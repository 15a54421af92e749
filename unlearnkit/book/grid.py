"""Plan, run and report on a chapter's grid of runs, unattended and resumable: the long-grid command.

    python -m unlearnkit.book.grid plan   --profile cpu-full --chapter table1
    python -m unlearnkit.book.grid run    --profile cpu-full --chapter table1 --budget 2h
    python -m unlearnkit.book.grid status --profile cpu-full --chapter table1
    python -m unlearnkit.book.grid measure --profile cpu-full --chapter table1   # onto the Measured page

Chapters with a grid: ``table1``, ``module_sweep``, ``rank_sweep``, ``capability`` (its pilot),
``robustness`` (the runs it attacks, then the attacks unit by unit: :func:`attack`).  :func:`assemble` reads a
chapter's recorded runs back as the chapter groups them (computing no run: only the probe of the
model before unlearning when it is not recorded, a second), with the verdicts
the chapter would draw from them: how the introduction shows a long profile's results.

The runs are the chapter's own (:mod:`unlearnkit.experiments.grids`, from the notebook's
parameter defaults and the profile's values, exactly what the chapter would run), one unit of
every arm before the next unit.  Each run is in one of four states: ``recorded`` (its record is
in the repository's ``results/<profile>/records``, under its key: settings and code digest),
``cached`` (on this machine only), ``stale`` (recorded, but by code that has changed since: the
plan names the modules) or ``missing``.  ``run`` first computes the chapter's baseline (the
model's thresholds and scores before unlearning, recorded like the runs), then the missing runs
in order (and the stale ones with ``--rerun-stale``: each recomputed run replaces its stale
record, and the log says so), each recorded the moment it ends (profiles with
``record_runs: true``; commit them as they land), prints each run's time and an estimate of what is left, and stops cleanly before the
next run would pass ``--budget``; run it again, here or on a fresh clone, and it starts where it
stopped.  The log also goes to ``_build/grid-<profile>-<chapter>.log``.

Why not a workflow engine: every run is already a file target keyed by its settings and code
(:mod:`unlearnkit.store.results`), which is what Snakemake would track; what is left is a loop
in a chosen order with a budget, a few dozen lines, so the glue would be larger than the loop.
A cluster runs the same specs through :mod:`unlearnkit.experiments.dispatch` (submitit).
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from .build import ROOT, _record_runs, chapter_parameters, load_profile

STATES = ("recorded", "cached", "stale", "missing")


def chapter_params(profile_name: str, chapter: str, root: Path = ROOT) -> dict:
    """The chapter's parameters as the book would execute it: the notebook's defaults, then the
    profile's ``all`` and chapter sections (only names the notebook declares)."""
    import papermill

    src = root / "book" / f"{chapter}.ipynb"
    if not src.is_file():
        known = sorted(p.stem for p in (root / "book").glob("*.ipynb"))
        raise FileNotFoundError(f"unknown chapter {chapter!r}: {src} does not exist (chapters: {known})")
    params = {}
    for name, info in papermill.inspect_notebook(str(src)).items():
        try:
            params[name] = ast.literal_eval(info["default"])
        except (ValueError, SyntaxError):
            continue  # an expression default: not a grid setting
    profile = load_profile(profile_name, root) | {"name": profile_name}
    return params | {k: v for k, v in chapter_parameters(profile, chapter).items() if k in params}


def parse_budget(text: str | None) -> float | None:
    """``"2h"``, ``"90m"``, ``"45s"`` or plain seconds -> seconds (None: no budget)."""
    if text is None:
        return None
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([hms]?)\s*", text)
    if not m:
        raise ValueError(f"--budget {text!r}: give a duration such as 2h, 90m, 45s or 3600")
    return float(m.group(1)) * {"h": 3600, "m": 60, "s": 1, "": 1}[m.group(2)]


@dataclass
class Entry:
    """One run of the grid and its state."""

    spec: object
    name: str  # the record's file name (its key)
    state: str
    seconds: float | None = None  # the recorded compute time (recorded, cached, stale)
    changed: list[str] = field(default_factory=list)  # stale: the modules whose code changed
    record: Path | None = None  # the repository's record file (recorded and stale)

    @property
    def label(self) -> str:
        from .. import methods

        s = self.spec
        name = next(
            (n for n, m in methods.METHODS.items() if m.objective == s.method and m.lora_init == s.lora_init),
            s.method,
        )
        arm = name + (f" (rank {s.rank})" if s.lora_init else "")
        return f"{arm} at lr {s.lr:g}, set {s.draw} part {s.part}"


def _without_code(config: dict) -> str:
    """A run's settings without anything code decides: the code digest, and the model's recipe
    hash inside its key (``testbed:default@<hash>|float32|cpu``), which moves with the model's code."""
    out = {k: v for k, v in config.items() if k != "code"}
    if isinstance(out.get("model_key"), str):
        out["model_key"] = re.sub(r"@[0-9a-f]+", "@", out["model_key"])
    return json.dumps(out, sort_keys=True, default=str)


def model_key(model_name: str) -> str:
    """The key of ``model_name`` as :func:`runs.load` gives it, without building an injected
    model that is not cached yet (:func:`unlearnkit.models.keys.key_of`).  Any other model is
    loaded once per process by :func:`runs.load`, so the runs after a survey reuse it."""
    from ..experiments import runs
    from ..models import injection, keys

    if model_name in runs._LOADED or injection.parse_name(model_name) is None:
        return runs.load(model_name).key
    return keys.key_of(model_name)


def survey(specs: list, log=print) -> list[Entry]:
    """The state of every spec (each model's key from :func:`model_key`: a testbed not yet
    built on this machine is built here, and says so; an injected model needs only its base)."""
    from ..experiments import runs
    from ..store import codehash, results

    by_config: dict[str, list[tuple[Path, dict]]] = {}
    root = results.repository_results()
    for path in sorted(root.glob("*/records/unlearn/*.json")) if root.is_dir() else []:
        try:
            rec = json.loads(path.read_text())
        except (json.JSONDecodeError, UnicodeDecodeError):
            continue  # read, named and set aside when a run asks for it
        by_config.setdefault(_without_code(rec.get("cache_config") or {}), []).append((path, rec))
    now = codehash.module_digests(runs.CODE)
    keys, out = {}, []
    for spec in specs:
        if spec.model_name not in keys:
            log(f"[grid] the key of {spec.model_name} (a testbed is built on first use)")
            keys[spec.model_name] = model_key(spec.model_name)
        config = runs.cache_config(spec, SimpleNamespace(key=keys[spec.model_name]))  # the key is all it reads
        path = results.record_path("unlearn", config, runs.CODE)
        recorded = by_config.get(_without_code(results.keyed(config, runs.CODE)), [])
        current = [(f, r) for f, r in recorded if f.name == path.name]
        if current:
            out.append(Entry(spec, path.name, "recorded", current[0][1].get("seconds"), record=current[0][0]))
        elif path.is_file():
            out.append(Entry(spec, path.name, "cached", json.loads(path.read_text()).get("seconds")))
        elif recorded:
            file, old = recorded[-1]
            changed = codehash.changed((old.get("code") or {}).get("modules") or {}, now)
            out.append(Entry(spec, path.name, "stale", old.get("seconds"), changed, record=file))
        else:
            out.append(Entry(spec, path.name, "missing"))
    return out


def model_builds(specs: list) -> list[str]:
    """One line per model the grid needs: what its build cost where it was built (a testbed's
    pretraining, an injection's fine-tuning; read from the build's own record), or that it
    loads as it is.  A fresh machine pays these once before the first run."""
    from ..experiments import runs
    from ..models import injection, keys

    out = []
    for name in dict.fromkeys(s.model_name for s in specs):
        injected = injection.parse_name(name)
        if injected is not None and name not in runs._LOADED:  # read the cached report; never inject here
            report = keys.cached_report(runs.load(injected[0]).key, injected[1])
            cost = (
                f"injection: {report['seconds'] / 60:.1f} min where it was built"
                if report and report.get("seconds")
                else "injection: not built on this machine yet (the first run builds it, then caches it)"
            )
            out.append(f"model {name}: {cost}")
            continue
        loaded = runs.load(name)
        if loaded.testbed is not None:
            seconds = loaded.testbed.info.get("build_seconds")
            what = "testbed pretraining"
        elif loaded.injection is not None:
            seconds, what = loaded.injection.get("seconds"), "injection"
        else:
            seconds, what = None, "loaded as it is"
        cost = f"{what}: {seconds / 60:.1f} min where it was built" if seconds else what
        out.append(f"model {name}: {cost}")
    return out


def _estimate(entries: list[Entry]) -> float | None:
    times = [e.seconds for e in entries if e.seconds]
    return sum(times) / len(times) if times else None


def _hours(seconds: float | None) -> str:
    """A duration as a reader wants it: seconds under two minutes, minutes under two hours, else hours."""
    if seconds is None:
        return "unknown"
    if seconds < 120:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.0f} min" if seconds < 7200 else f"{seconds / 3600:.1f} h"


def plan(entries: list[Entry]) -> str:
    """One line per run (state, label, key, and for a stale one the modules that changed), then the counts."""
    lines = []
    for i, e in enumerate(entries, 1):
        extra = f"  (code changed: {', '.join(e.changed)})" if e.changed else ""
        lines.append(f"{i:>4} {e.state:<9} {e.label}  {e.name}{extra}")
    return "\n".join(lines + [status(entries)])


def status(entries: list[Entry]) -> str:
    """Counts per state and the compute left (stale and missing runs at the mean recorded time)."""
    counts = {s: sum(e.state == s for e in entries) for s in STATES}
    todo = counts["stale"] + counts["missing"]  # the stale ones with --rerun-stale
    each = _estimate(entries)
    left = None if each is None else todo * each
    parts = ", ".join(f"{counts[s]} {s}" for s in STATES)
    return f"{len(entries)} runs: {parts}; to compute: {todo} (about {_hours(left)} at {_hours(each)} each)"


def _todo(entries: list[Entry], rerun_stale: bool) -> list[Entry]:
    """The runs a ``run`` computes: the missing ones, and the stale ones with ``rerun_stale``."""
    return [e for e in entries if e.state == "missing" or (rerun_stale and e.state == "stale")]


def _replace_stale(e: Entry, log) -> None:
    """Remove ``e``'s stale record once its recomputed record is in the records folder."""
    from ..store import results

    new = results.records_dir() / "unlearn" / e.name if results.records_dir() else None
    if e.state == "stale" and e.record is not None and new is not None and new.is_file() and new != e.record:
        e.record.unlink()
        log(f"[grid] replaced the stale record {e.record.name} by {e.name}")


def run_elsewhere(entries: list[Entry], backend: str, log=print, rerun_stale: bool = False, slurm=None) -> int:
    """Hand the missing runs (and the stale ones with ``rerun_stale``) to ``backend`` of
    :func:`unlearnkit.experiments.dispatch.run_specs` at once (``submitit``: one SLURM job array,
    ``slurm`` its parameters; ``processes``: local workers); the records land where an inline run
    puts them.  No budget: the cluster's own limits apply.  Returns how many ran."""
    from ..experiments import dispatch

    todo = _todo(entries, rerun_stale)
    if not todo:
        log("[grid] nothing to compute")
        return 0
    log(f"[grid] {len(todo)} runs to backend {backend!r} as one batch")
    t0 = time.perf_counter()
    dispatch.run_specs([e.spec for e in todo], backend=backend, slurm=slurm, progress=False)
    for e in todo:
        _replace_stale(e, log)
    log(f"[grid] done: {len(todo)} runs in {_hours(time.perf_counter() - t0)}")
    return len(todo)


def _within_budget(todo: list, work, budget: float | None, log, name, done, first_guess: float = 0.0) -> int:
    """Call ``work(item)`` on each of ``todo`` in order, stopping before one would pass ``budget``
    seconds (each estimated as the mean of this call's, else ``first_guess``); ``name(i, item)``
    names the next item in the stop message, ``done(i, item, seconds)`` starts each item's log line,
    which ends with the time left.  The grid's one budget loop (runs and attacks).  Returns how many ran."""
    start, took = time.perf_counter(), []
    for i, item in enumerate(todo, 1):
        each = sum(took) / len(took) if took else first_guess
        elapsed = time.perf_counter() - start
        if budget is not None and elapsed + each > budget:
            log(
                f"[grid] stopping before {name(i, item)}: {elapsed:.0f} s spent, the next needs about "
                f"{each:.0f} s and the budget is {budget:.0f} s; run again to continue"
            )
            return len(took)
        t0 = time.perf_counter()
        work(item)
        took.append(time.perf_counter() - t0)
        left = (len(todo) - i) * (sum(took) / len(took))
        log(f"{done(i, item, took[-1])}; about {_hours(left)} left")
    return len(took)


def run(entries: list[Entry], budget: float | None = None, log=print, rerun_stale: bool = False) -> int:
    """Compute the missing runs (and the stale ones with ``rerun_stale``) in order; stop before
    one would pass ``budget`` seconds (estimated from this call's runs, else the recorded ones).
    A recomputed stale run's old record is removed once the new one is recorded (logged).
    Returns how many ran."""
    from ..experiments import runs

    todo = _todo(entries, rerun_stale)
    start = time.perf_counter()

    def work(e: Entry) -> None:
        runs.run(e.spec, progress=False)
        _replace_stale(e, log)

    ran = _within_budget(
        todo,
        work,
        budget,
        log,
        name=lambda i, e: f"run {i}/{len(todo)}",
        done=lambda i, e, sec: f"[grid] {i}/{len(todo)} {e.label}: {sec:.0f} s ({e.name})",
        first_guess=_estimate(entries) or 0.0,
    )
    if ran == len(todo):
        log(f"[grid] done: {ran} runs in {_hours(time.perf_counter() - start)}")
    return ran


def _audit_unit(params: dict, specs: dict, unit: tuple[int, int], **options):
    """:func:`robustness.audit` of ``unit``'s runs of ``specs`` with the chapter's settings,
    controls and whole reference fold (``options``: ``key_of``); what :func:`attack` records
    and :func:`recorded_audit` reads back, so both key every attack alike."""
    from ..experiments import grids, robustness

    return robustness.audit(
        _one_unit(specs, unit),
        grids.audit_settings(params),
        reference=params["exact_reference"],
        reference_units=grids.reference_units(params),
        progress=False,
        attack_failed=params["attack_failed"],
        **options,
    )


def attack(params: dict, budget: float | None = None, log=print) -> int:
    """The robustness chapter's attacks, unit by unit, after its runs: :func:`robustness.audit`
    of one unit's runs at a time (its controls, the model before unlearning and, with
    ``exact_reference``, the exact reference built for all of ``exact_units`` at once, as the
    chapter builds it), then :func:`robustness.audit_at_budget` with ``budget_epochs``.  Every
    attack is recorded the moment it ends (profiles with ``record_runs``), so a stopped grid
    resumes at the next attack and an attacked unit costs a second when run again; stops before
    a unit would pass ``budget`` seconds (estimated from this call's units).  Returns the units
    attacked."""
    from ..experiments import grids, robustness

    specs = grids.sections("robustness", params)["audit"]
    todo = grids.audit_units(params)
    start = time.perf_counter()

    def work(unit: tuple[int, int]) -> None:
        _audit_unit(params, specs, unit)
        if params.get("budget_epochs"):  # the chapter's choice of runs attacked at the budget
            one = _one_unit(specs, unit)
            at_budget = {label: v for label, v in one.items() if " @ " in label} or one
            robustness.audit_at_budget(at_budget, params["budget_epochs"], grids.audit_settings(params), progress=False)

    ran = _within_budget(
        todo,
        work,
        budget,
        log,
        name=lambda i, u: f"attacking unit {u[0]}.{u[1]} ({i}/{len(todo)})",
        done=lambda i, u, sec: f"[grid] attacked unit {u[0]}.{u[1]} ({i}/{len(todo)}): {sec:.0f} s",
    )
    if ran == len(todo):
        log(f"[grid] attacks done: {ran} units in {_hours(time.perf_counter() - start)}")
    return ran


def _one_unit(specs: dict, unit: tuple[int, int]) -> dict:
    """``specs`` (``{arm: [RunSpec]}``) restricted to the runs on ``unit``, arms without one dropped."""
    one = {label: [s for s in v if (s.draw, s.part) == tuple(unit)] for label, v in specs.items()}
    return {label: v for label, v in one.items() if v}


@dataclass
class RecordedAudit:
    """A profile's robustness audit read back from the repository's records: ``audit`` on the
    units whose every attack is recorded (None when none is), and how far the grid got."""

    profile: str
    audit: object  # robustness.Audit | None
    units: list  # the units read back
    planned: int  # the units the profile's chapter attacks
    committed: str

    def label(self) -> str:
        return (
            f"{self.profile} robustness audit: {len(self.units)} of {self.planned} units recorded in every "
            f"attack, records committed at {self.committed}"
        )


def recorded_audit(profile_name: str) -> RecordedAudit:
    """``profile_name``'s robustness audit from the repository's records, computing nothing
    (inside :func:`~unlearnkit.store.results.read_only`; the exact references are keyed by
    :func:`unlearnkit.models.keys.key_of`, never built): one unit at a time, as :func:`attack`
    recorded it, and a unit with any attack not recorded is left out.  The model before
    unlearning is loaded (the attacks need its data: the testbed a default build has)."""
    import pandas as pd

    from ..experiments import grids, robustness
    from ..models import keys
    from ..store import origin, results

    params = chapter_params(profile_name, "robustness")
    specs = grids.sections("robustness", params)["audit"]
    planned = grids.audit_units(params)
    parts, done = [], []
    with results.read_only():
        for unit in planned:
            try:
                parts.append(_audit_unit(params, specs, unit, key_of=keys.key_of))
            except results.NotRecorded:
                continue
            done.append(unit)
    committed = origin.last_commit(results.repository_results() / profile_name / "records") or "not committed"
    if not parts:
        return RecordedAudit(profile_name, None, [], len(planned), committed)
    first = parts[0]
    merged = robustness.Audit(
        pd.concat([a.table for a in parts], ignore_index=True),
        pd.concat([a.weights for a in parts], ignore_index=True),
        first.settings,
        first.has_reference,
        sum(a.seconds for a in parts),
        list(specs),
        first.threshold_ma,
    )
    return RecordedAudit(profile_name, merged, done, len(planned), committed)


def attack_plan(params: dict) -> str:
    """What ``run`` attacks after the robustness chapter's runs, a line (attack records are
    keyed by each attacked model's weights, so their state is known only once the runs are)."""
    from ..experiments import grids

    specs = grids.sections("robustness", params)["audit"]
    units = grids.audit_units(params)
    controls = ["the model before unlearning"] + (["its exact reference"] if params["exact_reference"] else [])
    at_budget = f"; the runs again after {params['budget_epochs']} epochs" if params.get("budget_epochs") else ""
    return (
        f"then the attacks, unit by unit: {len(units)} units, each with {' and '.join(controls)} and "
        f"{len(specs)} unlearned models{at_budget} (each attack recorded as it ends; recorded ones are skipped)"
    )


def compute_baseline(chapter: str, params: dict, log=print) -> None:
    """The thresholds and scores before unlearning of every model the chapter unlearns (recorded
    like the runs; a minute each, once the model is built)."""
    from ..experiments import grids, probe, runs

    for before in grids.baselines(chapter, params):
        t0 = time.perf_counter()
        runs.before(**before)
        probe.before_probe(before["model_name"])  # where the runs' probe trajectories start
        log(
            f"[grid] baseline of {before['model_name']} (thresholds and scores before unlearning): "
            f"{time.perf_counter() - t0:.0f} s"
        )


@dataclass
class Assembled:
    """A chapter's grid read back from the repository's records (nothing computed): the runs
    grouped as the chapter groups them, the baseline, and where the records stand."""

    profile: str
    chapter: str
    params: dict  # the chapter's parameters on that profile
    sections: dict  # {section: {arm: [RunRecord]}}: recorded runs, current and stale
    before: dict | None  # None: the baseline is not recorded
    entries: list[Entry]
    committed: str  # the last commit that touched the profile's records ("not committed")
    # {model_name: before} of every model the grid unlearns (grids.baselines), those recorded;
    # ``before`` is the chapter's model's
    befores: dict = field(default_factory=dict)

    def recorded(self) -> list[Entry]:
        """The grid's runs with a record in the repository, current or stale."""
        return [e for e in self.entries if e.state in ("recorded", "stale")]

    @property
    def runs(self) -> int:
        """Distinct runs recorded (a run two sections share, e.g. Table 1's GD at the swept rate, once)."""
        return len(self.recorded())

    def compute_hours(self) -> float:
        return sum(e.seconds or 0.0 for e in self.recorded()) / 3600

    def stale_modules(self) -> list[str]:
        return sorted({m for e in self.entries if e.state == "stale" for m in e.changed})

    def label(self) -> str:
        stale = sum(e.state == "stale" for e in self.entries)
        complete = f"{self.complete_units()} units complete in every arm"
        if "confirmatory" in self.sections:  # the capability chapter: its pilot and its confirmatory grid apart
            complete = f"pilot: {complete}; confirmatory: {self.complete_units(['confirmatory'])}"
        text = (
            f"{self.profile} {self.chapter}: {self.runs} of {len(self.entries)} runs recorded "
            f"({complete}, the verdicts' n at most), "
            f"{self.compute_hours():.1f} compute hours, records committed at {self.committed}"
        )
        if stale:
            text += f"; {stale} STALE (code changed since: {', '.join(self.stale_modules())})"
        return text + ("" if self.before is not None else "; the baseline is not recorded")

    def verdict_rows(self, minimum_effects: dict | None = None) -> list[dict]:
        """The verdicts the chapter draws, from the recorded runs (empty when none is recorded);
        ``minimum_effects`` defaults to the profile's."""
        from ..experiments import ablation, claims

        sections = self.complete()
        if self.before is None or not sections:
            return []
        if self.chapter == "table1":
            mins = minimum_effects or self.params.get("minimum_effects")
            return claims.verdicts(sections["table1"], self.before, mins)
        if self.chapter == "module_sweep":
            return [ablation.module_verdict(sections["module_sweep"])]
        if self.chapter == "capability":
            return []  # a pilot chooses a regime (experiments.pilot); it decides no claim
        if self.chapter == "robustness":
            return []  # R1-R3 are decided on the attacks, which the chapter reads (they need its controls' models)
        return ablation.rank_verdicts(sections["rank_sweep"], sections["gd"]["GD"], self.before)

    def complete(self, names: list[str] | None = None) -> dict:
        """The sections restricted to the units every arm of the chapter's deciding sections (or
        of the sections ``names``) has recorded (a partly run grid is compared on its complete
        units only); empty when none is."""
        from ..experiments.endpoints import unit

        deciding = {
            "table1": ["table1"],
            "module_sweep": ["module_sweep"],
            "rank_sweep": ["rank_sweep", "gd"],
            "capability": ["pilot"],
            "robustness": ["audit"],
        }
        names = names or deciding[self.chapter]
        arms = [recs for name in names for recs in self.sections[name].values()]
        units = set.intersection(*({unit(r) for r in recs} for recs in arms)) if arms else set()
        if not units:
            return {}
        return {
            name: {arm: [r for r in recs if unit(r) in units] for arm, recs in self.sections[name].items()}
            for name in names
        }

    def complete_units(self, names: list[str] | None = None) -> int:
        """How many units :meth:`complete` keeps (of the deciding sections, or of ``names``)."""
        from ..experiments.endpoints import unit

        sections = self.complete(names)
        return len({unit(r) for groups in sections.values() for recs in groups.values() for r in recs})


def assemble(profile_name: str, chapter: str) -> Assembled:
    """``chapter``'s grid on ``profile_name`` from the records in the repository, computing no run
    (the keys need each model's key: :func:`survey`; the probe of the model before unlearning is
    measured if the baseline is recorded without it)."""
    from ..experiments import grids, probe, runs
    from ..store import origin, results
    from ..store.records import RunRecord

    params = chapter_params(profile_name, chapter)
    sections = grids.sections(chapter, params)
    entries = {e.spec: e for e in survey(grids.specs(chapter, params), log=lambda line: None)}

    def read(spec):
        e = entries[spec]
        if e.state not in ("recorded", "stale"):
            return None
        return RunRecord.from_dict(json.loads(e.record.read_text()), source=str(e.record))

    out = {
        name: {arm: [r for r in map(read, specs) if r is not None] for arm, specs in groups.items()}
        for name, groups in sections.items()
    }
    befores = {}
    models_run = {e.spec.model_name for e in entries.values() if e.state in ("recorded", "stale")}
    for args in grids.baselines(chapter, params):  # no run of a model, no baseline (nor its model)
        if args["model_name"] not in models_run:
            continue
        try:
            with results.read_only():
                before = runs.before(**args)
        except results.NotRecorded:
            continue
        # the probe before unlearning: recorded with the baseline, else measured here (a second)
        befores[args["model_name"]] = probe.with_probe(before, args["model_name"])
    folder = results.repository_results() / profile_name / "records"
    committed = origin.last_commit(folder) or "not committed"
    return Assembled(
        profile_name,
        chapter,
        params,
        out,
        befores.get(params["model_name"]),
        list(entries.values()),
        committed,
        befores,
    )


def record_measurement(assembled: Assembled, root: Path = ROOT) -> Path:
    """Put a grid's state on the Measured page (``measurements/grid-<profile>-<chapter>.json``):
    runs recorded of the grid, complete units, compute hours and seconds per run, from the records."""
    from . import measured

    times = [e.seconds for e in assembled.recorded() if e.seconds]
    figures = {
        "runs recorded": f"{assembled.runs} of {len(assembled.entries)}",
        "stale": str(sum(e.state == "stale" for e in assembled.entries)),
        "units complete in every arm": str(assembled.complete_units()),
        "compute (the records' seconds)": f"{assembled.compute_hours():.2f} h",
        "seconds per run (median)": f"{sorted(times)[len(times) // 2]:.0f} s" if times else "none yet",
        "records committed at": assembled.committed,
    }
    command = f"python -m unlearnkit.book.grid run --profile {assembled.profile} --chapter {assembled.chapter}"
    return measured.record(
        f"grid-{assembled.profile}-{assembled.chapter}",
        figures,
        command,
        notes="read back from results/<profile>/records by grid.assemble",
        root=root,
    )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("plan", "run", "status", "measure"))
    parser.add_argument("--profile", required=True)
    parser.add_argument(
        "--chapter", required=True, help="a chapter with a grid (table1, module_sweep, rank_sweep, capability, robustness)"
    )
    parser.add_argument("--budget", default=None, help="run: stop before this much time is spent (2h, 90m, 45s)")
    parser.add_argument("--rerun-stale", action="store_true", help="run: recompute the stale runs too")
    parser.add_argument(
        "--backend",
        default="inline",
        choices=("inline", "processes", "submitit"),
        help="run: inline (in order, with the budget) or all at once through unlearnkit.experiments.dispatch",
    )
    parser.add_argument(
        "--slurm",
        default=None,
        help='run --backend submitit: executor parameters as JSON, e.g. {"slurm_partition": "gpu"}',
    )
    args = parser.parse_args(argv)
    from ..experiments import grids

    try:
        budget = parse_budget(args.budget)
        slurm = json.loads(args.slurm) if args.slurm else None
        params = chapter_params(args.profile, args.chapter)
        specs = grids.specs(args.chapter, params)
    except json.JSONDecodeError as err:
        raise SystemExit(f"error: --slurm {args.slurm!r} is not JSON ({err})") from None
    except (ValueError, FileNotFoundError) as err:
        raise SystemExit(f"error: {err}") from None
    if args.command == "measure":  # the grid's state on the Measured page (assemble surveys it)
        print(record_measurement(assemble(args.profile, args.chapter)).read_text())
        return
    profile = load_profile(args.profile) | {"name": args.profile}
    _record_runs(profile, args.profile)
    entries = survey(specs)
    if args.command == "plan":
        print("\n".join(model_builds(specs)))
        print(plan(entries))
        if args.chapter == "robustness":
            print(attack_plan(params))
    elif args.command == "status":
        print(status(entries))
    else:
        log_path = ROOT / "_build" / f"grid-{args.profile}-{args.chapter}.log"
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with log_path.open("a") as fh:

            def log(line: str) -> None:
                print(line, flush=True)
                fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {line}\n")
                fh.flush()

            log(f"[grid] {args.profile}/{args.chapter}: {status(entries)}")
            started = time.perf_counter()
            compute_baseline(args.chapter, params, log)
            if args.backend == "inline":
                ran = run(entries, budget, log, rerun_stale=args.rerun_stale)
            else:
                ran = run_elsewhere(entries, args.backend, log, rerun_stale=args.rerun_stale, slurm=slurm)
            if args.chapter == "robustness" and ran == len(_todo(entries, args.rerun_stale)):
                left = None if budget is None else budget - (time.perf_counter() - started)
                attack(params, left, log)


if __name__ == "__main__":
    sys.exit(main())
