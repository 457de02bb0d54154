"""Progress as LangGraph ``custom`` stream events: candidates, verdicts, votes, phases, stops.

Every ponder node emits, as its step ends, one event per candidate it drew or judged, the
vote when it tallied one, the phase when the adaptive strategy entered one, and the stop
when the strategy stopped; and the call layer emits a ``sample`` event as each model call
returns, before the rest of its step. Stream them with ``stream_mode="custom"``::

    async for event in graph.astream(inputs, stream_mode="custom", context=context):
        if event.get("ponder") == "candidate":
            print(event["candidate"]["id"], event["candidate"]["answer"])

Nested strategies (the phases of ``adaptive``, a strategy inside a user's graph) emit into
the outermost stream too, without ``subgraphs=True``: a strategy graph passes the writer of
the graph that runs it down to its own nodes (`forward_writer`). Events are plain dicts
(`PonderEvent`), tagged with ``"ponder"`` so a user's own custom events can share the
stream.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal, cast

from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from typing_extensions import NotRequired, TypedDict

from ponder.state import Candidate

__all__ = (
    "WRITER_KEY",
    "EventKind",
    "PonderEvent",
    "emit",
    "emitting",
    "events_of",
    "forward_writer",
    "forwarding",
    "namespace",
    "nested",
    "writer_of",
)

WRITER_KEY = "__ponder_writer"
"""The configurable key under which a strategy graph hands its caller's stream writer to
its nodes (double underscored: LangGraph keeps it out of checkpoint metadata)."""

_RUNTIME_KEY = "__pregel_runtime"
"""Where LangGraph keeps the running graph's `Runtime` in a node's configurable
(``langgraph._internal._constants.CONFIG_KEY_RUNTIME``)."""

EventKind = Literal["sample", "candidate", "vote", "phase", "stop"]
"""What a `PonderEvent` reports.

- ``sample``: a model call returned (``candidate_id``, ``tokens``, ``finish_reason``).
- ``candidate``: a candidate was drawn, or judged (``candidate``: the whole
  `ponder.state.Candidate`).
- ``vote``: votes were tallied (``votes``, ``answer``).
- ``phase``: a nested strategy started (``phase``: its name), or the adaptive strategy
  planned its phases (``phase == "plan"``, ``phases``).
- ``stop``: the strategy stopped (``stop_reason``, ``status``, ``answer``).
"""

Writer = Callable[[Any], None]

_NAMES = ("__module__", "__name__", "__qualname__", "__doc__")

_NONE: RunnableConfig = {}
"""The config of a node called directly, outside a graph (never written to)."""


class PonderEvent(TypedDict):
    """One progress event in a ``custom`` stream."""

    ponder: EventKind
    """What it reports."""
    node: str
    """The node that emitted it."""
    path: NotRequired[list[str]]
    """The graph nodes the emitting node runs under, outermost first (``["vote",
    "self-consistency"]`` for a strategy under the user's ``vote`` node; ``[]`` at the top):
    what tells apart the events of strategies running side by side."""
    candidate: NotRequired[Candidate]
    """The candidate drawn or judged (``candidate`` events)."""
    candidate_id: NotRequired[str | None]
    """The candidate a model call was for (``sample`` events)."""
    tokens: NotRequired[int]
    """The call's prompt plus output tokens (``sample`` events)."""
    finish_reason: NotRequired[str]
    """How the call ended (``sample`` events)."""
    votes: NotRequired[dict[str, float]]
    """Answer -> votes (``vote`` events)."""
    answer: NotRequired[str | None]
    """The leading or selected answer (``vote`` and ``stop`` events)."""
    phase: NotRequired[str]
    """The phase entered (``phase`` events): a nested strategy's name as it starts, or
    ``plan`` when the adaptive strategy has planned its phases."""
    phases: NotRequired[list[str]]
    """The phases planned (``phase`` events of the ``plan``)."""
    stop_reason: NotRequired[str | None]
    """Why it stopped (``stop`` events)."""
    status: NotRequired[str]
    """Where the run stands (``stop`` events)."""


def writer_of(runtime: Any, config: RunnableConfig | None) -> Writer:
    """Return the stream writer a node should emit to: the outermost graph's, if handed down."""
    handed = (config or {}).get("configurable", {}).get(WRITER_KEY)
    if callable(handed):
        return handed  # type: ignore[no-any-return]
    return getattr(runtime, "stream_writer", None) or _ignore


def namespace(config: RunnableConfig) -> list[str]:
    """The graph nodes a node runs under, outermost first, itself last.

    Its checkpoint namespace without the task ids; ``[]`` for a node called outside a graph.
    """
    found = (config.get("configurable") or {}).get("checkpoint_ns") or ""
    return [part.split(":")[0] for part in found.split("|") if part]


def nested(config: RunnableConfig) -> bool:
    """Whether a node runs inside a graph that itself runs as a node of another graph.

    A strategy's own ``prepare`` at the top level has a namespace of one part (itself);
    under a parent graph it has more.

    Example:
        >>> nested({"configurable": {"checkpoint_ns": "prepare:1"}})
        False
        >>> nested({"configurable": {"checkpoint_ns": "refine:7|prepare:2"}})
        True
    """
    return len(namespace(config)) > 1


def emit(writer: Writer | None, event: PonderEvent, config: RunnableConfig | None = None) -> None:
    """Write ``event``, with its ``path`` from the node's ``config`` when given.

    A writer that fails (a closed stream) does not fail the run.
    """
    if writer is None:
        return
    if config is not None:
        event["path"] = namespace(config)[:-1]
    try:
        writer(event)
    except Exception:  # noqa: BLE001, S110 - progress is best effort; the run goes on
        pass


def events_of(node: str, state: Mapping[str, Any], update: object) -> list[PonderEvent]:
    """Return the events a node's ``update`` to ``state`` stands for (module docstring)."""
    if not isinstance(update, Mapping):
        return []  # a Command or an interrupt
    events: list[PonderEvent] = []
    before = {c["id"]: c for c in state.get("candidates", []) if isinstance(c, Mapping)}
    for candidate in _candidates(update.get("candidates")):
        if before.get(candidate["id"]) != candidate:
            events.append(PonderEvent(ponder="candidate", node=node, candidate=candidate))
    plan = update.get("plan")
    if isinstance(plan, Mapping) and plan != state.get("plan"):
        phases = [p for p in plan.get("phases", []) if isinstance(p, str)]
        events.append(PonderEvent(ponder="phase", node=node, phase="plan", phases=phases))
    votes = update.get("votes")
    if isinstance(votes, Mapping) and votes:
        events.append(
            PonderEvent(ponder="vote", node=node, votes=dict(votes), answer=update.get("answer"))
        )
    status = update.get("status")
    if status in ("done", "failed", "paused") and status != state.get("status"):
        events.append(
            PonderEvent(
                ponder="stop",
                node=node,
                stop_reason=update.get("stop_reason"),
                status=status,
                answer=update.get("answer"),
            )  # fmt: skip
        )
    return events


def emitting(function: Callable[..., Any], *, name: str) -> Callable[..., Any]:
    """Return node ``function`` emitting the events of each update it returns (`events_of`).

    The node is given the config with the stream writer in it (`WRITER_KEY`), so that the
    calls it makes can emit ``sample`` events as they return.
    """
    wants = inspect.signature(function).parameters

    def injected(
        runtime: Runtime[Any] | None, config: RunnableConfig
    ) -> tuple[dict[str, Any], Writer]:
        writer = writer_of(runtime, config)
        kwargs: dict[str, Any] = {}
        if "runtime" in wants:
            kwargs["runtime"] = runtime
        if "config" in wants:
            configurable = {**(config.get("configurable") or {}), WRITER_KEY: writer}
            kwargs["config"] = {**config, "configurable": configurable}
        return kwargs, writer

    if inspect.iscoroutinefunction(function):

        @functools.wraps(function, assigned=_NAMES)
        async def node(
            state: Any, *, runtime: Runtime[Any] | None = None, config: RunnableConfig = _NONE
        ) -> Any:
            kwargs, writer = injected(runtime, config)
            return _emitted(name, state, await function(state, **kwargs), writer, config)

    else:

        @functools.wraps(function, assigned=_NAMES)
        def node(
            state: Any, *, runtime: Runtime[Any] | None = None, config: RunnableConfig = _NONE
        ) -> Any:
            kwargs, writer = injected(runtime, config)
            return _emitted(name, state, function(state, **kwargs), writer, config)

    del node.__wrapped__  # LangGraph reads the wrapper's own signature, not the function's
    return node


def _emitted(name: str, state: Any, update: Any, writer: Writer, config: RunnableConfig) -> Any:
    for event in events_of(name, state, update):
        emit(writer, event, config)
    return update


def _candidates(value: object) -> Sequence[Candidate]:
    if not isinstance(value, list):
        return []
    return [cast(Candidate, c) for c in value if isinstance(c, dict) and "id" in c]


def forward_writer(config: RunnableConfig | None) -> RunnableConfig | None:
    """Return ``config`` with the calling graph's stream writer handed down (`WRITER_KEY`).

    A strategy running as a subgraph gets a writer of its own that LangGraph connects to the
    caller's stream only with ``subgraphs=True``; the caller's writer, found in the config
    the subgraph is called with, reaches the outermost stream either way. A writer handed
    down from further out is kept.
    """
    if config is None:
        return None
    configurable = config.get("configurable") or {}
    if WRITER_KEY in configurable:
        return config
    caller = configurable.get(_RUNTIME_KEY)
    writer = getattr(caller, "stream_writer", None)
    if writer is None:
        return config
    return {**config, "configurable": {**configurable, WRITER_KEY: writer}}


class _Forwarding(CompiledStateGraph):  # type: ignore[type-arg]
    """A compiled graph that hands its caller's stream writer to its nodes."""

    def stream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return super().stream(input, forward_writer(config), **kwargs)

    def astream(self, input: Any, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return super().astream(input, forward_writer(config), **kwargs)


def forwarding(graph: CompiledStateGraph[Any, Any, Any, Any]) -> None:
    """Make ``graph`` hand its caller's stream writer down to its nodes (`forward_writer`)."""
    if type(graph) is CompiledStateGraph:
        graph.__class__ = _Forwarding


def _ignore(event: Any) -> None:
    return None
