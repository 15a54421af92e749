"""The long-grid command on the smoke profile's Table 1: stopped by its budget midway and run
again, it computes only the missing runs, and the records equal a grid computed in one go;
a code change makes the recorded runs stale, naming the module; bad input is named."""

import json
import shutil

import pytest

from unlearnkit.book import grid
from unlearnkit.experiments import claims, grids, runs
from unlearnkit.store import codehash, results

FIELDS = ("status", "epochs", "epochs_run", "final_ma", "final_el", "pile_ppl", "reasoning", "dialogue")


def _specs():
    return grids.specs("table1", grid.chapter_params("smoke", "table1"))


def test_the_grid_is_the_chapters_runs_one_unit_of_every_arm_at_a_time():
    specs = _specs()
    # the paper's five methods and PiSSA + IHL on unit (0, 0), then the rate sweep's two arms
    assert len(specs) == len(set(specs)) == 8
    assert [s.lr for s in specs[:6]] == [1e-3] * 6 and {s.lr for s in specs[6:]} == {5e-5, 2e-4}
    a, b = runs.RunSpec("m", 0, "ga"), runs.RunSpec("m", 1, "ga")
    c = runs.RunSpec("m", 0, "gd")
    assert grids.unit_major([a, b, c, a]) == [a, c, b]


def test_the_ablation_grids_are_their_chapters_runs_and_share_table1s():
    """cpu-full: the module sweep (2 methods x 5 module sets x 5 units) and the rank sweep (4 methods
    x 4 ranks x 5 units, and full GD for C3); their rank-16 runs on Q, V and the FFN are Table 1's own."""
    table1 = set(grids.specs("table1", grid.chapter_params("cpu-full", "table1")))
    modules = grids.sections("module_sweep", grid.chapter_params("cpu-full", "module_sweep"))["module_sweep"]
    assert len(modules) == 10 and {len(v) for v in modules.values()} == {5}
    assert set(modules[("LoRA (GD)", "QV+FFN")]) | set(modules[("LoRA + IHL", "QV+FFN")]) <= table1
    ranks = grids.sections("rank_sweep", grid.chapter_params("cpu-full", "rank_sweep"))
    assert len(ranks["rank_sweep"]) == 16 and set(ranks["gd"]["GD"]) <= table1
    assert set(ranks["rank_sweep"][("LoRA (GD)", 16)]) <= table1


def test_a_record_of_the_same_run_on_a_rebuilt_model_is_matched_as_stale_not_lost():
    """When the model's code changes, its recipe hash (inside the model key) moves with it: a
    record made on the old build is the same run, stale, not an unrelated file."""
    old = {"model_key": "testbed:default@193c84df87d5|float32|cpu", "lr": 1e-3, "code": "a"}
    new = {"model_key": "testbed:default@b9c419316488|float32|cpu", "lr": 1e-3, "code": "b"}
    assert grid._without_code(old) == grid._without_code(new)
    assert grid._without_code(old) != grid._without_code(new | {"model_key": "testbed:smoke@b9c4|float32|cpu"})
    assert grid._without_code(old) != grid._without_code(new | {"lr": 2e-4})


def test_a_cluster_gets_the_missing_runs_as_one_batch_and_stale_records_are_replaced(tmp_path, monkeypatch):
    from unlearnkit.experiments import dispatch

    records = tmp_path / "records"
    (records / "unlearn").mkdir(parents=True)
    monkeypatch.setenv(results.RECORDS_ENV, str(records))
    a, b, c = (runs.RunSpec("m", d, "ga") for d in (0, 1, 2))
    old = records / "unlearn" / "old.json"
    old.write_text("{}")
    entries = [
        grid.Entry(a, "a.json", "recorded"),
        grid.Entry(b, "b.json", "missing"),
        grid.Entry(c, "c.json", "stale", record=old),
    ]
    sent = []

    def fake_run_specs(specs, backend, slurm=None, progress=True):  # what a job array would do
        sent.append((list(specs), backend, slurm))
        for name in ("b.json", "c.json")[: len(specs)]:
            (records / "unlearn" / name).write_text("{}")

    monkeypatch.setattr(dispatch, "run_specs", fake_run_specs)
    assert grid.run_elsewhere(entries, "submitit", log=lambda line: None, slurm={"timeout_min": 60}) == 1
    assert sent == [([b], "submitit", {"timeout_min": 60})] and old.is_file()  # stale kept without the flag
    assert grid.run_elsewhere(entries, "submitit", log=lambda line: None, rerun_stale=True) == 2
    assert sent[-1][0] == [b, c] and not old.exists()  # the recomputed stale run replaced its record
    with pytest.raises(SystemExit, match="--slurm 'x' is not JSON"):
        grid.main(["run", "--profile", "smoke", "--chapter", "table1", "--backend", "submitit", "--slurm", "x"])


def test_a_partly_run_grid_is_judged_on_its_complete_units_only():
    def rec(unit):
        return {"tags": {"forget_set": f"set[{unit}]"}, "seed": 0, "status": "forgotten", "epochs": 3}

    # GA reached units 0-2, GD units 0-1, PiSSA only unit 0: two units are complete in the paired arms
    sections = {"table1": {"GA": [rec(0), rec(1), rec(2)], "GD": [rec(0), rec(1)]}, "rate 1/2": {"GA": [rec(5)]}}
    a = grid.Assembled("p", "table1", {}, sections, {"pile_ppl": 1.0}, [], "abc")
    assert a.complete_units() == 2 and [len(v) for v in a.complete()["table1"].values()] == [2, 2]
    sections["table1"]["PiSSA + IHL"] = []
    assert a.complete() == {} and a.verdict_rows() == []  # an arm with nothing recorded: nothing to pair


def test_budget_bad_input_is_named():
    assert grid.parse_budget("2h") == 7200 and grid.parse_budget("90m") == 5400 and grid.parse_budget("45") == 45
    with pytest.raises(ValueError, match="--budget 'soon'"):
        grid.parse_budget("soon")
    with pytest.raises(SystemExit, match="chapter 'tabel1'"):
        grid.main(["plan", "--profile", "smoke", "--chapter", "tabel1"])
    with pytest.raises(SystemExit, match="no grid of its own"):
        grid.main(["plan", "--profile", "smoke", "--chapter", "fila"])
    with pytest.raises(SystemExit, match="unknown profile 'smok'"):
        grid.main(["plan", "--profile", "smok", "--chapter", "table1"])


@pytest.mark.slow
def test_a_grid_stopped_by_its_budget_resumes_with_only_the_missing_runs(tmp_path, monkeypatch, smoke_testbed):
    import os

    session_cache = os.environ["UNLEARNKIT_CACHE"]  # the suite's: the smoke book's Table 1 runs the same specs
    cache, repo = tmp_path / "cache", tmp_path / "results"
    monkeypatch.setenv("UNLEARNKIT_CACHE", str(cache))
    monkeypatch.setenv(results.RESULTS_ENV, str(repo))
    monkeypatch.setenv(results.RECORDS_ENV, str(repo / "smoke" / "records"))
    shutil.copytree(smoke_testbed.path, cache / "testbed" / smoke_testbed.path.name)  # the model, not its runs
    specs = _specs()
    entries = grid.survey(specs)
    assert [e.state for e in entries] == ["missing"] * 8
    assert grid.run(entries, budget=1.0, log=lambda line: None) == 1  # stops after the first run
    shutil.rmtree(cache / "results")  # a fresh machine: only the repository's records remain
    entries = grid.survey(specs)
    assert [e.state for e in entries] == ["recorded"] + ["missing"] * 7
    assert grid.run(entries, log=lambda line: None) == 7
    assert {e.state for e in grid.survey(specs)} == {"recorded"}
    resumed = [runs.run(s, progress=False) for s in specs]
    # the same grid in one go, on another cache and without the repository
    monkeypatch.setenv("UNLEARNKIT_CACHE", session_cache)
    with results.local_only():
        single = [runs.run(s, progress=False) for s in specs]
    for a, b in zip(resumed, single):
        assert [getattr(a, f) for f in FIELDS] == [getattr(b, f) for f in FIELDS]  # digit for digit
    # the chapter's table and verdicts read back from the records alone equal the one-go grid's
    monkeypatch.setenv("UNLEARNKIT_CACHE", str(cache))
    params = grid.chapter_params("smoke", "table1")
    assert grid.assemble("smoke", "table1").before is None  # the baseline is not recorded yet
    grid.compute_baseline("table1", params, log=lambda line: None)
    shutil.rmtree(cache / "results")
    assembled = grid.assemble("smoke", "table1")
    assert assembled.runs == 8 and "8 of 8 runs recorded (1 units complete in every arm" in assembled.label()
    page = grid.record_measurement(assembled, root=tmp_path)  # the grid's state on a Measured page
    figures = json.loads(page.read_text())["figures"]
    assert figures["runs recorded"] == "8 of 8" and figures["units complete in every arm"] == "1"
    assert "grid-smoke-table1" in (tmp_path / "book" / "measured.md").read_text()
    one_go = dict(zip(specs, single))
    main = {
        arm: [one_go[s] for s in arm_specs] for arm, arm_specs in grids.sections("table1", params)["table1"].items()
    }
    before = runs.before(**grids.baseline("table1", params))
    expected = claims.verdicts(main, before, params.get("minimum_effects"))
    got = assembled.verdict_rows()

    def key(rows):  # NaN-safe: a claim not tested has no p
        return [(r["claim"], r["verdict"], str(r.get("p"))) for r in rows]

    assert key(got) == key(expected)
    # a change to a module the runs depend on makes every recorded run stale, naming it
    before = codehash.module_digests(runs.CODE)
    changed = dict(before, **{"unlearnkit.losses": "edited"})
    digests, digest = codehash.module_digests, codehash.code_digest  # the models' (testbed recipe) stay
    monkeypatch.setattr(codehash, "module_digests", lambda *m, root=None: changed if m == (runs.CODE,) else digests(*m))
    monkeypatch.setattr(codehash, "code_digest", lambda *m, root=None: "edited" if m == (runs.CODE,) else digest(*m))
    stale = grid.survey(specs)
    assert {e.state for e in stale} == {"stale"} and all(e.changed == ["unlearnkit.losses"] for e in stale)
    assert "8 stale" in grid.status(stale) and "unlearnkit.losses" in grid.plan(stale)
    assert grid.model_builds(specs)[0].startswith("model testbed:smoke: testbed pretraining: ")
    assert all(e.record.is_file() for e in stale)
    assert grid.run(stale, log=lambda line: None) == 0  # stale runs are recomputed only with --rerun-stale
    assert "STALE (code changed since: unlearnkit.losses)" in grid.assemble("smoke", "table1").label()


def test_durations_read_in_the_unit_a_reader_expects():
    """``status`` printed '0.0 h each' for one-minute runs: seconds, minutes, then hours."""
    from unlearnkit.book.grid import _hours

    assert [_hours(s) for s in (None, 62, 6000, 36000)] == ["unknown", "62 s", "100 min", "10.0 h"]


def test_the_robustness_grid_is_the_chapters_audited_runs_and_its_references_are_the_chapters():
    """cpu-full: Table 1's six audited methods on all 20 units and the three rate-check methods at
    the paper's rates ("<method> @ <rate>"), the runs the chapter attacks; the references are built
    for all units at once, as the chapter builds them (real: its ``exact_units``)."""
    params = grid.chapter_params("cpu-full", "robustness")
    audit = grids.sections("robustness", params)["audit"]
    assert list(audit)[:6] == ["GA", "GD", "LoRA (GD)", "+ IHL", "+ FILA", "PiSSA + IHL"]
    assert sorted(audit)[:3] == ["+ FILA", "+ FILA @ 0.0002", "+ IHL"] and len(audit) == 9
    assert {len(v) for v in audit.values()} == {20} and len(grids.specs("robustness", params)) == 180
    assert {s.lr for s in audit["GD @ 5e-05"]} == {5e-5} and {s.lr for s in audit["GD"]} == {1e-4}
    assert grids.audit_units(params)[:5] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0)]
    assert grids.reference_units(params) == grids.audit_units(params)
    assert set(audit["GA"]) <= set(grids.specs("table1", grid.chapter_params("cpu-full", "table1")))
    line = grid.attack_plan(params)
    assert "20 units" in line and "exact reference" in line and "9 unlearned models" in line and "20 epochs" in line
    real = grid.chapter_params("real", "robustness")
    assert len(grids.reference_units(real)) == 10 and grids.reference_units(real)[5] == (0, 1)
    settings = grids.audit_settings(params)
    assert settings.relearn_lr == params["lr_full"] and settings.el == params["audit_el"]


def test_the_grid_attacks_unit_by_unit_resumes_and_stops_at_its_budget(monkeypatch):
    """`run` on the robustness chapter attacks one unit's runs at a time with the whole chapter's
    reference fold (so each unit's reference is the chapter's model), the budget runs too, and
    stops before a unit would pass the budget."""
    from unlearnkit.experiments import robustness

    params = grid.chapter_params("cpu-full", "robustness") | {"forget_draws": [0, 1], "forget_parts": [0, 1]}
    calls, now = [], [0.0]
    monkeypatch.setattr(grid.time, "perf_counter", lambda: now[0])

    def fake_audit(specs, settings, reference, reference_units, progress, attack_failed):
        now[0] += 100  # each unit's attacks take 100 s
        calls.append(("audit", {(s.draw, s.part) for v in specs.values() for s in v}, reference_units, len(specs)))

    def fake_at_budget(specs, epochs, settings, progress):
        calls.append(("budget", sorted(specs), epochs))

    monkeypatch.setattr(robustness, "audit", fake_audit)
    monkeypatch.setattr(robustness, "audit_at_budget", fake_at_budget)
    lines = []
    assert grid.attack(params, log=lines.append) == 4
    audits = [c for c in calls if c[0] == "audit"]
    assert [c[1] for c in audits] == [{(0, 0)}, {(0, 1)}, {(1, 0)}, {(1, 1)}]
    assert all(c[2] == [(0, 0), (0, 1), (1, 0), (1, 1)] and c[3] == 9 for c in audits)
    assert calls[1] == ("budget", ["+ FILA @ 0.0002", "GD @ 5e-05", "LoRA (GD) @ 0.0002"], 20)
    assert "attacked unit 1.1 (4/4)" in lines[-2]
    calls.clear()
    assert grid.attack(params, budget=250, log=lines.append) == 2
    assert "stopping before attacking unit 1.0 (3/4)" in lines[-1]


def test_an_audit_not_recorded_reads_back_as_nothing_and_computes_nothing(tmp_path, monkeypatch, smoke_testbed):
    """On a fresh machine with no attack record, the read-back is empty, says so, and neither
    trains, attacks nor builds an exact reference (the default book must not start cpu-full's audit)."""
    from unlearnkit.experiments import robustness
    from unlearnkit.models import testbed

    cache = tmp_path / "cache"
    monkeypatch.setenv("UNLEARNKIT_CACHE", str(cache))
    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path / "results"))
    shutil.copytree(smoke_testbed.path, cache / "testbed" / smoke_testbed.path.name)
    build = testbed.build

    def no_reference(size="default", progress=True, without=()):
        assert not without, "built an exact reference"
        return build(size, progress=progress, without=without)

    def no_attack(*args, **kwargs):
        raise AssertionError("attacked a model")

    monkeypatch.setattr(testbed, "build", no_reference)
    monkeypatch.setattr(robustness, "attack", no_attack)
    got = grid.recorded_audit("smoke")
    assert got.audit is None and got.units == [] and got.planned == 1
    assert got.label().startswith("smoke robustness audit: 0 of 1 units recorded in every attack")


def test_the_capability_label_counts_the_pilot_and_the_confirmatory_units_apart():
    def rec(unit):
        return {"tags": {"forget_set": f"set[{unit}]"}, "seed": 0, "status": "forgotten", "epochs": 3}

    # pilot: 2 units in both rates; confirmatory: 3 units in both arms, a fourth in one
    sections = {
        "pilot": {"1e-3": [rec(0), rec(1)], "2e-3": [rec(0), rec(1)]},
        "confirmatory": {"LoRA (GD)": [rec(0), rec(1), rec(5), rec(6)], "LoRA + IHL": [rec(0), rec(1), rec(5)]},
    }
    a = grid.Assembled("real", "capability", {}, sections, {"pile_ppl": 1.0}, [], "abc")
    assert a.complete_units() == 2 and a.complete_units(["confirmatory"]) == 3
    assert "pilot: 2 units complete in every arm; confirmatory: 3," in a.label()
