"""ponder's strategies as graph factories for LangGraph Server (``langgraph dev``, Studio).

``langgraph.json`` at the repository root names one factory per strategy
(`greedy`, `self_consistency`, `best_of_n`, `refine`, `beam_search`, `mcts`, `adaptive`), so::

    pip install 'ponder[hosted,local]'
    LANGGRAPH_CLI_NO_ANALYTICS=1 langgraph dev --host 127.0.0.1 --no-browser

serves them, and LangGraph Studio shows each with a form for its context. A run's input is
the strategy's (`ponder.state.RunInput`: ``problem`` and ``budget``); its context is plain
JSON (`HostedContext`): a model *spec* instead of a model object, a verifier by name or by
record, the run's settings, and the strategy's ``options``. Nodes turn the JSON into objects
through `ponder.context.context_of` (the model is made once per spec per process).

Where things come from:

- the strategy's options (``max_samples``, ``n``, ...): the run's context, ``options`` (the
  assistant's context is the default LangGraph Server merges under it); a bad option fails
  the run with a `ponder.errors.ConfigurationError` naming it;
- the model, verifier, seed and timeouts: the run's context, defaults as `HostedContext`
  shows them (the embedded ``smollm2`` model);
- persistence: LangGraph Server's own checkpointer (the factories compile without one). A
  run out of budget pauses (a LangGraph interrupt carrying a
  `ponder.nodes.interrupts.PauseRequest`) only when its context sets ``pause_on_budget``;
  resume it with ``Command(resume=TopUp)``: the SDK's ``command={"resume": {"budget":
  {"tokens": 800}, "seconds_before": 0.0}}`` (new totals, not increments).

This module is not imported by ``ponder`` itself: only the server loads it.

Example:
    >>> graph = hosted_graph("self-consistency", {"max_samples": 3})
    >>> graph.context_schema is HostedContext, graph.name
    (True, 'self-consistency')
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal

from langgraph.graph.state import CompiledStateGraph
from pydantic import BaseModel, ConfigDict, Field

from ponder.errors import ConfigurationError
from ponder.graphs.registry import compiled, make_config, strategy_spec
from ponder.setup import check_verifier
from ponder.state import RunInput, RunOutput, RunState
from ponder.verify.record import verifier_from_spec

if TYPE_CHECKING:
    from langgraph_sdk.runtime import ServerRuntime

__all__ = (
    "HostedContext",
    "HostedGraph",
    "adaptive",
    "beam_search",
    "best_of_n",
    "greedy",
    "hosted_graph",
    "mcts",
    "refine",
    "self_consistency",
)


class HostedContext(BaseModel):
    """A hosted run's context: plain JSON, the form LangGraph Studio shows.

    Each field but ``options`` is read by `ponder.context.context_of` under the name of the
    `ponder.RunContext` field it sets.

    Example:
        >>> HostedContext(verifier={"expected": "42"}).model
        'smollm2'
    """

    model_config = ConfigDict(extra="forbid", use_attribute_docstrings=True)

    model: str = "smollm2"
    """The model spec (`ponder.models.resolve_model`): ``smollm2`` or ``gemma3`` (embedded),
    ``http://host:port/v1#name`` (an OpenAI-compatible server), ``provider:model``."""
    verifier: str | dict[str, Any] | None = None
    """A shipped verifier's name (``arithmetic``) or record (``{"expected": "42", "kind":
    "number"}``, ``{"math": "1/2"}``); see `ponder.verify.record.verifier_from_spec`."""
    extractor: str | None = None
    """A shipped answer extractor's name (``extract_short_answer``); none: numbers."""
    prompt_style: Literal["chat", "base"] | None = None
    """How the model wants its prompts; none: as the model says."""
    seed: int = 0
    """Base sampling seed (candidate ``i`` samples with ``seed + i``)."""
    call_timeout: float = 300.0
    """Seconds one model call may take."""
    verifier_timeout: float = 30.0
    """Seconds one verification may take."""
    max_concurrent_calls: int = 16
    """Most model calls one node has in flight at once."""
    pause_on_budget: bool = False
    """Pause (an interrupt) instead of ending when the budget runs out; resume with a
    top-up (module docstring)."""
    options: dict[str, Any] = Field(default_factory=dict)
    """The strategy's options (``{"max_samples": 5}``; see its config in `ponder.graphs`)."""


HostedGraph = CompiledStateGraph[RunState, HostedContext, RunInput, RunOutput]
"""A strategy graph whose context is a `HostedContext`."""


def hosted_graph(name: str, options: Mapping[str, Any] | None = None) -> HostedGraph:
    """Return strategy ``name``'s compiled graph, built with ``options``, taking JSON context.

    The graph is the strategy's own (`ponder.graphs.build_strategy`), without a checkpointer
    (the server brings its own), its context schema `HostedContext`, and its recursion
    limit the strategy's (so that the budget, not LangGraph, ends it).

    Raises:
        ConfigurationError: An unknown strategy or option.
    """
    spec = strategy_spec(name)
    config = make_config(spec, dict(options or {}))
    try:
        graph: Any = compiled(name, config)
    except TypeError:  # an option holding a list (JSON has no tuples): not cached
        graph = spec.build(config)
    hosted: HostedGraph = graph.copy(update={"context_schema": HostedContext})
    return hosted.with_config(recursion_limit=config.recursion_limit)


def _for_server(name: str, runtime: ServerRuntime[dict[str, Any]] | None) -> HostedGraph:
    """The graph for one call of the server: a run's options, else the defaults.

    The server also calls a factory to draw the graph or read a thread's state, without a
    context; the options do not change a strategy's nodes and edges, so every call returns
    the same shape, as the server requires.
    """
    execution = runtime.execution_runtime if runtime is not None else None
    context: object = execution.context if execution is not None else None
    if isinstance(context, BaseModel):
        context = context.model_dump()
    if not isinstance(context, Mapping):
        return hosted_graph(name)
    options = context.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigurationError(f"the context's options must be an object, got {options!r}")
    check_verifier(strategy_spec(name), verifier_from_spec(context.get("verifier")))
    return hosted_graph(name, options)


def greedy(runtime: ServerRuntime[dict[str, Any]]) -> HostedGraph:
    """Greedy decoding (`ponder.graphs.build_greedy`), for LangGraph Server."""
    return _for_server("greedy", runtime)


def self_consistency(runtime: ServerRuntime[dict[str, Any]]) -> HostedGraph:
    """Self-consistency (`ponder.graphs.build_self_consistency`), for LangGraph Server."""
    return _for_server("self-consistency", runtime)


def best_of_n(runtime: ServerRuntime[dict[str, Any]]) -> HostedGraph:
    """Best-of-n (`ponder.graphs.build_best_of_n`; the context needs a ``verifier``)."""
    return _for_server("best-of-n", runtime)


def refine(runtime: ServerRuntime[dict[str, Any]]) -> HostedGraph:
    """Refine (`ponder.graphs.build_refine`), for LangGraph Server."""
    return _for_server("refine", runtime)


def beam_search(runtime: ServerRuntime[dict[str, Any]]) -> HostedGraph:
    """Beam search (`ponder.graphs.build_beam_search`), for LangGraph Server."""
    return _for_server("beam-search", runtime)


def mcts(runtime: ServerRuntime[dict[str, Any]]) -> HostedGraph:
    """Monte Carlo tree search (`ponder.graphs.build_mcts`), for LangGraph Server."""
    return _for_server("mcts", runtime)


def adaptive(runtime: ServerRuntime[dict[str, Any]]) -> HostedGraph:
    """Adaptive (`ponder.graphs.build_adaptive`), for LangGraph Server."""
    return _for_server("adaptive", runtime)
