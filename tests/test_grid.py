"""The long-grid command on the smoke profile's Table 1: stopped by its budget midway and run
again, it computes only the missing runs, and the records equal a grid computed in one go;
a code change makes the recorded runs stale, naming the module; bad input is named."""

import shutil

import pytest

from unlearnkit.book import grid
from unlearnkit.experiments import grids, runs
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
    # the same grid in one go, on another empty cache and without the repository
    monkeypatch.setenv("UNLEARNKIT_CACHE", str(tmp_path / "other"))
    shutil.copytree(smoke_testbed.path, tmp_path / "other" / "testbed" / smoke_testbed.path.name)
    with results.local_only():
        single = [runs.run(s, progress=False) for s in specs]
    for a, b in zip(resumed, single):
        assert [getattr(a, f) for f in FIELDS] == [getattr(b, f) for f in FIELDS]  # digit for digit
    # a change to a module the runs depend on makes every recorded run stale, naming it
    before = codehash.module_digests(runs.CODE)
    changed = dict(before, **{"unlearnkit.losses": "edited"})
    digests, digest = codehash.module_digests, codehash.code_digest  # the models' (testbed recipe) stay
    monkeypatch.setattr(codehash, "module_digests", lambda *m, root=None: changed if m == (runs.CODE,) else digests(*m))
    monkeypatch.setattr(codehash, "code_digest", lambda *m, root=None: "edited" if m == (runs.CODE,) else digest(*m))
    stale = grid.survey(specs)
    assert {e.state for e in stale} == {"stale"} and all(e.changed == ["unlearnkit.losses"] for e in stale)
    assert "8 stale" in grid.status(stale) and "unlearnkit.losses" in grid.plan(stale)
