"""Digests of the code that computes a cached number, so that a cache knows its code.

Every cache key of the project (run records, capability and threshold records, testbeds,
injected models, the second paper's models and records) includes :func:`code_digest` of the
module that computes it.  The digest covers that module and every ``unlearnkit`` module it
imports, directly or through others (imports inside functions count), read from the source
files, not from the running interpreter.  Each file enters as its syntax tree with
docstrings removed (``ast.dump``), so comments, docstrings and formatting do not change a
digest, while any change to what the code does does.  Package data a module names in a
module-level ``CODE_DATA = ("pattern", …)`` (glob patterns relative to the module's folder, e.g.
lm-eval task YAMLs) enter byte for byte.

Nothing outside the import closure enters: notebooks, the README, tests, benchmarks and the
book builder (``unlearnkit.book``, imported by no computing module) never change a key.  Nor
does this package, ``unlearnkit.store`` (:data:`NOT_COMPUTING`): where and how a record is kept,
looked up and labelled changes no number in it, and a key that moved with the storage code
would make every recorded grid stale at once.
This module reads files; it imports nothing of the package it hashes.

One more exception, by name: an edit listed in :data:`RESULT_NEUTRAL` with the tests that show
it changes no number a record holds (the module's digest after the edit stands for its digest
before, so records computed before it stay current).  An entry holds for that exact text only:
any later edit of the module gives a new digest, and ``tests/test_codehash.py`` fails until the
entry goes.
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

PACKAGE = "unlearnkit"
ROOT = Path(__file__).resolve().parents[1]  # the package folder (this module lives in store/)
# Packages that keep records but compute none: left out of every digest (and not followed).
NOT_COMPUTING = ("unlearnkit.store",)


# {(module, its digest after an edit): its digest before}, each with the evidence that the edit
# changes no recorded number.
RESULT_NEUTRAL = {
    # lm-eval batches bounded by the memory of their logits (downstream.bounded_batch).  On the
    # testbeds every batch stays 32 requests, the computation before the edit exactly
    # (tests/test_downstream.py::test_the_testbeds_are_scored_in_batches_of_32_as_before_the_bound);
    # where batches shrink (SmolLM2), the scores are those of batches of 32
    # (::test_memory_bounded_batches_score_as_batches_of_32).
    ("unlearnkit.evaluation.downstream", "73c120c3b2a8"): "6db84f5774c7",
    # Five extra 32-row forget sets, draws 5-9 (issue 46, data.extra_forget_set), accepted by the
    # run settings and named by their source, and the injection recipe "extra" that teaches them.
    # Draws 0-4, their names and every other recipe are as before
    # (tests/test_data.py::test_the_extra_draws_leave_draws_0_to_4_as_they_were,
    # tests/test_injection.py::test_the_extra_recipe_leaves_the_other_recipes_as_they_were).
    ("unlearnkit.data", "c8f84b3610de"): "91fe895d47b8",
    ("unlearnkit.experiments.runs", "36f176b19376"): "aa0ff5c14138",
    ("unlearnkit.models.injection", "d56650afc34f"): "6c65d3565dd2",
}


def _computing(module: str) -> bool:
    return not any(module == p or module.startswith(p + ".") for p in NOT_COMPUTING)


def _path(module: str, root: Path) -> Path | None:
    """The source file of ``module`` under ``root`` (a package's ``__init__.py``), or None."""
    parts = module.split(".")[1:]
    base = root.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _without_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if (
                body
                and isinstance(body[0], ast.Expr)
                and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)
            ):
                node.body = body[1:] or [ast.Pass()]
    return tree


def _imports(tree: ast.AST, module: str, is_package: bool, root: Path) -> set[str]:
    """The package's modules that ``module`` imports (``from pkg import mod`` names a module)."""
    here = module.split(".")
    package = here if is_package else here[:-1]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if mod.split(".")[0] != PACKAGE:
                continue
            if _path(mod, root) is not None:
                found.add(mod)
            for alias in node.names:
                if _path(f"{mod}.{alias.name}", root) is not None:
                    found.add(f"{mod}.{alias.name}")
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == PACKAGE and _path(a.name, root))
    return found


def _code_data(tree: ast.AST) -> tuple[str, ...]:
    """The glob patterns of a module-level ``CODE_DATA = (…)`` assignment, if any."""
    for node in getattr(tree, "body", []):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "CODE_DATA" for t in node.targets):
            return tuple(ast.literal_eval(node.value))
    return ()


@functools.cache
def _file_info(path: Path, mtime_ns: int, module: str, is_package: bool, root: Path):
    """``(digest of the docstring-free syntax tree, package modules imported, CODE_DATA)`` of one
    source file, parsed once per version of the file (the digest is asked for on every cache lookup)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    imports, patterns = _imports(tree, module, is_package, root), _code_data(tree)
    return hashlib.sha256(ast.dump(_without_docstrings(tree)).encode()).hexdigest(), imports, patterns


def module_digests(*modules: str, root: Path | None = None) -> dict[str, str]:
    """``{module: digest of its code}`` for ``modules`` and every package module they import."""
    root = Path(root or ROOT)
    todo, seen, out = list(modules), set(), {}
    while todo:
        module = todo.pop()
        if module in seen or not _computing(module):
            continue
        seen.add(module)
        path = _path(module, root)
        if path is None:
            raise ValueError(f"no source for module {module!r} under {root}")
        tree_digest, imports, patterns = _file_info(
            path, path.stat().st_mtime_ns, module, path.name == "__init__.py", root
        )
        h = hashlib.sha256(tree_digest.encode())
        for pattern in patterns:
            for data in sorted(path.parent.glob(pattern)):
                h.update(data.relative_to(root).as_posix().encode() + b"\0" + data.read_bytes())
        digest = h.hexdigest()[:12]
        out[module] = RESULT_NEUTRAL.get((module, digest), digest)
        todo.extend(sorted(imports - seen))
    return dict(sorted(out.items()))


def code_digest(*modules: str, root: Path | None = None) -> str:
    """One short digest of the code of ``modules`` and everything of the package they import."""
    blob = "\n".join(f"{m}:{d}" for m, d in module_digests(*modules, root=root).items())
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def changed(old: dict[str, str], new: dict[str, str]) -> list[str]:
    """The modules whose digest differs between two :func:`module_digests` (added or removed too)."""
    return sorted(m for m in set(old) | set(new) if old.get(m) != new.get(m))
