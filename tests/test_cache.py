import json

import pytest

from unlearnkit.store import codehash, results
from unlearnkit.store.cache import atomic_directory, config_hash, write_json_atomic


def test_atomic_directory_appears_only_on_success(tmp_path):
    final = tmp_path / "entry"
    with pytest.raises(RuntimeError):
        with atomic_directory(final) as tmp:
            (tmp / "half.bin").write_bytes(b"x")
            raise RuntimeError("crash mid-write")
    assert not final.exists() and not list(tmp_path.iterdir())
    with atomic_directory(final) as tmp:
        (tmp / "done.bin").write_bytes(b"y")
    assert (final / "done.bin").read_bytes() == b"y"


@pytest.mark.parametrize("checked_first", [True, False])
def test_of_two_concurrent_builds_the_first_to_finish_is_kept(tmp_path, monkeypatch, checked_first):
    """Two test workers share one cache: the later build gives way, whether it sees the first one
    before renaming or only when the rename meets the finished directory."""
    import os as os_module

    final = tmp_path / "entry"
    if not checked_first:  # the other build lands between the check and the rename
        real_replace = os_module.replace

        def replace(src, dst):
            (final / "first.bin").parent.mkdir()
            (final / "first.bin").write_bytes(b"1")
            return real_replace(src, dst)

        monkeypatch.setattr("unlearnkit.store.cache.os.replace", replace)
    with atomic_directory(final) as tmp:
        (tmp / "second.bin").write_bytes(b"2")
        if checked_first:
            final.mkdir()
            (final / "first.bin").write_bytes(b"1")
    assert [p.name for p in final.iterdir()] == ["first.bin"]
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]  # the second build's files are gone


def test_config_hash_is_order_independent():
    assert config_hash({"a": 1, "b": [1, 2]}) == config_hash({"b": [1, 2], "a": 1})
    assert config_hash({"a": 1}) != config_hash({"a": 2})


def test_cached_computes_once_and_recovers_from_corrupt_record(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNKIT_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"value": 42}

    code = "unlearnkit.losses"
    assert results.cached("demo", {"x": 1}, compute, code=code)["value"] == 42
    assert results.cached("demo", {"x": 1}, compute, code=code)["value"] == 42
    assert len(calls) == 1
    results.record_path("demo", {"x": 1}, code).write_text("{truncated")
    rec = results.cached("demo", {"x": 1}, compute, code=code)
    assert rec["value"] == 42 and len(calls) == 2
    assert rec["code"]["digest"] == codehash.code_digest(code) == rec["cache_config"]["code"]
    assert set(rec["code"]["modules"]) == {"unlearnkit.losses"}  # losses imports nothing of the package


def test_a_change_to_the_computing_code_is_a_cache_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNKIT_CACHE", str(tmp_path))
    calls = []

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    assert results.cached("demo", {"x": 1}, compute, code="unlearnkit.losses")["value"] == 1
    monkeypatch.setattr(codehash, "code_digest", lambda *m, root=None: "changed-code")
    assert results.cached("demo", {"x": 1}, compute, code="unlearnkit.losses")["value"] == 2


def test_write_json_atomic_roundtrip(tmp_path):
    write_json_atomic(tmp_path / "a" / "r.json", {"k": [1, 2]})
    assert json.loads((tmp_path / "a" / "r.json").read_text()) == {"k": [1, 2]}
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["r.json"]
