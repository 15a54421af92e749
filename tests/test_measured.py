"""The Measured page is generated from the records in measurements/, never typed by hand."""

import json
import sys

import pytest

from unlearnkit.book import measured


def test_the_committed_page_is_what_the_records_give():
    page = (measured.ROOT / measured.PAGE).read_text()
    assert page == measured.page(), "book/measured.md is stale: run `make measured` and commit it"


def test_a_measured_command_records_its_time_status_and_pytest_summary(tmp_path):
    line = "===== 3 passed, 1 skipped in 1.23s ====="
    code = measured.run_and_record("demo", [sys.executable, "-c", f"print({line!r})"], root=tmp_path)
    assert code == 0
    rec = json.loads((tmp_path / "measurements" / "demo.json").read_text())
    assert rec["figures"]["tests"] == "3 passed, 1 skipped" and rec["figures"]["exit status"] == 0
    assert rec["figures"]["pytest time"] == "0.0 min (1 s)"  # pytest's own seconds, beside the wall time
    assert rec["command"].endswith(f"print({line!r})") and rec["commit"] and rec["machine"]
    page = measured.page(tmp_path)
    assert "## demo" in page and "| tests | 3 passed, 1 skipped |" in page and rec["commit"] in page


def test_a_failing_command_is_recorded_as_failing(tmp_path):
    code = measured.run_and_record("fails", [sys.executable, "-c", "import sys; sys.exit(3)"], root=tmp_path)
    assert code == 3
    assert json.loads((tmp_path / "measurements" / "fails.json").read_text())["figures"]["exit status"] == 3


def test_bad_names_are_refused(tmp_path):
    with pytest.raises(ValueError, match="measurement name 'a b'"):
        measured.record("a b", {}, "cmd", root=tmp_path)


def test_the_commit_is_marked_dirty_by_changed_code_but_not_by_the_records_being_written(tmp_path):
    import subprocess

    from unlearnkit.store import origin

    def git(*args):
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True, capture_output=True
        )

    assert origin.commit(tmp_path) == "unknown"  # not a checkout
    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    (tmp_path / "records").mkdir()
    (tmp_path / "records" / "r.json").write_text("{}")
    git("add", ".")
    git("commit", "-qm", "first")
    clean = origin.commit(tmp_path)
    assert clean and not clean.endswith("+dirty")
    (tmp_path / "records" / "r.json").write_text('{"a": 1}')
    assert origin.commit(tmp_path, ignore=("records/",)) == clean
    (tmp_path / "code.py").write_text("x = 2\n")
    assert origin.commit(tmp_path, ignore=("records/",)) == clean + "+dirty"
    assert "cores" in origin.machine()
