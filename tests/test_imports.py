"""The package's modules import one another without cycles.

Every ``import``/``from ... import`` of a bayescale module counts, at the top of a module or
inside a function (lazy imports still make a cycle: the two modules cannot be read or tested
apart). Imports under ``if TYPE_CHECKING:`` do not: they never run and are annotations only.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "bayescale"


def _type_checking_nodes(tree: ast.Module) -> set[int]:
    """ids of the import nodes under ``if TYPE_CHECKING:``."""
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for stmt in node.body:
                skipped |= {id(n) for n in ast.walk(stmt)}
    return skipped


def import_graph(package: Path = PACKAGE, type_only: bool = False) -> dict[str, set[str]]:
    """Module name (``fit``, ``__init__``) -> the bayescale modules it imports.

    ``type_only=True`` counts the imports under ``if TYPE_CHECKING:`` too.
    """
    modules = {p.stem for p in package.glob("*.py")}
    graph: dict[str, set[str]] = {}
    for path in sorted(package.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skipped = set() if type_only else _type_checking_nodes(tree)
        deps: set[str] = set()
        for node in ast.walk(tree):
            if id(node) in skipped:
                continue
            if isinstance(node, ast.Import):
                for alias in node.names:
                    parts = alias.name.split(".")
                    if parts[0] == "bayescale":
                        deps.add(parts[1] if len(parts) > 1 else "__init__")
            elif isinstance(node, ast.ImportFrom) and node.module:
                parts = node.module.split(".")
                if parts[0] != "bayescale":
                    continue
                if len(parts) > 1:
                    deps.add(parts[1])
                else:  # from bayescale import x: a module, or a name of __init__
                    deps |= {a.name if a.name in modules else "__init__" for a in node.names}
        deps.discard(path.stem)
        graph[path.stem] = deps & modules
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_the_graph_sees_lazy_imports():
    graph = import_graph()
    assert "loss_model" in graph["loss_fit"]  # imported inside fit_loss only
    assert "pymc" not in graph["loss_fit"]


def test_cycles_are_found_and_named():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": set()}
    assert cycles(graph) == [["a", "b", "c"]]


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "import cycles among bayescale modules: " + "; ".join(
        " <-> ".join(c) for c in found
    )


def test_no_type_only_cycles():
    # annotations-only cycles still tie two modules together for a reader and for mypy; the
    # result documents name results.Result, not the pipelines that import them
    found = cycles(import_graph(type_only=True))
    assert not found, "type-only import cycles: " + "; ".join(" <-> ".join(c) for c in found)
