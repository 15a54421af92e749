"""Records kept in the repository: every computed record is written to ``results/<profile>/records``
as it ends, a fresh machine (empty cache) reads it back instead of recomputing, and a corrupt or
misplaced record is set aside with a warning that names its file, never used and never lost."""

import json
import os
import shutil

import pytest

from unlearnkit.store import results

CODE = "unlearnkit.metrics"  # any computing module: its digest enters the key


@pytest.fixture()
def places(tmp_path, monkeypatch):
    """An empty cache, a repository ``results/`` and this profile's records folder."""
    cache, repo = tmp_path / "cache", tmp_path / "results"
    monkeypatch.setenv("UNLEARNKIT_CACHE", str(cache))
    monkeypatch.setenv(results.RESULTS_ENV, str(repo))
    monkeypatch.setenv(results.RECORDS_ENV, str(repo / "real" / "records"))
    return cache, repo


def _counting():
    calls = []

    def compute(value=1.0):
        calls.append(1)
        return {"value": value}

    return calls, compute


def _fresh_machine(cache):
    shutil.rmtree(cache, ignore_errors=True)


def test_a_record_is_written_to_the_repository_as_it_ends_and_read_back_on_a_fresh_machine(places):
    cache, repo = places
    calls, compute = _counting()
    first = results.cached("unlearn", {"run": 1}, compute, code=CODE)
    files = list((repo / "real" / "records" / "unlearn").glob("*.json"))
    assert len(files) == 1 and json.loads(files[0].read_text()) == first
    _fresh_machine(cache)
    again = results.cached("unlearn", {"run": 1}, compute, code=CODE)
    assert again == first and len(calls) == 1  # not recomputed
    assert (cache / "results" / "unlearn" / files[0].name).is_file()  # now in this machine's cache too
    results.cached("unlearn", {"run": 2}, compute, code=CODE)
    assert len(calls) == 2  # another key is computed


def test_records_of_another_profile_are_found_and_recording_can_be_off(places, monkeypatch):
    cache, repo = places
    calls, compute = _counting()
    results.cached("unlearn", {"run": 1}, compute, code=CODE)
    _fresh_machine(cache)
    monkeypatch.delenv(results.RECORDS_ENV)  # the default profile records nothing, but reads
    results.cached("unlearn", {"run": 1}, compute, code=CODE)
    assert len(calls) == 1
    results.cached("unlearn", {"run": 3}, compute, code=CODE)
    assert len(list(repo.glob("*/records/unlearn/*.json"))) == 1  # nothing written without the env


def test_a_record_cached_before_recording_began_is_recorded_when_asked_for(places, monkeypatch):
    cache, repo = places
    monkeypatch.delenv(results.RECORDS_ENV)
    calls, compute = _counting()
    results.cached("thresholds", {"model": "m"}, compute, code=CODE)
    monkeypatch.setenv(results.RECORDS_ENV, str(repo / "real" / "records"))
    results.cached("thresholds", {"model": "m"}, compute, code=CODE)
    assert len(calls) == 1 and len(list((repo / "real" / "records" / "thresholds").glob("*.json"))) == 1


@pytest.mark.parametrize(
    "damage, why",
    [
        (lambda text: text[: len(text) // 2], "not a readable record"),  # truncated mid-write
        (lambda text: json.dumps(json.loads(text) | {"cache_config": {"run": 99}}), "not the 'unlearn' record"),
    ],
)
def test_a_corrupt_or_misplaced_record_is_set_aside_named_and_recomputed(places, damage, why):
    cache, repo = places
    calls, compute = _counting()
    results.cached("unlearn", {"run": 1}, compute, code=CODE)
    (path,) = (repo / "real" / "records" / "unlearn").glob("*.json")
    path.write_text(damage(path.read_text()))
    kept = path.read_text()
    _fresh_machine(cache)
    with pytest.warns(UserWarning, match=why) as caught:
        results.cached("unlearn", {"run": 1}, compute, code=CODE)
    assert path.name in str(caught[0].message)
    assert len(calls) == 2  # recomputed, not used
    aside = path.with_name(path.name + ".corrupt")
    assert aside.read_text() == kept  # nothing lost
    assert json.loads(path.read_text())["value"] == 1.0  # the recomputed record took its place


def test_local_only_neither_reads_nor_writes_the_repository(places):
    cache, repo = places
    calls, compute = _counting()
    results.cached("unlearn", {"run": 1}, compute, code=CODE)
    _fresh_machine(cache)
    with results.local_only():
        results.cached("unlearn", {"run": 1}, compute, code=CODE)
        results.cached("unlearn", {"run": 5}, compute, code=CODE)
    assert len(calls) == 3
    assert len(list((repo / "real" / "records" / "unlearn").glob("*.json"))) == 1


def test_read_only_reads_the_repository_and_computes_nothing(places):
    cache, repo = places
    calls, compute = _counting()
    made = results.cached("unlearn", {"run": 1}, compute, code=CODE)
    assert set(made["made"]) == {"commit", "machine", "date"}  # where it was computed, outside the key
    _fresh_machine(cache)
    with results.read_only():
        assert results.cached("unlearn", {"run": 1}, compute, code=CODE) == made
        with pytest.raises(results.NotRecorded, match="no 'unlearn' record .* in the cache or under"):
            results.cached("unlearn", {"run": 6}, compute, code=CODE)
    assert len(calls) == 1


def test_a_change_to_the_code_is_a_new_key_so_the_old_record_is_not_reused(places, tmp_path):
    cache, repo = places
    calls, compute = _counting()
    results.cached("unlearn", {"run": 1}, compute, code=CODE)
    _fresh_machine(cache)
    results.cached("unlearn", {"run": 1}, compute, code="unlearnkit.losses")  # other code
    assert len(calls) == 2


def test_the_book_builder_records_only_for_profiles_that_ask(monkeypatch, tmp_path):
    from unlearnkit.book import build

    monkeypatch.setenv(results.RESULTS_ENV, str(tmp_path))
    monkeypatch.delenv(results.RECORDS_ENV, raising=False)
    build._record_runs({"all": {}}, "cpu")
    assert results.RECORDS_ENV not in os.environ
    try:
        build._record_runs({"all": {"record_runs": True}}, "real")
        assert os.environ[results.RECORDS_ENV] == str(tmp_path / "real" / "records")
    finally:
        os.environ.pop(results.RECORDS_ENV, None)  # set by the builder itself: not monkeypatch's to restore
    for name in ("real", "cpu-full"):
        assert build.load_profile(name)["all"]["record_runs"] is True
