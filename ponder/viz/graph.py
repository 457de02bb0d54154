"""Diagrams of the strategy graphs: Mermaid, ASCII, Graphviz DOT, and PNG through Graphviz.

Each diagram is drawn from LangGraph's own view of the compiled graph, expanded into nested
strategies (``get_graph(xray=True)``), so what is drawn is what runs:

- a nested strategy (the adaptive strategy's ``refine`` and ``search``) is a subgraph;
- conditional edges (dashed) are exactly the routes a router can return: every router
  declares its return type as a ``Literal`` of its routes (or the node lists its
  destinations), and LangGraph reads the edges from there.

The text formats are pure functions of the graph (`to_mermaid`, `to_ascii`, `to_dot`).
PNG is rendered on this machine by Graphviz's ``dot`` program (Debian/Ubuntu: ``apt-get
install graphviz``); nothing is sent to a web service.

Example:
    >>> print(to_ascii(strategy_graph("self-consistency"), title="self-consistency"), end="")
    self-consistency
      __start__ --> prepare
      prepare --> attempt
      attempt ..> attempt | pause | programs | select
      pause --> attempt
      programs ..> attempt | pause | select
      select --> __end__
    (--> always, ..> conditional: one of the routes)
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterable, Mapping
from typing import Any, Literal, get_args

from langchain_core.runnables.graph import Edge, Graph

from ponder.errors import ConfigurationError
from ponder.viz.viewer import nested_strategies

__all__ = (
    "DiagramFormat",
    "draw",
    "render_png",
    "strategy_graph",
    "to_ascii",
    "to_dot",
    "to_mermaid",
)

DiagramFormat = Literal["mermaid", "ascii", "dot", "png"]
"""How `draw` renders a strategy.

- ``mermaid``: Mermaid flowchart text (GitHub and many editors render it).
- ``ascii``: plain text, one line per node and its outgoing edges, nested strategies indented.
- ``dot``: Graphviz DOT text.
- ``png``: a PNG image rendered from the DOT text by Graphviz's ``dot`` program.
"""

_START, _END = "__start__", "__end__"
_DOT_TIMEOUT = 60.0


def strategy_graph(strategy: str, **options: Any) -> Graph:
    """Return the drawable graph of ``strategy`` with nested strategies expanded.

    Raises:
        ConfigurationError: Unknown strategy or option.
    """
    from ponder.graphs.registry import make_config, strategy_spec

    spec = strategy_spec(strategy)
    return spec.build(make_config(spec, options)).get_graph(xray=True)


def _nested(node_id: str) -> tuple[str, ...]:
    """The subgraph path of a node id (``search:expand`` -> ``("search",)``)."""
    return tuple(node_id.split(":")[:-1])


def _label(node_id: str) -> str:
    return node_id.split(":")[-1]


def _targets(edges: Iterable[Edge], source: str) -> tuple[list[str], list[str]]:
    always = [e.target for e in edges if e.source == source and not e.conditional]
    routes = [e.target for e in edges if e.source == source and e.conditional]
    return always, routes


def _ordered_nodes(graph: Graph) -> list[str]:
    """Node ids in breadth-first order from the start, unreachable ones last.

    Each nested strategy's nodes come together, after the nodes of the graph around it.
    """
    order: list[str] = []
    seen: set[str] = set()
    queue = [_START] if _START in graph.nodes else []
    while queue:
        node = queue.pop(0)
        if node in seen or node not in graph.nodes:
            continue
        seen.add(node)
        order.append(node)
        queue.extend(e.target for e in graph.edges if e.source == node)
    order.extend(node for node in graph.nodes if node not in seen)
    groups: dict[tuple[str, ...], int] = {}
    for node in order:
        groups.setdefault(_nested(node), len(groups))
    return sorted(order, key=lambda node: (len(_nested(node)) > 0, groups[_nested(node)]))


def to_mermaid(graph: Graph) -> str:
    """Return the graph as Mermaid flowchart text (nested strategies as subgraphs)."""
    return str(graph.draw_mermaid(with_styles=True))


def to_ascii(graph: Graph, *, title: str = "", nested: Mapping[str, str] | None = None) -> str:
    """Return the graph as plain text: each node with the nodes it goes to.

    ``a --> b`` is an edge always taken; ``a ..> b | c`` a conditional edge taking one of the
    routes listed. The nodes of a nested strategy are listed indented under the node that
    runs it (named after the strategy in ``nested``, node -> strategy); ``../x`` is node ``x``
    of the graph around it.
    """
    nested = nested or {}
    lines = [title or "strategy"]
    shown: tuple[str, ...] = ()
    for node in _ordered_nodes(graph):
        path = _nested(node)
        if path != shown:
            common = 0
            while common < min(len(path), len(shown)) and path[common] == shown[common]:
                common += 1
            for depth in range(common, len(path)):
                strategy = nested.get(path[depth], "a")
                heading = f"[{path[depth]}: the {strategy} strategy, nested]"
                lines.append("  " * (depth + 1) + heading)
            shown = path
        indent = "  " * (len(path) + 1)
        always, routes = _targets(graph.edges, node)
        for target in always:
            lines.append(f"{indent}{_label(node)} --> {_show(target, path)}")
        if routes:
            shown_routes = " | ".join(sorted(_show(t, path) for t in routes))
            lines.append(f"{indent}{_label(node)} ..> {shown_routes}")
    lines.append("(--> always, ..> conditional: one of the routes)")
    return "\n".join(lines) + "\n"


def _show(target: str, path: tuple[str, ...]) -> str:
    """A target as seen from inside ``path``: its short name there, ``../name`` outside."""
    where = _nested(target)
    if where[: len(path)] == path:
        return ":".join((*where[len(path) :], _label(target)))
    common = 0
    while common < min(len(where), len(path)) and where[common] == path[common]:
        common += 1
    return "../" * (len(path) - common) + ":".join((*where[common:], _label(target)))


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: Graph, *, title: str = "", nested: Mapping[str, str] | None = None) -> str:
    """Return the graph as Graphviz DOT text (nested strategies as clusters).

    ``nested`` names the strategy each node runs (node -> strategy), for the cluster labels.
    """
    nested = nested or {}
    lines = [
        "digraph strategy {",
        "  rankdir=TB; nodesep=0.35; ranksep=0.4;",
        '  node [shape=box, style="rounded,filled", fillcolor="#f2f0ff", fontname="Helvetica",'
        " fontsize=11];",
        '  edge [fontname="Helvetica", fontsize=9, color="#555555"];',
    ]
    if title:
        lines.append(f"  labelloc=t; label={_quote(title)}; fontname=Helvetica;")
    clusters: dict[tuple[str, ...], list[str]] = {}
    for node in _ordered_nodes(graph):
        clusters.setdefault(_nested(node), []).append(node)

    def emit(path: tuple[str, ...], depth: int) -> None:
        pad = "  " * depth
        for node in clusters.get(path, []):
            attrs = f"label={_quote(_label(node))}"
            if node in (_START, _END):
                attrs += ', shape=oval, fillcolor="#ffffff"' if node == _START else ""
                attrs += ', shape=oval, fillcolor="#bfb6fc"' if node == _END else ""
            lines.append(f"{pad}{_quote(node)} [{attrs}];")
        children = sorted({p[: len(path) + 1] for p in clusters if len(p) > len(path)})
        for child in children:
            if child[: len(path)] != path:
                continue
            lines.append(f"{pad}subgraph {_quote('cluster_' + ':'.join(child))} {{")
            lines.append(
                f"{pad}  label={_quote(_cluster_label(child[-1], nested))}; "
                'style="rounded,dashed"; color="#8877cc";'
            )
            emit(child, depth + 1)
            lines.append(f"{pad}}}")

    emit((), 1)
    for edge in graph.edges:
        style = ' [style=dashed, color="#7a6fd0"]' if edge.conditional else ""
        lines.append(f"  {_quote(edge.source)} -> {_quote(edge.target)}{style};")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _cluster_label(node: str, nested: Mapping[str, str]) -> str:
    strategy = nested.get(node)
    return node if strategy is None or strategy == node else f"{node} ({strategy})"


def render_png(dot_text: str) -> bytes:
    """Render DOT text to PNG with Graphviz's ``dot`` program, on this machine.

    Raises:
        ConfigurationError: ``dot`` is not installed (install the ``graphviz`` package), or it
            failed.
    """
    dot = shutil.which("dot")
    if dot is None:
        raise ConfigurationError(
            "PNG diagrams are rendered by Graphviz's `dot` program, which is not installed: "
            "apt-get install graphviz (or your system's graphviz package); "
            "--format mermaid, ascii and dot need nothing"
        )
    try:
        done = subprocess.run(
            [dot, "-Tpng"], input=dot_text.encode("utf-8"), capture_output=True,
            timeout=_DOT_TIMEOUT, check=False,
        )  # fmt: skip
    except subprocess.TimeoutExpired as exc:
        raise ConfigurationError(f"Graphviz `dot` took more than {_DOT_TIMEOUT:g} s") from exc
    if done.returncode != 0 or not done.stdout.startswith(b"\x89PNG"):
        raise ConfigurationError(
            f"Graphviz `dot` failed ({done.returncode}): {done.stderr.decode(errors='replace')}"
        )
    return done.stdout


def draw(strategy: str, format: DiagramFormat = "mermaid", **options: Any) -> str | bytes:
    """Draw ``strategy``'s graph: text for ``mermaid``, ``ascii`` and ``dot``; PNG bytes.

    Raises:
        ConfigurationError: Unknown strategy, option or format; ``dot`` missing for PNG.

    Example:
        >>> "subgraph search" in draw("adaptive", "mermaid")
        True
    """
    if format not in get_args(DiagramFormat):
        raise ConfigurationError(
            f"unknown diagram format {format!r}; "
            f"choose one of: {', '.join(get_args(DiagramFormat))}"
        )
    graph = strategy_graph(strategy, **options)
    if format == "mermaid":
        return to_mermaid(graph)
    nested = nested_strategies(strategy, options)
    if format == "ascii":
        return to_ascii(graph, title=strategy, nested=nested)
    dot_text = to_dot(graph, title=strategy, nested=nested)
    return dot_text if format == "dot" else render_png(dot_text)
