"""Caches that know their code: the digest of a computing module's import closure changes
when a line that computes changes, and not when a docstring, a comment, a notebook, a test
or a module outside the closure (the book builder) changes."""

import shutil
from pathlib import Path

import pytest

from unlearnkit.store import codehash

PKG = Path(codehash.__file__).resolve().parents[1]
RUNS = "unlearnkit.experiments.runs"


@pytest.fixture()
def copy(tmp_path) -> Path:
    """A copy of the package's source to edit (``__pycache__`` left behind)."""
    dst = tmp_path / "unlearnkit"
    shutil.copytree(PKG, dst, ignore=shutil.ignore_patterns("__pycache__"))
    return dst


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1))


def test_the_copy_digests_like_the_package(copy):
    assert codehash.code_digest(RUNS, root=copy) == codehash.code_digest(RUNS)


def test_the_closure_follows_imports_inside_functions_and_stops_at_the_package():
    modules = codehash.module_digests(RUNS)
    # the trainer, the objectives, the training loop, the metrics, the evaluation, the models
    for m in (
        "unlearnkit.trainer",
        "unlearnkit.losses",
        "unlearnkit.training",
        "unlearnkit.metrics",
        "unlearnkit.fila",
        "unlearnkit.evaluation.downstream",
        "unlearnkit.models.testbed",
    ):
        assert m in modules, m
    assert not any(m.startswith("unlearnkit.book") for m in modules)  # the book builder is not computing code
    # nor are the verdicts: their statistics judge records, they compute none
    assert "unlearnkit.stats" not in modules and "unlearnkit.experiments.claims" not in modules
    assert "unlearnkit.cli" not in modules


def test_a_line_that_changes_a_number_changes_the_digest(copy):
    before = codehash.module_digests(RUNS, root=copy)
    # IHL's default retain weight 1.0 -> 0.5: one line, a different number
    _edit(
        copy / "losses.py",
        "def ihl(model, batch: UnlearnBatch, retain_weight: float = 1.0)",
        "def ihl(model, batch: UnlearnBatch, retain_weight: float = 0.5)",
    )
    after = codehash.module_digests(RUNS, root=copy)
    assert codehash.changed(before, after) == ["unlearnkit.losses"]
    assert codehash.code_digest(RUNS, root=copy) != codehash.code_digest(RUNS)


def test_the_trainer_and_a_metric_are_in_every_unlearning_key(copy):
    for path, old, new in (
        ("trainer.py", "betas: tuple[float, float] = (0.9, 0.98)", "betas: tuple[float, float] = (0.9, 0.99)"),
        ("metrics.py", "import torch", "import torch\nEXTRA = 1"),
    ):
        base = codehash.code_digest(RUNS, root=copy)
        _edit(copy / path, old, new)
        assert codehash.code_digest(RUNS, root=copy) != base, path


def test_docstrings_comments_and_the_book_builder_do_not_change_the_digest(copy):
    base = codehash.code_digest(RUNS, root=copy)
    text = (copy / "losses.py").read_text()
    doc_end = text.index('"""', 3)
    (copy / "losses.py").write_text(text[:doc_end] + " An edited docstring." + text[doc_end:] + "\n# a comment\n")
    _edit(
        copy / "trainer.py",
        "    Args:\n        model: a Hugging Face causal LM",
        "    Args:\n        model: any causal LM",
    )
    (copy / "book" / "build.py").write_text(
        (copy / "book" / "build.py").read_text() + "\nX = 1\n"
    )  # outside the closure
    assert codehash.code_digest(RUNS, root=copy) == base


def test_the_storage_code_keys_nothing(copy):
    """Where a record is kept (unlearnkit.store) changes no number in it: a change there leaves
    every run's key as it was, so a committed grid does not go stale with a storage fix."""
    modules = codehash.module_digests(RUNS)
    assert not any(m.startswith("unlearnkit.store") for m in modules)
    base = codehash.code_digest(RUNS, root=copy)
    _edit(copy / "store" / "results.py", "import time", "import time\nEXTRA = 1")
    assert codehash.code_digest(RUNS, root=copy) == base


def test_package_data_named_in_code_data_enters_the_digest(copy):
    module = "unlearnkit.evaluation.downstream"
    base = codehash.code_digest(module, root=copy)
    yaml = sorted((copy / "evaluation" / "lm_eval_tasks").glob("*.yaml"))[0]
    yaml.write_text(yaml.read_text() + "\n# edited\n")
    assert codehash.code_digest(module, root=copy) != base


def test_an_unknown_module_is_named():
    with pytest.raises(ValueError, match="no source for module 'unlearnkit.nope'"):
        codehash.code_digest("unlearnkit.nope")


def test_naming_helpers_and_grids_key_nothing(copy):
    """What only names or finds a computation (a model's key from its name, the rows an injection
    taught, the grid listings and survey) is in no run's, threshold's or injection's closure:
    editing it leaves every recorded grid fresh.  (Adding such helpers to models.registry,
    models.injection and experiments.runs made all 249 cpu-full records stale once.)"""
    computing = ("unlearnkit.experiments.runs", "unlearnkit.models.injection", "unlearnkit.models.testbed")
    outside = ("unlearnkit.models.keys", "unlearnkit.experiments.grids", "unlearnkit.book.grid")
    for module in computing:
        assert not set(outside) & set(codehash.module_digests(module)), module
    base = codehash.code_digest(*computing, root=copy)
    _edit(copy / "models" / "keys.py", "import json", "import json\nEXTRA = 1")
    _edit(
        copy / "experiments" / "grids.py",
        "from collections.abc import Callable",
        "from collections.abc import Callable\nEXTRA = 1",
    )
    assert codehash.code_digest(*computing, root=copy) == base


def test_a_result_neutral_edit_keeps_its_records_current_until_the_module_is_edited_again(copy):
    """Each entry of ``RESULT_NEUTRAL`` matches its module's text now (a dead entry fails here:
    remove it), stands in for the digest before the edit, and a further edit of the module is
    a new digest that no entry covers."""
    for (module, after), before in codehash.RESULT_NEUTRAL.items():
        parts = module.split(".")[1:]
        path = PKG.joinpath(*parts).with_suffix(".py")
        text = path.read_text()
        digests = codehash.module_digests(module)
        assert digests[module] == before, f"{module}: RESULT_NEUTRAL names an edit its text no longer is"
        _edit(copy.joinpath(*parts).with_suffix(".py"), text, text + "\nEDITED_AGAIN = 1\n")
        again = codehash.module_digests(module, root=copy)[module]
        assert again not in (before, after)
