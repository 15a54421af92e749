"""The package's layers (see ``unlearnkit/__init__.py``): imports only point down, never
into a sibling package's private names, and no module imports itself back through others
(no import cycles, inside a layer either; an import inside a function counts)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "unlearnkit"
# Lower number = lower layer; a module may import from its own layer or a lower one.
LAYERS = {"core": 0, "models": 1, "evaluation": 2, "experiments": 3, "second_paper": 4, "book": 5, "cli": 5}


def _layer_of(module: str) -> str:
    """``unlearnkit.a.b`` -> the layer name of package/module ``a`` (core for top-level modules)."""
    parts = module.split(".")
    if len(parts) < 2:
        return "core"
    head = parts[1]
    if head in LAYERS:
        return head
    return "core"


def _module_name(path: Path) -> str:
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """Absolute ``unlearnkit`` modules imported by ``path`` and the names taken from each."""
    return _imports_of(path.read_text(), _module_name(path), path.name == "__init__.py")


def _imports_of(source: str, module: str, is_package: bool) -> list[tuple[str, list[str]]]:
    tree = ast.parse(source)
    here = module.split(".")
    package = here if is_package else here[:-1]
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


def _violations(module: str, imports: list[tuple[str, list[str]]]) -> list[str]:
    mine = _layer_of(module)
    found = []
    for mod, names in imports:
        theirs = _layer_of(mod)
        if LAYERS[theirs] > LAYERS[mine]:
            found.append(f"{module} (layer {mine}) imports {mod} (layer {theirs}): imports point down")
        private = [n for n in names if n.startswith("_") and n != "__future__"]
        if private and mod.split(".")[:2] != module.split(".")[:2]:
            found.append(f"{module} imports private names {private} from {mod}")
    return found


FILES = sorted(p for p in PKG.rglob("*.py"))


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(PKG)))
def test_imports_point_down(path):
    assert _violations(_module_name(path), _imports(path)) == []


def test_every_subpackage_says_what_it_is():
    for init in PKG.rglob("__init__.py"):
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc and len(doc) > 80, f"{init.relative_to(PKG.parent)} needs a docstring saying what the package is"


def test_the_checker_sees_a_violation():
    """The rule above is not vacuous: upward imports, shims and private names are reported."""
    up = _imports_of("from ..experiments import runs\n", "unlearnkit.models.registry", False)
    assert _violations("unlearnkit.models.registry", up)
    core = _imports_of("from .evaluation.downstream import evaluate\n", "unlearnkit.trainer", False)
    assert _violations("unlearnkit.trainer", core)
    private = _imports_of("from ..evaluation.downstream import _task_manager\n", "unlearnkit.experiments.runs", False)
    assert _violations("unlearnkit.experiments.runs", private)
    down = _imports_of(
        "from .. import trainer\nfrom ..evaluation import downstream\n", "unlearnkit.experiments.runs", False
    )
    assert _violations("unlearnkit.experiments.runs", down) == []


def _graph(sources: dict[str, tuple[str, bool]]) -> dict[str, set[str]]:
    """``{module: modules of the package it imports}`` from ``{module: (source, is_package)}``.

    ``from pkg import name`` counts as importing ``pkg.name`` when that is a module, else ``pkg``;
    importing ``a.b`` also runs package ``a``'s ``__init__``, which is not counted as an edge
    back (a package re-exporting its modules is not a cycle of theirs).
    """
    graph = {}
    for module, (source, is_package) in sources.items():
        edges = set()
        for mod, names in _imports_of(source, module, is_package):
            if mod in sources:
                edges.add(mod)
            for n in names:
                if f"{mod}.{n}" in sources:
                    edges.add(f"{mod}.{n}")
        graph[module] = edges - {module}
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected component with more than one module (Tarjan), sorted."""
    index, low, stack, on, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(out)


def _package_graph() -> dict[str, set[str]]:
    sources = {_module_name(p): (p.read_text(), p.name == "__init__.py") for p in FILES}
    graph = _graph(sources)
    # a package's __init__ re-exporting its own modules is how Python packages work, not a cycle
    return {m: {e for e in edges if not m.startswith(e + ".")} for m, edges in graph.items()}


def test_no_import_cycles_anywhere():
    assert _cycles(_package_graph()) == []


def test_the_cycle_checker_sees_a_cycle_inside_one_layer():
    sources = {
        "unlearnkit.experiments.runs": ("from .exact import reference\n", False),
        "unlearnkit.experiments.exact": ("def f():\n    from .runs import before\n", False),
        "unlearnkit.experiments.claims": ("from . import runs\n", False),
    }
    assert _cycles(_graph(sources)) == [["unlearnkit.experiments.exact", "unlearnkit.experiments.runs"]]
    del sources["unlearnkit.experiments.exact"]
    assert _cycles(_graph(sources)) == []


def test_few_modules_at_the_top_and_every_subpackage_says_what_it_is():
    """The core a reader looks for stays on top; storage and training internals live in
    subpackages, each of whose ``__init__`` docstring says what it is (issue 43: at most 10)."""
    top = sorted(p.stem for p in PKG.glob("*.py") if p.name != "__init__.py")
    assert len(top) <= 10, top
    for core in ("losses", "fila", "metrics", "trainer"):
        assert core in top
    for init in PKG.glob("*/__init__.py"):
        tree = ast.parse(init.read_text())
        assert ast.get_docstring(tree), f"{init.relative_to(PKG.parent)} has no docstring"
