"""The package's layers (see ``unlearnkit/__init__.py``): imports only point down, never
into a sibling package's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "unlearnkit"
# Lower number = lower layer; a module may import from its own layer or a lower one.
LAYERS = {"core": 0, "models": 1, "evaluation": 2, "experiments": 3, "second_paper": 4, "book": 5, "cli": 5}
# Compatibility names at the top of the package that re-export a higher layer's module.
SHIMS = {"claims"}


def _layer_of(module: str) -> str:
    """``unlearnkit.a.b`` -> the layer name of package/module ``a`` (core for top-level modules)."""
    parts = module.split(".")
    if len(parts) < 2:
        return "core"
    head = parts[1]
    if head in LAYERS:
        return head
    if head in SHIMS:
        return "shim"
    return "core"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """Absolute ``unlearnkit`` modules imported by ``path`` and the names taken from each."""
    tree = ast.parse(path.read_text())
    here = _module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            if not mod.startswith("unlearnkit"):
                continue
            names = [a.name for a in node.names]
            if node.module is None or mod.count(".") == 0:  # from . import a, b  -> modules a, b
                out.extend((f"{mod}.{n}", []) for n in names)
            else:
                out.append((mod, names))
        elif isinstance(node, ast.Import):
            out.extend((a.name, []) for a in node.names if a.name.startswith("unlearnkit"))
    return out


FILES = sorted(p for p in PKG.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_point_down(path):
    me = _module_name(path)
    mine = _layer_of(me)
    if mine == "shim":
        return
    for mod, names in _imports(path):
        theirs = _layer_of(mod)
        assert theirs != "shim", f"{me} imports the compatibility name {mod}; import the real module"
        assert LAYERS[theirs] <= LAYERS[mine], f"{me} (layer {mine}) imports {mod} (layer {theirs}): imports point down"
        same_package = mod.split(".")[:2] == me.split(".")[:2]
        private = [n for n in names if n.startswith("_") and n != "__future__"]
        assert same_package or not private, f"{me} imports private names {private} from {mod}"


def test_every_subpackage_says_what_it_is():
    for init in PKG.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 80, f"{init.relative_to(PKG.parent)} needs a docstring saying what the package is"


def test_the_checker_sees_a_violation(tmp_path):
    """The rule above is not vacuous: an upward import is reported."""
    assert LAYERS[_layer_of("unlearnkit.experiments.runs")] > LAYERS[_layer_of("unlearnkit.trainer")]
    imports = _imports(PKG / "experiments" / "runs.py")
    assert any(m == "unlearnkit.trainer" for m, _ in imports)
    assert any(m.startswith("unlearnkit.evaluation") for m, _ in imports)
