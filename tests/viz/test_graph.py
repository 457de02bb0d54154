"""Strategy diagrams: formats, nested strategies as subgraphs, and exact conditional edges.

The conditional edges drawn must be the routes the routers can really take. Two checks:

- what is drawn is what each router declares (its ``Literal`` return type);
- runs of every strategy through scenarios that reach every route (continue, stop, pause for
  budget and resume, approval) take only drawn edges, and take every drawn conditional edge
  of the strategies without nesting (so no declared route is one that cannot happen).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from typing import Any, get_args, get_type_hints

import pytest
from langchain_core.runnables.graph import Graph
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from ponder.api import make_context
from ponder.budget import Budget
from ponder.errors import ConfigurationError
from ponder.graphs.registry import StrategyName, build_strategy, make_config, strategy_spec
from ponder.nodes import TopUp
from ponder.testing import ScriptedChatModel
from ponder.verify.verifier import ExpectedAnswer, Verifier
from ponder.viz import draw, strategy_graph, to_ascii, to_dot, to_mermaid
from tests.viz.conftest import tree_model

STRATEGY_NAMES: tuple[str, ...] = get_args(StrategyName)
Edges = set[tuple[str, str]]


def drawn(graph: Graph, *, conditional: bool | None = None) -> Edges:
    return {
        (e.source, e.target)
        for e in graph.edges
        if conditional is None or e.conditional == conditional
    }


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_text_formats_show_every_node_and_edge(strategy: str) -> None:
    graph = strategy_graph(strategy)
    mermaid, ascii_text, dot = to_mermaid(graph), to_ascii(graph), to_dot(graph)
    assert mermaid.lstrip("-\n ").startswith("config:") and "graph TD;" in mermaid
    for node in graph.nodes:
        assert f'"{node}"' in dot
        assert node.replace(":", "\\3a") in mermaid
    assert dot.count(" -> ") == len(graph.edges)
    assert ascii_text.count(" --> ") == sum(not e.conditional for e in graph.edges)
    lines = ascii_text.splitlines()[:-1]  # the last line is the legend
    routes = sum(line.count("|") + 1 for line in lines if " ..> " in line)
    assert routes == sum(e.conditional for e in graph.edges)


def test_nested_strategies_are_subgraphs() -> None:
    graph = strategy_graph("adaptive")
    assert {"refine:critique", "search:expand"} <= set(graph.nodes)
    mermaid = to_mermaid(graph)
    assert "subgraph refine" in mermaid and "subgraph search" in mermaid
    dot = draw("adaptive", "dot")
    assert isinstance(dot, str)
    assert 'subgraph "cluster_search"' in dot and 'label="search (beam-search)"' in dot
    text = draw("adaptive", "ascii")
    assert "[refine: the refine strategy, nested]" in text
    assert "[search: the beam-search strategy, nested]" in text
    assert "select --> ../select" in text  # leaving the nested search for the outer select


def router_routes(strategy: str) -> dict[str, set[str]]:
    """Each conditional edge's source -> the routes its router declares (Literal or path)."""
    routes: dict[str, set[str]] = {}
    builder = build_strategy(strategy).builder
    for source, branches in builder.branches.items():
        for branch in branches.values():
            if branch.ends:
                routes.setdefault(source, set()).update(branch.ends.values())
                continue
            hints = get_type_hints(branch.path.func)  # type: ignore[attr-defined]
            routes.setdefault(source, set()).update(get_args(hints["return"]))
    return routes


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
def test_drawn_conditional_edges_are_the_declared_routes(strategy: str) -> None:
    graph = build_strategy(strategy).get_graph()  # not expanded: node names as declared
    declared = router_routes(strategy)
    for source, routes in declared.items():
        shown = {t for s, t in drawn(graph, conditional=True) if s == source}
        assert shown == {"__end__" if r == "__end__" else r for r in routes}, source
    commands = {s for s, _ in drawn(graph, conditional=True)} - set(declared)
    assert commands <= {"approve_refine", "approve_search"}  # Command(goto=...) nodes


def test_adaptive_routes_are_exact() -> None:
    got = drawn(strategy_graph("adaptive"), conditional=True)
    by_source: dict[str, set[str]] = {}
    for source, target in got:
        by_source.setdefault(source, set()).add(target)
    assert by_source["check"] == {
        "refine:prepare", "search:prepare", "approve_refine", "approve_search", "select",
        "pause",
    }  # fmt: skip
    # After critique-and-refine only search or the end can come: never attempts or refine.
    assert by_source["refine:select"] == {"search:prepare", "approve_search", "select", "pause"}
    # The plan's action (or, for a plan stored before the allocation policy, the phases).
    spent = {"samples", "programs", "check_samples", "attempts", "refine:prepare",
             "search:prepare", "approve_refine", "approve_search", "select", "pause"}  # fmt: skip
    assert by_source["plan"] == by_source["samples"] == by_source["programs"] == spent
    assert by_source["check_samples"] == spent - {"samples", "programs", "check_samples"}
    assert by_source["refine:check"] == {"refine:critique", "refine:select", "refine:pause"}
    assert by_source["refine:critique"] == {"refine:refine", "refine:select", "refine:pause"}


# -- what runs really do -----------------------------------------------------------------------


def _prefix(namespace: Sequence[str]) -> str:
    return ":".join(part.split(":")[0] for part in namespace)


def _ends(strategy: str) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Entry and exit nodes (expanded ids) of each nested strategy, by the node running it."""
    entries: dict[str, list[str]] = {}
    exits: dict[str, list[str]] = {}
    for name, sub in build_strategy(strategy).get_subgraphs():
        edges = sub.get_graph().edges
        entries[name] = [f"{name}:{e.target}" for e in edges if e.source == "__start__"]
        exits[name] = [f"{name}:{e.source}" for e in edges if e.target == "__end__"]
    return entries, exits


async def observe(
    strategy: str,
    model: ScriptedChatModel,
    *,
    budget: Budget,
    verifier: Verifier | None = None,
    **options: Any,
) -> Edges:
    """Run a strategy (persisted in memory, topped up or approved when it pauses) and return
    the transitions it took between nodes, as expanded ids."""
    config = make_config(strategy_spec(strategy), options)
    graph = strategy_spec(strategy).build(config, checkpointer=InMemorySaver())
    context = make_context(
        model, verifier=verifier, extractor=None, step_scorer=None, seed=0, call_timeout=30,
        persisted=True,
    )  # fmt: skip
    thread: Any = {"configurable": {"thread_id": "t"}, "recursion_limit": 200}
    inputs: Any = {"problem": "2 + 2?", "budget": budget.to_limits()}
    steps: dict[str, dict[int, set[str]]] = {}
    for _ in range(10):
        stream = graph.astream(inputs, thread, context=context, stream_mode="debug", subgraphs=True)
        event: Any
        async for namespace, event in stream:
            if event["type"] == "task":
                where = steps.setdefault(_prefix(namespace), {})
                where.setdefault(event["step"], set()).add(event["payload"]["name"])
        state = await graph.aget_state(thread)
        if not state.next:
            break
        asked = state.tasks[0].interrupts[0].value if state.tasks[0].interrupts else {}
        if isinstance(asked, dict) and asked.get("reason") == "approval":
            inputs = Command(resume=True)
        else:
            more = Budget(tokens=10**7, calls=10**4).to_limits()
            inputs = Command(resume=TopUp(budget=more, seconds_before=0.0))
    return transitions(strategy, steps)


def transitions(strategy: str, steps: dict[str, dict[int, set[str]]]) -> Edges:
    """Node pairs run in consecutive steps of one (sub)graph, as expanded ids."""
    entries, exits = _ends(strategy)
    taken: Edges = set()
    for prefix, by_step in steps.items():
        for step, names in by_step.items():
            for source in names:
                for target in by_step.get(step + 1, ()):
                    if prefix:
                        taken.add((f"{prefix}:{source}", f"{prefix}:{target}"))
                        continue
                    for s in exits.get(source, [source]):
                        taken.update((s, t) for t in entries.get(target, [target]))
    return taken


def replies(*texts: str) -> ScriptedChatModel:
    return ScriptedChatModel(replies=list(texts))


def four() -> ExpectedAnswer:
    return ExpectedAnswer("4")


def scenarios(
    strategy: str,
) -> list[tuple[ScriptedChatModel, Budget, Verifier | None, dict[str, Any]]]:
    big, one, two, four_calls = (
        Budget(tokens=10**6), Budget(calls=1), Budget(calls=2), Budget(calls=4)
    )  # fmt: skip
    if strategy == "greedy":  # one call, or none affordable (a pause, then a top-up)
        return [
            (replies("The answer is 4."), big, None, {}),
            (replies("The answer is 4."), Budget(tokens=40), None, {}),
        ]
    if strategy == "self-consistency":
        split = ("The answer is 4.", "It is 5.")  # the samples disagree: programs are drawn
        return [
            (replies(*split), big, None, {"max_samples": 2}),  # ends on its first step
            (replies(*split), one, None, {"max_samples": 3}),
            (replies(*split), big, None, {"max_samples": 5}),
            (replies(*split), Budget(calls=5), None, {"max_samples": 5}),
        ]
    if strategy == "best-of-n":
        return [
            (replies("It is 5.", "The answer is 4."), big, four(), {}),
            (replies("It is 5.", "The answer is 4."), one, four(), {}),
        ]
    if strategy == "refine":
        chain = ("The answer is 5.", "Wrong.", "The answer is 4.", "No errors.")
        return [
            (replies(*chain), big, None, {"max_rounds": 3}),
            (replies("The answer is 4."), big, four(), {}),
            (replies(*chain), one, None, {}),
            (replies(*chain), two, None, {}),
        ]
    if strategy in ("beam-search", "mcts"):
        shape = {"branching": 2, "max_depth": 2}
        return [(tree_model(), big, None, shape), (tree_model(), four_calls, None, shape)]
    return [
        (tree_model(), Budget(tokens=200_000), None, {"tokens_per_difficulty": 20_000,
                                                      "escalate": True}),
        (tree_model(), big, None, {"tokens_per_difficulty": 20_000, "escalate": True,
                                   "confirm_before": ("refine", "search")}),
        (tree_model(), Budget(calls=4), None, {}),
    ]  # fmt: skip


@pytest.mark.parametrize("strategy", STRATEGY_NAMES)
async def test_runs_take_drawn_edges_and_every_route_is_real(strategy: str) -> None:
    graph = strategy_graph(strategy)
    every = drawn(graph)
    taken: Edges = set()
    for model, budget, verifier, options in scenarios(strategy):
        taken |= await observe(strategy, model, budget=budget, verifier=verifier, **options)
    assert taken, "the scenarios ran nothing"
    assert taken <= every, f"transitions not drawn: {sorted(taken - every)}"
    if strategy != "adaptive":  # its rarer routes need plans the scenarios do not make
        routes = drawn(graph, conditional=True)
        assert routes <= taken, f"drawn routes never taken: {sorted(routes - taken)}"
    else:
        assert {
            ("check_samples", "attempts"), ("check", "refine:prepare"), ("check", "approve_refine"),
            ("approve_refine", "refine:prepare"), ("search:select", "select"),
        } <= taken  # fmt: skip


# -- PNG ---------------------------------------------------------------------------------------


def test_png_is_rendered_locally_by_graphviz() -> None:
    if shutil.which("dot") is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI needs Graphviz's dot (apt-get install graphviz; .ci/run does it)")
        pytest.skip("Graphviz's dot is not installed (apt-get install graphviz)")
    png = draw("adaptive", "png")
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000


def test_png_without_graphviz_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("ponder.viz.graph.shutil.which", lambda name: None)
    with pytest.raises(ConfigurationError, match="apt-get install graphviz"):
        draw("refine", "png")


def test_bad_format_and_strategy() -> None:
    with pytest.raises(ConfigurationError, match="unknown diagram format"):
        draw("refine", "svg")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unknown strategy"):
        draw("nope")


def _names(edges: Iterable[tuple[str, str]]) -> set[str]:
    return {name for edge in edges for name in edge}


def test_options_change_the_drawing_not_its_shape() -> None:
    plain = strategy_graph("mcts")
    tuned = strategy_graph("mcts", iterations=2, branching=5)
    assert _names(drawn(plain)) == _names(drawn(tuned))
