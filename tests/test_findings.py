"""The findings table: every chapter's verdicts gathered, linked, beside the paper's numbers."""

import math

from unlearnkit.book import build, findings


def test_verdicts_are_gathered_per_model_and_linked_to_their_chapter(tmp_path):
    path = tmp_path / "f.json"
    findings.add(path, "table1", "testbed:default", [{"claim": "C1", "verdict": "holds", "n": 20, "p": 0.001}])
    findings.add(path, "module_sweep", "testbed:default", [{"claim": "C7", "verdict": "inconclusive (n = 5)", "n": 5}])
    findings.add("", "table1", "x", [{"claim": "C1", "verdict": "holds"}])  # no path: nothing written
    got = findings.load(path)
    assert set(got["testbed:default"]) == {"C1", "C7"}
    assert got["testbed:default"]["C7"] == {
        "claim": "C7",
        "verdict": "inconclusive (n = 5)",
        "n": 5,
        "p": None,
        "chapter": "module_sweep",
    }
    html = findings.table_html({"testbed (this build)": got["testbed:default"]})
    assert '<a href="table1.html">holds</a>' in html and "n = 20, p = 0.001" in html
    assert html.count("<tr>") == 1 + len(findings.STATEMENTS)  # header + one row per claim
    assert "not decided" in html  # C2 … were not decided here
    assert findings.load(tmp_path / "missing.json") == {}


def test_holm_p_is_shown_where_a_chapter_adjusted():
    e = findings.entry({"claim": "C1", "verdict": "holds", "n": 10, "p": 0.001, "Holm p": 0.006}, "table1")
    assert e["p"] == 0.006
    assert findings.entry({"claim": "C1", "verdict": "x", "p": math.nan})["p"] is None


def test_the_papers_column_is_computed_from_its_published_table():
    ev = findings.paper_evidence()
    assert set(ev) == set(findings.STATEMENTS)
    assert ev["C1"] == "Pile PPL 17.8 → 577.8 after GA (×32)"
    assert "32 % → 8 %" in ev["H1"]


def test_the_introduction_reads_findings_and_so_executes_last():
    from unlearnkit.book.build import declared_parameters, source_of, toc_files

    root = toc_files()[0]
    assert "findings_path" in declared_parameters(source_of(root))
    writers = [
        n
        for n in toc_files()[1:]
        if source_of(n).suffix == ".ipynb" and "findings_path" in declared_parameters(source_of(n))
    ]
    assert {"book/table1", "book/module_sweep", "book/second_paper", "book/robustness"} <= set(writers)
    assert build.FINDINGS_FILE.endswith(".json")
