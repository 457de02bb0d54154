"""No module of the ``ponder`` package imports, directly or not, a module that imports it.

The graph is read from the source with `ast`, not by importing: every ``import`` and
``from ... import`` of a ``ponder`` module, at module level or inside a function (a lazy
import hides a cycle, it does not remove it), except under ``if TYPE_CHECKING:``.

An edge goes to the module imported: ``from ponder.a import b`` is an edge to ``ponder.a.b``
when that is a module, else to the package ``ponder.a`` (its ``__init__``). Importing
``ponder.a.b`` also runs the packages above it, so it is an edge to ``ponder.a`` too, except
to the packages above the importing module itself: those are being imported already when it
runs (a package's ``__init__`` importing its own submodules is the usual facade, not a
cycle). An explicit ``from ponder import name`` is an edge to ``ponder`` all the same.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import ponder

PACKAGE = Path(ponder.__file__).parent


def modules() -> dict[str, Path]:
    """Every module of the package, by dotted name (a package by its ``__init__``)."""
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = ["ponder", *path.relative_to(PACKAGE).with_suffix("").parts]
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement in ``tree``, at any depth, outside ``if TYPE_CHECKING:``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        if isinstance(node, ast.If) and _is_type_checking(node):
            for other in node.orelse:
                yield from _imports(ast.Module(body=[other], type_ignores=[]))
            continue
        yield from _imports(node)


def _owner(name: str, known: dict[str, Path]) -> str | None:
    """The module ``name`` is, or is in (``ponder.a.B`` is in ``ponder.a``)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imported(module: str, known: dict[str, Path]) -> set[str]:
    """The ``ponder`` modules ``module`` imports (see the module docstring)."""
    path = known[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in _imports(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets.update(filter(None, (_owner(alias.name, known) for alias in node.names)))
            continue
        base = node.module or ""
        if node.level:  # relative: from the package, up level - 1
            anchor = package
            for _ in range(node.level - 1):
                anchor = anchor.rpartition(".")[0]
            base = f"{anchor}.{base}" if base else anchor
        for alias in node.names:
            full = f"{base}.{alias.name}"
            target = full if full in known else _owner(base, known)
            if target is not None:
                targets.add(target)
    ancestors = {module.rsplit(".", depth)[0] for depth in range(1, module.count(".") + 1)}
    edges = {target for target in targets if target.startswith("ponder")}
    for target in list(edges):
        parts = target.split(".")
        for size in range(1, len(parts)):
            parent = ".".join(parts[:size])
            if parent not in ancestors:
                edges.add(parent)
    edges.discard(module)
    return edges


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(found)


def test_the_graph_reader_sees_lazy_relative_and_package_imports(tmp_path: Path) -> None:
    known = {
        "ponder": tmp_path / "__init__.py",
        "ponder.a": tmp_path / "a" / "__init__.py",
        "ponder.a.b": tmp_path / "a" / "b.py",
        "ponder.c": tmp_path / "c.py",
    }
    for path in known.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    known["ponder"].write_text("from ponder.c import f\n")
    known["ponder.a"].write_text("from .b import g\n")
    known["ponder.a.b"].write_text("from ponder.a import h\n")
    known["ponder.c"].write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from ponder import x\n"
        "def f():\n    from ponder.a.b import g\n"
    )
    graph = {module: imported(module, known) for module in known}
    assert graph == {
        "ponder": {"ponder.c"},
        "ponder.a": {"ponder.a.b"},
        "ponder.a.b": {"ponder.a"},  # explicit, from its own package: a real cycle
        "ponder.c": {"ponder.a", "ponder.a.b"},  # lazy; the TYPE_CHECKING import is skipped
    }
    assert cycles(graph) == [["ponder.a", "ponder.a.b"]]


def test_no_module_imports_in_a_cycle() -> None:
    known = modules()
    graph = {module: imported(module, known) for module in known}
    assert "ponder.setup" in graph["ponder.runs"] and "ponder.setup" in graph["ponder.api"]
    assert cycles(graph) == []
