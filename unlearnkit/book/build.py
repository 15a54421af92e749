"""Build the book: execute every chapter with papermill, then render with Jupyter Book.

``python -m unlearnkit.book.build --profile cpu`` (what ``make book`` runs):

1. reads ``_toc.yml`` and ``profiles/<profile>.yaml`` (parameters under ``all:`` go to every
   chapter, those under a chapter's name only to it);
2. executes each chapter notebook with papermill into ``_build/src/`` (Markdown pages are
   copied), recording its execution time — results of finished experiments come from the
   results cache, so a re-run is fast and an interrupted build resumes;
3. writes ``_build/src/book/_timings.json`` and runs ``jupyter-book build`` on
   ``_build/src`` with execution off and warnings as errors, giving ``_build/html``.

``--pdf`` then builds the single-page HTML (``_build/singlehtml``) and prints it to
``_build/pdf/unlearnkit.pdf`` with headless Chromium (``make pdf`` installs Debian's
``chromium`` if missing).  MathJax is served from ``book/_static/mathjax`` in both, so
equations render offline.

It orchestrates only; chapters call the library for all their logic.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from ..store.cache import write_json_atomic
from .provenance import TIMINGS_FILE

FINDINGS_FILE = "_findings.json"  # every chapter's verdicts, for the introduction (unlearnkit.book.findings)

ROOT = Path(__file__).resolve().parents[2]  # the repository (unlearnkit/book/build.py)


def toc_files(root: Path = ROOT) -> list[str]:
    """Chapter files named in ``_toc.yml``, in order, without extension."""
    toc = yaml.safe_load((root / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    walk(toc.get("chapters"))
    for part in toc.get("parts", []):
        walk(part.get("chapters"))
    return files


def source_of(name: str, root: Path = ROOT) -> Path:
    for ext in (".ipynb", ".md"):
        if (root / f"{name}{ext}").is_file():
            return root / f"{name}{ext}"
    raise FileNotFoundError(f"_toc.yml names {name!r} but neither {name}.ipynb nor {name}.md exists")


def load_profile(profile: str, root: Path = ROOT) -> dict:
    path = root / "profiles" / f"{profile}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (root / "profiles").glob("*.yaml"))
        raise FileNotFoundError(f"unknown profile {profile!r}: {path} does not exist (known: {known})")
    return yaml.safe_load(path.read_text()) or {}


def chapter_parameters(profile: dict, chapter: str) -> dict:
    stem = Path(chapter).name
    return {**profile.get("all", {}), **profile.get(stem, {}), "profile_name": profile.get("name", "")}


def declared_parameters(notebook: Path) -> set[str]:
    """Names the chapter's ``parameters`` cell declares (what papermill can inject)."""
    import papermill

    return set(papermill.inspect_notebook(str(notebook)))


def check_chapter_parameters(chapter: str, params: dict, profile_name: str) -> None:
    """Reject a bad profile value before any chapter runs, naming the profile, chapter and key."""
    from ..experiments import ablation
    from .. import methods
    from ..experiments.runs import check_run_settings
    from ..models.injection import RECIPES

    where = f"profiles/{profile_name}.yaml, chapter {Path(chapter).name}"
    keys = ("forget_draws", "max_epochs", "lr_full", "lr_lora", "rank", "heldout_rows", "retain_rows", "downstream",
            "forget_rows", "retain_source", "fisher_estimator", "precision", "thresholds")
    settings = {k: params[k] for k in (*keys, "draw") if k in params}
    settings["forget_draws"] = [*params.get("forget_draws", []), *params.get("sweep_draws", [])]
    settings["forget_parts"] = [p for k in ("forget_parts", "extra_parts", "rate_parts") for p in params.get(k) or []]
    try:
        check_run_settings(**settings)
        for m in [*params.get("extra_methods", []), *params.get("audit_methods", []),
                  *params.get("other_rate_methods", [])]:
            methods.get(m)
        if {"quantisation", "relearn_steps"} & set(params):
            from ..experiments.robustness import AuditSettings

            AuditSettings(quantisation=tuple(params.get("quantisation", AuditSettings.quantisation)),
                          relearn_steps=tuple(params.get("relearn_steps", AuditSettings.relearn_steps)))
        if "margins" in params:
            from ..second_paper.claims import margins

            margins(params["margins"])
        for u in params.get("exact_units", []):
            if not (isinstance(u, list) and len(u) == 2 and all(isinstance(x, int) for x in u)):
                raise ValueError(f"exact_units entries must be [set, part] pairs of integers, got {u!r}")
            check_run_settings(draw=u[0], part=u[1], forget_rows=params.get("forget_rows"))
        if "minimum_effects" in params:
            from ..experiments.claims import minimum_effects

            minimum_effects(params["minimum_effects"])
        if "backend" in params:
            from ..experiments.dispatch import BACKENDS

            if params["backend"] not in BACKENDS:
                raise ValueError(f"backend {params['backend']!r} is not valid; choose one of {list(BACKENDS)}")
        for r in params.get("ranks", []):
            if not isinstance(r, int) or r < 1:
                raise ValueError(f"ranks entries must be positive integers, got {r!r}")
        for m in params.get("methods", []):
            ablation.lora_method(m)
        for m in params.get("unlearning_methods", []):
            if m not in methods.TABLE1:
                raise ValueError(f"unlearning_methods entry {m!r} is not a row of Table 1; choose from "
                                 f"{list(methods.TABLE1)}")
        if "recipe" in params and params["recipe"] not in RECIPES:
            raise ValueError(f"recipe {params['recipe']!r} is not an injection recipe; choose one of {sorted(RECIPES)}")
        for m in params.get("module_sets", []):
            if m not in ablation.MODULE_SETS:
                raise ValueError(f"module_sets entry {m!r} is not valid; choose one of {list(ablation.MODULE_SETS)}")
    except ValueError as err:
        raise ValueError(f"{where}: {err}") from None


def _quiet_kernel_logs() -> None:
    """Stream cell output through papermill's logger, without lines a reader cannot act on."""
    import logging
    import warnings

    logger = logging.getLogger("papermill")
    if not any(getattr(h, "_unlearnkit", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("    %(message)s"))
        handler._unlearnkit = True
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    # The kernel logs on every start that its local TCP ports are not encrypted: a kernel
    # profile of the build's own (under _build/) keeps its log to errors.
    warnings.filterwarnings("ignore", message=".*without encryption.*")
    logging.getLogger("traitlets").setLevel(logging.ERROR)
    ipython_dir = ROOT / "_build" / "ipython"
    config = ipython_dir / "profile_default" / "ipython_kernel_config.py"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('c.IPKernelApp.log_level = "ERROR"\n')
    os.environ["IPYTHONDIR"] = str(ipython_dir)
    os.environ.setdefault("TQDM_MININTERVAL", "15")  # progress bars in the log: one line per 15 s at most
    os.environ.setdefault("PYTHONWARNINGS", "ignore::DeprecationWarning,ignore::FutureWarning,ignore:IProgress not found")


def execute(
    profile_name: str, out: Path, root: Path = ROOT, only: list[str] | None = None, backend: str | None = None
) -> dict[str, float]:
    """Execute the chapters into ``out`` (a copy of the book's sources); return seconds per chapter.

    ``backend`` (``inline``, ``processes``, ``submitit``: :mod:`unlearnkit.experiments.dispatch`)
    overrides the profile's for every chapter that runs a grid.

    Every chapter's parameters are checked first (:func:`check_chapter_parameters`); each
    chapter then runs with its cell output streamed to the terminal.
    """
    import papermill

    profile = load_profile(profile_name, root) | {"name": profile_name}
    if backend is not None:
        profile["all"] = dict(profile.get("all") or {}) | {"backend": backend}
    chapters = [n for n in toc_files(root) if source_of(n, root).suffix == ".ipynb"
                and (not only or Path(n).name in only)]
    planned = {}
    for name in chapters:
        src = source_of(name, root)
        declared = declared_parameters(src)
        params = {k: v for k, v in chapter_parameters(profile, name).items() if k in declared}
        check_chapter_parameters(name, params, profile_name)
        planned[name] = (src, params, declared)
    _quiet_kernel_logs()
    _record_runs(profile, profile_name)
    timings_path = out / "book" / TIMINGS_FILE
    # chapters executed earlier into the same folder on the same profile (``only=``) keep their times
    earlier = json.loads(timings_path.read_text()) if timings_path.is_file() else {}
    timings: dict[str, float] = dict(earlier.get("seconds") or {}) if earlier.get("profile") == profile_name else {}
    order = toc_files(root)
    # The introduction opens with every chapter's verdicts: when it reads them (it declares
    # findings_path), it executes after the chapters that write them.
    if order and order[0] in planned and "findings_path" in planned[order[0]][2]:
        order = order[1:] + order[:1]
    for name in order:
        src = source_of(name, root)
        dst = out / src.relative_to(root)
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix == ".md":
            shutil.copy2(src, dst)
            continue
        if name not in planned:
            continue
        src, params, declared = planned[name]
        start = time.perf_counter()
        k = chapters.index(name) + 1
        print(f"[book] ({k}/{len(chapters)}) executing {src.relative_to(root)} (profile {profile_name})", flush=True)
        if "timings_path" in declared:  # the provenance page reads the times so far
            params["timings_path"] = str(timings_path)
        if "findings_path" in declared:  # chapters add their verdicts; the introduction shows them
            params["findings_path"] = str(out / "book" / FINDINGS_FILE)
        papermill.execute_notebook(
            str(src), str(dst), parameters=params, kernel_name="python3",
            cwd=str(root), progress_bar=False, request_save_on_cell_execute=False, log_output=True,
        )
        collapse_code(dst)
        timings[name] = time.perf_counter() - start
        print(f"[book] ({k}/{len(chapters)}) {Path(name).name} done in {timings[name]:.0f} s", flush=True)
        write_json_atomic(timings_path, {"profile": profile_name, "seconds": timings})
    return {name: timings[name] for name in chapters if name in timings}


def _record_runs(profile: dict, profile_name: str) -> None:
    """For a profile with ``record_runs: true`` (its ``all`` section), every record its chapters
    compute is also written to ``results/<profile>/records/`` as it ends (the chapters' kernels
    inherit ``$UNLEARNKIT_RECORDS``): commit that folder as a long grid goes, and a fresh clone
    resumes from it (:mod:`unlearnkit.store.results`)."""
    from ..store import results

    if not (profile.get("all") or {}).get("record_runs") or os.environ.get(results.RECORDS_ENV):
        return
    folder = results.repository_results() / profile_name / "records"
    os.environ[results.RECORDS_ENV] = str(folder)
    print(f"[book] every record computed is also written to {folder}: commit it as it grows", flush=True)


def collapse_code(notebook: Path) -> None:
    """Hide every code cell's input behind a click in the rendered page (outputs stay):
    a reader sees prose, tables and figures first; the injected parameters included."""
    import nbformat

    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            tags = cell.metadata.setdefault("tags", [])
            if "hide-input" not in tags and "remove-input" not in tags:
                tags.append("hide-input")
    nbformat.write(nb, str(notebook))


def prepare(out: Path, root: Path = ROOT) -> Path:
    """Copy the book's configuration and static files into ``out``, where chapters execute."""
    out.mkdir(parents=True, exist_ok=True)
    for f in ("_config.yml", "_toc.yml"):
        shutil.copy2(root / f, out / f)
    shutil.copytree(root / "book" / "_static", out / "book" / "_static", dirs_exist_ok=True)
    return out


def render(src: Path, root: Path, builder: str = "html") -> Path:
    """Render the executed book in ``src`` with Jupyter Book into ``root/_build/<builder>``
    (warnings are errors); returns that folder."""
    _jupyter_book(src, root, builder)
    return root / "_build" / builder


def _jupyter_book(src: Path, root: Path, builder: str = "html") -> None:
    subprocess.run(
        [str(Path(sys.executable).parent / "jupyter-book"), "build", str(src), "--path-output", str(root),
         "--builder", builder, "-W", "-n", "--keep-going"],
        check=True,
    )


def build(profile_name: str = "cpu", root: Path = ROOT, backend: str | None = None) -> Path:
    out = prepare(root / "_build" / "src", root)
    from ..store.results import results_dir
    from . import measured

    cold = not any(results_dir().glob("*/*.json"))
    (out / "book" / FINDINGS_FILE).unlink(missing_ok=True)  # this build's verdicts only
    (out / "book" / TIMINGS_FILE).unlink(missing_ok=True)  # and its times
    start = time.perf_counter()
    measured.write_page(root)  # the Measured page, from the records so far
    timings = execute(profile_name, out, root, backend=backend)
    render(out, root)
    total = time.perf_counter() - start
    figures = {f"chapter {Path(n).name}": f"{s / 60:.1f} min" for n, s in timings.items()}
    figures["total (execute + render)"] = f"{total / 60:.1f} min"
    figures["results cache at the start"] = "empty (cold build)" if cold else "partly filled (warm build)"
    command = f"make book PROFILE={profile_name}" + (f" BACKEND={backend}" if backend else "")
    measured.record(f"book-{profile_name}", figures, command, root=root)
    measured.write_page(root)
    print("\n[book] chapter execution times (profile %s)" % profile_name)
    for name, sec in timings.items():
        print(f"  {name:<40s} {sec:8.1f} s")
    print(f"  {'total (execute + render)':<40s} {total:8.1f} s")
    html = root / "_build" / "html" / "index.html"
    print(f"[book] {html}")
    return html


def find_chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        path = shutil.which(name)
        if path:
            return path
    raise FileNotFoundError("no headless Chromium found (tried chromium, chromium-browser, google-chrome): "
                            "`make pdf` installs Debian's chromium; or `apt-get install chromium`")


def pdf(root: Path = ROOT) -> Path:
    """Print the executed book (``_build/src``, from :func:`build`) to ``_build/pdf/unlearnkit.pdf``."""
    src = root / "_build" / "src"
    if not (src / "_config.yml").is_file():
        raise FileNotFoundError(f"{src} holds no executed book: run `make book` (or --profile …) first")
    chromium = find_chromium()
    _jupyter_book(src, root, builder="singlehtml")
    # Sphinx writes the single page as <root doc>.html (here book/intro.html) but with links
    # relative to the output folder, so the page is printed from a copy placed there.
    single = root / "_build" / "singlehtml"
    page = single / "_print.html"
    shutil.copy2(single / f"{toc_files(root)[0]}.html", page)
    target = root / "_build" / "pdf" / "unlearnkit.pdf"
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(".part.pdf")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-pdf-header-footer",
                    "--run-all-compositor-stages-before-draw", "--virtual-time-budget=60000",
                    f"--print-to-pdf={tmp}", page.as_uri()], check=True, capture_output=True)
    if not tmp.is_file() or tmp.stat().st_size == 0:
        raise RuntimeError(f"Chromium wrote no PDF for {page}")
    tmp.replace(target)
    print(f"[book] {target}")
    return target


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Execute the chapters with papermill and build the book.")
    known = ", ".join(sorted(p.stem for p in (ROOT / "profiles").glob("*.yaml")))
    parser.add_argument("--profile", default="cpu", help=f"profiles/<name>.yaml ({known})")
    parser.add_argument("--pdf", action="store_true", help="also print the book to _build/pdf/unlearnkit.pdf")
    parser.add_argument(
        "--backend",
        choices=["inline", "processes", "submitit"],
        help="where the grids of runs execute (unlearnkit.experiments.dispatch; default: the profile's)",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="CHAPTER",
        help="execute only these chapters (e.g. table1) into _build/src, without rendering: a long "
        "chapter's runs fill the cache, and a later full build reuses them",
    )
    args = parser.parse_args(argv)
    if args.only:
        known = {Path(n).name for n in toc_files(ROOT)}
        unknown = sorted(set(args.only) - known)
        if unknown:
            parser.error(f"--only: no chapter {unknown} in _toc.yml (chapters: {sorted(known)})")
        start = time.perf_counter()
        timings = execute(args.profile, prepare(ROOT / "_build" / "src"), backend=args.backend, only=args.only)
        print(f"[book] executed {', '.join(timings)} in {(time.perf_counter() - start) / 60:.1f} min")
        return
    build(args.profile, backend=args.backend)
    if args.pdf:
        pdf()


if __name__ == "__main__":
    main()
