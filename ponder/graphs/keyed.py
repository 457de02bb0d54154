"""A strategy under the user's own state keys, so several can run side by side in one graph.

A compiled strategy reads ``problem`` and ``budget`` and writes ``answer``, ``candidates``,
``ledger`` and the rest of `ponder.state.RunOutput`: two of them in parallel branches of one
graph would write the same keys in the same step (LangGraph's ``InvalidUpdateError``), and a
graph whose question lives under another key would have to copy it first. `keyed` wraps a
strategy in a one-node graph that reads its inputs from the keys the user names and writes
its whole outcome (a `ponder.state.RunOutput`) under one key of the user's choosing::

    builder.add_node("vote", build_strategy("self-consistency",
                                            input_keys={"problem": "question"},
                                            output_key="vote"))
    builder.add_node("check", build_strategy("best-of-n", n=4,
                                             input_keys={"problem": "question"},
                                             output_key="check"))

The strategy runs as a subgraph of the node (LangGraph's "call a graph inside a node"): it
is checkpointed with the parent's saver, pauses and resumes with it, and streams its events
into the parent's stream. Each keyed strategy spends its own budget and keeps its own
ledger, inside its outcome.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, cast, get_type_hints

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END, START, StateGraph, add_messages
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from typing_extensions import TypedDict

from ponder._sync import dual_node
from ponder.errors import ConfigurationError
from ponder.events import forwarding
from ponder.graphs.skeleton import StrategyGraph
from ponder.state import RunInput, RunOutput

__all__ = ("INPUT_KEYS", "keyed")

INPUT_KEYS = tuple(get_type_hints(RunInput))
"""The keys a strategy reads (`ponder.state.RunInput`), which ``input_keys`` may rename."""

_OUTPUT_KEYS = tuple(get_type_hints(RunOutput))


def keyed(
    graph: StrategyGraph,
    *,
    input_keys: Mapping[str, str] | None = None,
    output_key: str,
    messages_key: str | None = None,
    checkpointer: BaseCheckpointSaver[Any] | None = None,
    recursion_limit: int | None = None,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Return ``graph`` reading the user's keys and writing its outcome under ``output_key``.

    Args:
        graph: A compiled strategy (`ponder.graphs.build_strategy`).
        input_keys: Strategy input key -> the user's key it is read from, for
            ``problem``, ``budget`` and any other key of `ponder.state.RunInput`
            (``candidates``, ``ledger``, ...). ``problem`` and ``budget`` are read under
            their own names unless renamed; the other input keys only when named here.
        output_key: The user's key that receives the strategy's outcome: a dict with the
            keys of `ponder.state.RunOutput` (``answer``, ``candidates``, ``votes``,
            ``ledger``, ``status``, ``stop_reason``, ``errors``).
        messages_key: A messages key of the user's (LangGraph's ``add_messages``) that
            receives the answer as a final ``AIMessage`` (its ``response_metadata`` has the
            run's ``status`` and ``stop_reason``). The problem may be read from a messages
            key too: it is then the last human message's text.
        checkpointer: A saver, for the graph run on its own (nested, the parent's is used).
        recursion_limit: The steps the strategy may need (its config's); the strategy runs
            with the larger of this and the caller's limit.

    Raises:
        ConfigurationError: An input key is not one a strategy reads, two strategy keys are
            read from one user key, or ``output_key`` is also an input key.

    Example:
        >>> from ponder.graphs import build_strategy
        >>> graph = build_strategy("self-consistency", input_keys={"problem": "question"},
        ...                        output_key="vote")
        >>> sorted(graph.get_input_jsonschema()["properties"])
        ['budget', 'question']
        >>> list(graph.get_output_jsonschema()["properties"])
        ['vote']
    """
    mapping = {"problem": "problem", "budget": "budget", **dict(input_keys or {})}
    _check_keys(mapping, output_key, messages_key)
    hints = get_type_hints(RunInput)
    read = {theirs: hints[ours] for ours, theirs in mapping.items()}
    written: dict[str, Any] = {output_key: RunOutput}
    if messages_key is not None:
        written[messages_key] = Annotated[list[AnyMessage], add_messages]
        if mapping["problem"] == messages_key:
            read[messages_key] = written[messages_key]
    keys_in = _typed_dict(f"{graph.name}_input", read)
    key_out = _typed_dict(f"{graph.name}_output", written)
    state = _typed_dict(f"{graph.name}_state", {**read, **written})
    strategy = cast("Any", graph)

    async def run(
        values: Mapping[str, Any], *, config: RunnableConfig, runtime: Runtime[Any]
    ) -> dict[str, Any]:
        inputs = {ours: values[theirs] for ours, theirs in mapping.items() if theirs in values}
        if isinstance(inputs.get("problem"), list):
            inputs["problem"] = _last_question(inputs["problem"], mapping["problem"])
        for required in ("problem", "budget"):
            if required not in inputs:
                raise ConfigurationError(
                    f"the strategy {graph.name!r} reads its {required} from the key "
                    f"{mapping[required]!r}, which the state does not have"
                )
        limit = max(config.get("recursion_limit", 25), recursion_limit or 0)
        final = await strategy.ainvoke(
            inputs, {**config, "recursion_limit": limit}, context=runtime.context
        )
        outcome = {key: final.get(key) for key in _OUTPUT_KEYS}
        if messages_key is None:
            return {output_key: outcome}
        reply = AIMessage(
            content=outcome["answer"] or "", name=graph.name,
            response_metadata={"status": outcome["status"], "stop_reason": outcome["stop_reason"]},
        )  # fmt: skip
        return {output_key: outcome, messages_key: [reply]}

    builder: StateGraph[Any, Any, Any, Any] = StateGraph(
        state, input_schema=keys_in, output_schema=key_out
    )
    builder.add_node(graph.name, dual_node(run, name=graph.name))
    builder.add_edge(START, graph.name)
    builder.add_edge(graph.name, END)
    wrapped = builder.compile(checkpointer=checkpointer, name=graph.name)
    forwarding(wrapped)  # its progress events reach the caller's stream (ponder.events)
    return wrapped


def _check_keys(mapping: Mapping[str, Any], output_key: object, messages_key: object) -> None:
    unknown = sorted(set(mapping) - set(INPUT_KEYS))
    if unknown:
        raise ConfigurationError(
            f"input_keys names {', '.join(map(repr, unknown))}, which a strategy does not "
            f"read; it reads {', '.join(INPUT_KEYS)}"
        )
    for ours, theirs in mapping.items():
        if not isinstance(theirs, str) or not theirs:
            raise ConfigurationError(f"input_keys[{ours!r}] must be a key name, got {theirs!r}")
    if len(set(mapping.values())) < len(mapping):
        raise ConfigurationError(f"input_keys reads two strategy keys from one key: {mapping}")
    if not isinstance(output_key, str) or not output_key:
        raise ConfigurationError(f"output_key must be a key name, got {output_key!r}")
    if output_key in mapping.values() or output_key == messages_key:
        raise ConfigurationError(
            f"output_key {output_key!r} is also an input or messages key; the outcome needs a "
            "key of its own"
        )


def _last_question(messages: list[Any], key: str) -> str:
    for message in reversed(messages):
        if isinstance(message, HumanMessage) or getattr(message, "type", None) == "human":
            return str(message.text)
    raise ConfigurationError(f"the messages under {key!r} have no human message to answer")


def _typed_dict(name: str, fields: Mapping[str, Any]) -> type[Any]:
    make: Any = TypedDict  # the functional form, with keys known only at run time
    return cast("type[Any]", make(name, dict(fields), total=False))
