"""Every chapter of the book executes on the smoke profile (papermill), and the book's
configuration is consistent: a chapter that breaks fails here, not at `make book`."""

import ast
import json
import re
import shutil
from pathlib import Path

import pytest
import yaml

from unlearnkit.book import build as book
from unlearnkit.store import results

ROOT = book.ROOT


def test_toc_lists_existing_chapters():
    names = book.toc_files()
    assert names[0] == "book/intro"
    for name in names:
        assert book.source_of(name).is_file()


def test_source_notebooks_have_no_outputs_and_a_parameters_cell():
    for name in book.toc_files():
        src = book.source_of(name)
        if src.suffix != ".ipynb":
            continue
        nb = json.loads(src.read_text())
        code = [c for c in nb["cells"] if c["cell_type"] == "code"]
        assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in code), name
        assert all(not c.get("outputs") and c.get("execution_count") is None for c in code), f"{name} has outputs"


def _declared_parameters(chapter: str) -> set[str]:
    nb = json.loads(book.source_of(chapter).read_text())
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    tree = ast.parse("".join(cell["source"]))
    return {t.id for node in tree.body if isinstance(node, ast.Assign) for t in node.targets}


@pytest.mark.parametrize("profile", sorted(p.stem for p in (ROOT / "profiles").glob("*.yaml")))
def test_profile_sections_only_set_parameters_their_chapter_declares(profile):
    """A misspelt key (``forget_row``) would otherwise be ignored by papermill in silence."""
    config = book.load_profile(profile)
    chapters = {Path(c).name: c for c in book.toc_files() if book.source_of(c).suffix == ".ipynb"}
    for section, params in config.items():
        if section == "all":
            continue
        assert section in chapters, f"profiles/{profile}.yaml: no chapter named {section!r}"
        unknown = set(params) - _declared_parameters(chapters[section])
        assert not unknown, f"profiles/{profile}.yaml [{section}] sets undeclared {sorted(unknown)}"


def test_profiles_parse_and_unknown_profile_is_named():
    for name in ("smoke", "cpu", "cpu-full", "gpu", "real"):
        params = book.chapter_parameters(book.load_profile(name) | {"name": name}, "book/intro")
        assert params["model_name"] and params["profile_name"] == name
    with pytest.raises(FileNotFoundError, match="unknown profile 'nope'"):
        book.load_profile("nope")


def test_bad_chapter_settings_are_named_before_anything_runs():
    from unlearnkit.book.build import check_chapter_parameters

    with pytest.raises(
        ValueError,
        match=r"profiles/p.yaml, chapter real_model: unlearning_methods entry 'IHL' "
        r"is not a row of Table 1",
    ):
        check_chapter_parameters("book/real_model", {"unlearning_methods": ["GA", "IHL"]}, "p")
    with pytest.raises(ValueError, match="recipe 'fast' is not an injection recipe"):
        check_chapter_parameters("book/real_model", {"recipe": "fast"}, "p")
    with pytest.raises(ValueError, match="method 'GA' trains every weight; the ablations sweep LoRA methods"):
        check_chapter_parameters("book/rank_sweep", {"methods": ["GA"]}, "p")
    with pytest.raises(ValueError, match="chapter rank_sweep: unknown method 'LoRA'"):
        check_chapter_parameters("book/rank_sweep", {"methods": ["LoRA"]}, "p")
    check_chapter_parameters(
        "book/real_model", {"unlearning_methods": ["GA", "+ FILA"], "recipe": "one-set", "downstream": "brief"}, "p"
    )
    with pytest.raises(ValueError, match="chapter robustness: unknown quantisation"):
        check_chapter_parameters("book/robustness", {"quantisation": ["int4 RTN", "int3"]}, "p")
    with pytest.raises(ValueError, match="chapter robustness: unknown method 'LoRA'"):
        check_chapter_parameters("book/robustness", {"audit_methods": ["GA", "LoRA"]}, "p")


def test_gpu_profile_runs_offline_by_default():
    """Issue 17: a lent GPU machine has no network, so the gpu profile's models are offline ones."""
    from unlearnkit.models import injection, offline

    profile = book.load_profile("gpu") | {"name": "gpu"}
    names = {
        book.chapter_parameters(profile, chapter).get(key)
        for chapter in book.toc_files()
        for key in ("model_name", "base_model")
    }
    for name in names - {None}:
        parsed = injection.parse_name(name)
        assert (parsed[0] if parsed else name) in offline.OFFLINE_MODELS, name
    assert "smollm2-135m+tdec:full" in names


CHAPTERS = [c for c in book.toc_files() if book.source_of(c).suffix == ".ipynb"]
SECOND_PAPER_RECORDS = ("harmful_reference", "harmful", "copyright_reference", "copyright")


@pytest.fixture(scope="module")
def smoke_book(tmp_path_factory):
    """Every chapter executed once on the smoke profile, as ``make book`` does: ``(root, src,
    failures)`` with ``src`` the executed sources and ``failures`` what each failed chapter raised."""
    root = tmp_path_factory.mktemp("smoke-book")
    src = book.prepare(root / "_build" / "src")
    # The second-paper chapter reads SmolLM2's experiments back from the real profile's records
    # (profiles/smoke.yaml: recorded_profile), as the default book does: the tests' results folder
    # (tests/conftest.py) gets a copy of the committed ones.
    committed, tests_results = results.REPOSITORY / "results" / "real" / "records", results.repository_results()
    for kind in SECOND_PAPER_RECORDS:
        shutil.copytree(committed / kind, tests_results / "real" / "records" / kind, dirs_exist_ok=True)
    failures = {}
    # as a whole build does: the introduction, which shows every chapter's verdicts, last
    for chapter in CHAPTERS[1:] + CHAPTERS[:1]:
        try:
            book.execute("smoke", src, only=[chapter.split("/")[-1]])
        except Exception as err:  # noqa: BLE001 - reported by the chapter's own test
            failures[chapter] = err
    return root, src, failures


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS)
def test_chapter_executes_on_smoke_profile(chapter, smoke_book):
    _, src, failures = smoke_book
    assert chapter not in failures, failures.get(chapter)
    executed = json.loads((src / f"{chapter}.ipynb").read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


@pytest.mark.slow
def test_the_introduction_opens_with_every_chapters_verdicts(smoke_book):
    _, src, failures = smoke_book
    assert not failures
    found = json.loads((src / "book" / book.FINDINGS_FILE).read_text())
    decided = found["testbed:smoke"]
    assert {"C1", "C5", "C5b", "C7", "H1", "K1"} <= set(decided)
    assert decided["C1"]["chapter"] == "table1" and decided["C7"]["chapter"] == "module_sweep"
    intro = json.loads((src / "book" / "intro.ipynb").read_text())
    html = "".join(
        "".join(o.get("data", {}).get("text/html", "")) for c in intro["cells"] for o in c.get("outputs", [])
    )
    assert "testbed:smoke (this build)" in html and 'href="table1.html"' in html
    assert "(recorded" in html and 'href="real_model.html"' in html  # the recorded results' column


@pytest.mark.slow
def test_recorded_results_are_shown_labelled_and_spot_checked(smoke_book):
    _, src, failures = smoke_book
    assert not failures
    chapter = json.loads((src / "book" / "real_model.ipynb").read_text())
    text = "".join("".join(o.get("text", "")) for c in chapter["cells"] for o in c.get("outputs", []))
    assert "Recorded results (table1.json)" in text and "Current: the code that computed every record" in text
    assert "Spot check of the recorded" in text and ": reproduced." in text


@pytest.mark.slow
def test_the_robustness_chapter_reads_a_recorded_audit_back_and_decides_on_it(smoke_book):
    """The path the default book takes for cpu-full's audit: the smoke profile names its own,
    found in the cache, so the read-back is the chapter's own audit and its verdicts are its own."""
    _, src, failures = smoke_book
    assert "book/robustness" not in failures
    chapter = json.loads((src / "book" / "robustness.ipynb").read_text())
    outputs = json.dumps([c.get("outputs", []) for c in chapter["cells"]])
    assert "smoke robustness audit: 1 of 1 units recorded in every attack" in outputs
    found = json.loads((src / "book" / book.FINDINGS_FILE).read_text())["testbed:smoke"]
    assert found["R1"]["chapter"] == "robustness" and found["R1"]["verdict"].startswith("smoke audit: ")
    tables = [c for c in chapter["cells"] if "rr.verdict_table(rows)" in "".join(c["source"])]
    read_back = [c for c in chapter["cells"] if "recorded_view" in "".join(c["source"])]
    own, back = ("".join(c["outputs"][-1].get("data", {}).get("text/html", "")) for c in tables + read_back)
    assert "R1" in own and own == back  # the same verdicts, read back


@pytest.mark.slow
def test_the_second_paper_chapter_reads_smollm2s_records_and_labels_back(smoke_book):
    """The default book's path for SmolLM2's second-paper results: read back from the real
    profile's records, the classifier checked against SmolLM2's hand labels, H1 for every method,
    and yao3's claims in the introduction's recorded SmolLM2 column."""
    _, src, failures = smoke_book
    assert "book/second_paper" not in failures, failures.get("book/second_paper")
    chapter = json.loads((src / "book" / "second_paper.ipynb").read_text())
    outputs = json.dumps([c.get("outputs", []) for c in chapter["cells"]])
    assert "real profile, smollm2-135m: harmful and copyright experiment records" in outputs
    read_back = [c for c in chapter["cells"] if "recorded_verdicts" in "".join(c["source"])]
    shown = json.dumps([c["outputs"] for c in read_back])
    for method in ("yao3", "GA", "IHL", "FILA + IHL"):
        assert f"after {method}" in shown  # the label agreement and the H1 table name every arm
    assert "classifier precision" in shown
    found = json.loads((src / "book" / book.FINDINGS_FILE).read_text())["SmolLM2-135M (recorded)"]
    assert {"H1", "H2", "K1", "K2", "K3"} <= set(found) and found["H1"]["chapter"] == "second_paper"
    assert found["H1"]["n"] > 0


# What a reader must never see: a role MyST did not render, or a Python object printed raw.
LITERAL_MARKUP = re.compile(r"\{glue:\w*\}|\{glue\}|\{(?:doc|ref|numref|math)\}`")
# A cell output that is a printed dict, as MyST-NB renders it (checked on a rendered page).
RAW_DICT = re.compile(r'class="output text_plain[^"]*"><div class="highlight"><pre>(?:<span></span>)?\{(?:\'|&#39;|")')


@pytest.fixture(scope="module")
def rendered(smoke_book):
    """The smoke book rendered to HTML by Jupyter Book (warnings are errors), as `make book` does."""
    root, src, failures = smoke_book
    assert not failures
    return book.render(src, root)


@pytest.mark.slow
def test_rendered_book_shows_no_literal_markup_and_no_raw_objects(rendered):
    pages = sorted(rendered.rglob("*.html"))
    assert len(pages) >= len(CHAPTERS)
    for page in pages:
        body = re.sub(r"<script.*?</script>", "", page.read_text(), flags=re.S)
        assert not LITERAL_MARKUP.search(body), f"{page.name}: {LITERAL_MARKUP.search(body).group(0)}"
        assert not RAW_DICT.search(body), f"{page.name} prints a raw Python dict"
    assert "unlearnkit.css" in (rendered / "book" / "intro.html").read_text()


# Marks every table wider than the page's main column that no scrolling box holds.
CLIPPED_TABLES_JS = """<script>
window.addEventListener('load', () => {
  const main = document.querySelector('main') || document.body;
  const edge = main.getBoundingClientRect().right + 1;
  let clipped = 0;
  document.querySelectorAll('table').forEach(t => {
    let el = t.parentElement, scrolls = false;
    while (el && el !== main && !scrolls) {
      const ox = getComputedStyle(el).overflowX;
      scrolls = ox === 'auto' || ox === 'scroll';
      el = el.parentElement;
    }
    if (t.getBoundingClientRect().right > edge && !scrolls) clipped += 1;
  });
  document.body.setAttribute('data-clipped-tables', clipped);
  document.body.setAttribute('data-tables', document.querySelectorAll('table').length);
});
</script>"""


@pytest.mark.slow
def test_every_table_fits_the_page_or_scrolls_in_a_browser(rendered):
    """Headless Chromium lays out every chapter at 1280 px; a table wider than the main column
    must sit in a box that scrolls (book/_static/unlearnkit.css) instead of being clipped."""
    import shutil
    import subprocess

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        pytest.skip("no headless Chromium (`make chromium` installs Debian's)")
    tables = 0
    for chapter in CHAPTERS:
        page = rendered / f"{chapter}.html"
        probe = page.with_name(f"_probe_{page.name}")
        probe.write_text(page.read_text().replace("</body>", CLIPPED_TABLES_JS + "</body>"))
        dom = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--window-size=1280,900",
                "--virtual-time-budget=10000",
                "--dump-dom",
                probe.as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
        clipped = re.search(r'data-clipped-tables="(\d+)"', dom)
        assert clipped, f"{chapter}: the layout probe did not run"
        assert clipped.group(1) == "0", f"{chapter}: {clipped.group(1)} table(s) clipped at the right edge"
        tables += int(re.search(r'data-tables="(\d+)"', dom).group(1))
    assert tables > 0


def test_the_markup_checks_see_what_they_look_for():
    """Lines of a page Jupyter Book rendered from a cell printing a dict and a role inside code."""
    output = "<div class=\"output text_plain highlight-myst-ansi notranslate\"><div class=\"highlight\"><pre><span></span>{'mean_ma': '97.1'}"
    code = "<div class=\"highlight-none notranslate\"><div class=\"highlight\"><pre><span></span>{'mean_ma': '97.1'}"
    assert RAW_DICT.search(output) and not RAW_DICT.search(code)  # outputs, not the cell's source
    assert LITERAL_MARKUP.search(
        '<code class="docutils literal notranslate"><span class="pre">{glue:text}</span></code>'
    )


def test_markdown_cells_put_no_role_inside_code():
    """`{glue:text}`x`` inside backticks renders as literal text (it did in the real-model chapter)."""
    for chapter in CHAPTERS:
        nb = json.loads(book.source_of(chapter).read_text())
        for cell in nb["cells"]:
            if cell["cell_type"] == "markdown":
                text = "".join(cell["source"])
                assert not re.search(r"`\{glue:\w+\}`\w+``", text), chapter


def test_mathjax_is_served_from_the_book():
    config = yaml.safe_load((ROOT / "_config.yml").read_text())["sphinx"]["config"]
    static = ROOT / config["html_static_path"][0]
    assert (static / config["mathjax_path"]).is_file()  # equations render offline
    assert (static / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2").is_dir()


def test_pdf_names_what_is_missing(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match="no executed book"):
        book.pdf(root=tmp_path)
    (tmp_path / "_build" / "src").mkdir(parents=True)
    (tmp_path / "_build" / "src" / "_config.yml").write_text("title: x\n")
    monkeypatch.setattr(book.shutil, "which", lambda name: None)
    with pytest.raises(FileNotFoundError, match="no headless Chromium"):
        book.pdf(root=tmp_path)
