"""The run context: what every node needs besides the state.

LangGraph passes it to nodes and routers as ``runtime.context`` (the graph's
``context_schema``). It holds live objects (the model, the verifier), never stored in a
checkpoint; everything a resumed run must see again lives in the state instead.

A strategy nested in a user's graph sees the *user's* context, whatever its schema: every
node reads it through `context_of`, which takes a `RunContext`, an object that carries one
(`ProvidesRunContext`: a ``run_context`` attribute or key), or any object or mapping with a
``model`` (a chat model) and, optionally, more of `RunContext`'s fields by the same names.
Such a context may be plain JSON (as LangGraph Server sends it; see `ponder.hosted`): a
``model`` given as a spec string (``"smollm2"``, ``"http://host:port/v1"``,
``"provider:model"``) is resolved by `ponder.models.resolve_model`, once per spec per
process, and a ``verifier`` or ``extractor`` given as plain data is built from it
(`ponder.verify.record.verifier_from_spec`, `~ponder.verify.record.extractor_from_spec`).

The wall-time budget is measured per run: `session_seconds` counts from the run's own start
(``started_at``, stamped by the ``prepare`` node) or from the context's, whichever is later,
so one context reused for many runs charges each run only its own time.
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Protocol, runtime_checkable

from langchain_core.language_models import BaseChatModel
from pydantic_core import core_schema

from ponder.budget import Budget, CallPlan, Usage, plan_call
from ponder.errors import ConfigurationError
from ponder.models.resolve import resolve_model
from ponder.models.traits import ModelTraits, traits_of
from ponder.prompts import PromptStyle
from ponder.state import RunState
from ponder.verify.arithmetic import extract_repaired_number
from ponder.verify.extract import Extractor
from ponder.verify.record import extractor_from_spec, verifier_from_spec
from ponder.verify.reward import ProcessReward
from ponder.verify.verifier import Verifier

__all__ = (
    "ProvidesRunContext",
    "RunContext",
    "context_of",
    "seconds_left",
    "session_seconds",
    "usage_of",
)


@dataclass(frozen=True, kw_only=True, slots=True)
class RunContext:
    """Dependencies and settings of one run, shared by every node of every nested strategy.

    Example:
        >>> from ponder.testing import ScriptedChatModel
        >>> ctx = RunContext(model=ScriptedChatModel(replies=["The answer is 4."]))
        >>> ctx.prompt_style
        'chat'
    """

    model: BaseChatModel
    """The chat model every node calls."""
    verifier: Verifier | None = None
    """Judges candidates, for the strategies that verify."""
    step_scorer: ProcessReward | None = None
    """Scores partial solutions in tree search instead of the value prompt."""
    extractor: Extractor = extract_repaired_number
    """Turns a candidate's text into its answer (by default the final number, after the
    arithmetic the text states is recomputed: `ponder.verify.extract_repaired_number`)."""
    prompt_style: PromptStyle = "chat"
    """How `model` wants its prompts (see `ponder.models.prompt_style_of`)."""
    seed: int = 0
    """Base sampling seed; candidate ``i`` is sampled with ``seed + i``, so reruns repeat."""
    call_timeout: float | None = 300.0
    """Seconds one model call may take before it is cut off (``None``: no limit)."""
    verifier_timeout: float = 30.0
    """Seconds one verification may take before the candidate is marked unverified."""
    max_concurrent_calls: int = 16
    """Most model calls one node has in flight at once (the samples of a step run
    concurrently; the embedded model decodes them together in one batch)."""
    min_tokens: int = 32
    """The smallest output cap worth a call when the budget would lower it (a run's first
    call: `first_min_tokens`)."""
    first_min_tokens: int = 1
    """The same for a run's first call: with no answer yet, any output room the budget
    leaves is worth a call, so a budget near greedy's own spend buys greedy's answer, not
    none. Set it to `min_tokens` to plan the first call like the others."""
    min_seconds: float = 0.5
    """The least wall time worth starting a call with; below it the budget refuses."""
    pause_on_budget: bool = False
    """Pause (interrupt) instead of ending when the budget runs out; needs a checkpointer."""
    started: float = field(default_factory=time.monotonic)
    """`time.monotonic` when this context was made: a run's session is counted from the
    later of this and the run's own start (`session_seconds`); ``-math.inf`` to count from
    the run's start only."""
    traits: ModelTraits = field(init=False, repr=False, compare=False)
    """How `model` is called (worked out once, from the model; see `ponder.models.traits`)."""

    def __post_init__(self) -> None:
        _check_settings(self)
        object.__setattr__(self, "traits", traits_of(self.model))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> Any:
        """Let a user's pydantic context hold one as is (its fields are live objects)."""
        return core_schema.is_instance_schema(cls)

    def elapsed(self) -> float:
        """Seconds since this context was made (``math.inf`` for ``started=-math.inf``)."""
        return time.monotonic() - self.started

    def plan(
        self,
        budget: Budget,
        usage: Usage,
        *,
        prompt_tokens: int,
        max_tokens: int,
        first: bool = False,
    ) -> CallPlan:
        """Plan a call of this run within ``budget``: `ponder.budget.plan_call`.

        The run's smallest useful cap (`first_min_tokens` for the run's ``first`` call,
        else `min_tokens`), call timeout and least useful wall time apply.
        """
        return plan_call(
            budget,
            usage,
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
            min_tokens=self.first_min_tokens if first else self.min_tokens,
            call_timeout=self.call_timeout,
            min_seconds=self.min_seconds,
        )


_SIGNATURES = {
    "extractor": "(text) -> answer or None",
    "step_scorer": "(problem, steps) -> score",
    "verifier": "(problem, candidate) -> score",
}
"""What each callable setting is called with, for the error that says it is not callable."""


def _check_settings(context: RunContext) -> None:
    """Refuse settings no run can use.

    The one place they are checked: `ponder.setup.make_context` and `context_of` build
    through here.
    """

    def number(name: str, *, whole: bool = False, positive: bool = True, wanted: str) -> None:
        value = getattr(context, name)
        kinds = (int,) if whole else (int, float)
        if isinstance(value, bool) or not isinstance(value, kinds):
            ok = False
        else:
            ok = value > 0 if positive else value >= 0  # NaN fails either way
        if not ok:
            raise ConfigurationError(f"{name} must be {wanted}, got {value!r}")

    if not isinstance(context.model, BaseChatModel):
        raise ConfigurationError(
            f"model must be a LangChain chat model, got {type(context.model).__name__}"
        )
    if isinstance(context.seed, bool) or not isinstance(context.seed, int):
        raise ConfigurationError(f"seed must be a whole number, got {context.seed!r}")
    if context.call_timeout is not None:
        number("call_timeout", wanted="positive seconds or None")
    number("verifier_timeout", wanted="positive seconds")
    number("max_concurrent_calls", whole=True, wanted="a positive whole number")
    number("min_tokens", whole=True, wanted="a positive whole number")
    number("first_min_tokens", whole=True, wanted="a positive whole number")
    number("min_seconds", positive=False, wanted="seconds, 0 or more")
    for name, signature in _SIGNATURES.items():
        value = getattr(context, name)
        if value is not None and not callable(value):
            raise ConfigurationError(f"{name} must be callable: {signature}; got {value!r}")
    if context.prompt_style not in ("chat", "base"):
        raise ConfigurationError(
            f"prompt_style must be 'chat' or 'base', got {context.prompt_style!r}"
        )


@runtime_checkable
class ProvidesRunContext(Protocol):
    """A user's own context that carries ponder's: its ``run_context`` is a `RunContext`.

    Example:
        >>> from dataclasses import dataclass
        >>> from ponder.testing import ScriptedChatModel
        >>> @dataclass
        ... class AgentContext:
        ...     user_id: str
        ...     run_context: RunContext
        >>> ctx = AgentContext("u1", RunContext(model=ScriptedChatModel(replies=["4"])))
        >>> context_of(ctx) is ctx.run_context
        True
    """

    @property
    def run_context(self) -> RunContext:
        """The context ponder's nodes use."""
        ...


_ADAPTED_FIELDS = tuple(f.name for f in fields(RunContext) if f.init and f.name != "started")


def context_of(context: object) -> RunContext:
    """Return the `RunContext` a ponder node uses, from whatever context the graph was given.

    Accepted, in this order: a `RunContext`; an object or mapping whose ``run_context`` is
    one (`ProvidesRunContext`); an object or mapping with a ``model`` that is a LangChain chat
    model or a model spec string, whose other attributes or keys named like `RunContext`'s
    fields (``verifier``, ``extractor``, ``seed``, ``call_timeout``, ...) are used where
    present. An adapted context is counted from the run's own start.

    A JSON context's plain data is turned into objects: a spec string ``model`` into the
    model it names (resolved once per spec per process, so an embedded model loads once), a
    ``verifier`` given as a name or a record (``"arithmetic"``, ``{"expected": "42"}``) into
    that verifier, an ``extractor`` given as a name into that extractor.

    Raises:
        ConfigurationError: There is no context, or it has neither a ``run_context`` nor a
            ``model``, or its model spec, verifier or one of its other ponder fields is not
            usable.

    Example:
        >>> from ponder.testing import ScriptedChatModel
        >>> ctx = context_of({"model": ScriptedChatModel(replies=["4"]), "seed": 7})
        >>> ctx.seed, ctx.prompt_style
        (7, 'chat')
        >>> context_of({"model": "nonsense", "verifier": "arithmetic"})
        Traceback (most recent call last):
        ...
        ponder.errors.ConfigurationError: the graph's context (dict) is not usable: unknown model 'nonsense': use an embedded model (smollm2, gemma3), an OpenAI-compatible base URL (http://host:port/v1), provider:model, or a LangChain chat model object
    """  # noqa: E501 - a doctest's expected line
    if isinstance(context, RunContext):
        return context
    if context is None:
        raise ConfigurationError(
            "a ponder strategy needs a context with a model: pass context=RunContext(model=...) "
            "to invoke/stream, or give the graph's own context a 'model' (a chat model) or a "
            "'run_context' (a ponder.RunContext)"
        )
    names = ("run_context", "model", *_ADAPTED_FIELDS)
    if isinstance(context, Mapping):
        values: Mapping[str, Any] = context
    else:
        values = {name: getattr(context, name, None) for name in names}
    carried = values.get("run_context")
    if isinstance(carried, RunContext):
        return carried
    given = {name: values[name] for name in _ADAPTED_FIELDS if values.get(name) is not None}
    model = values.get("model")
    if isinstance(model, str) or _plain(given.get("verifier")) or _plain(given.get("extractor")):
        try:
            model = _named_model(model) if isinstance(model, str) else model
            given |= _built(given)
        except ConfigurationError as exc:
            raise ConfigurationError(
                f"the graph's context ({type(context).__name__}) is not usable: {exc}"
            ) from exc
    if not isinstance(model, BaseChatModel):
        found = "no 'model'" if model is None else f"a 'model' of type {type(model).__name__}"
        raise ConfigurationError(
            f"the graph's context ({type(context).__name__}) has {found}: a ponder strategy "
            "needs a LangChain chat model or a model spec string there, or a 'run_context' "
            "(a ponder.RunContext)"
        )
    given["model"] = model
    given.setdefault("prompt_style", traits_of(model).prompt_style)
    try:
        return RunContext(**given, started=-math.inf)
    except ConfigurationError as exc:
        raise ConfigurationError(
            f"the graph's context ({type(context).__name__}) has ponder settings that are not "
            f"usable: {exc}"
        ) from exc


def _plain(value: object) -> bool:
    """Whether ``value`` is plain data naming a component (JSON), not the component."""
    return isinstance(value, (str, Mapping))


def _built(given: Mapping[str, Any]) -> dict[str, Any]:
    """The verifier and extractor of a JSON context, built from the plain data naming them."""
    built: dict[str, Any] = {}
    if _plain(given.get("verifier")):
        built["verifier"] = verifier_from_spec(given["verifier"])
    if _plain(given.get("extractor")):
        built["extractor"] = extractor_from_spec(given["extractor"])
    return built


@functools.lru_cache(maxsize=32)
def _named_model(spec: str) -> BaseChatModel:
    """The model ``spec`` names, made once per process (an embedded model loads once)."""
    return resolve_model(spec)


def session_seconds(state: Mapping[str, Any], context: RunContext) -> float:
    """Wall seconds of this session of the run (earlier sessions are ``seconds_before``).

    Counted from the later of the run's start (``started_at`` in the state, stamped by the
    ``prepare`` node, `time.time` seconds) and the context's (`RunContext.started`).
    """
    since_context = context.elapsed()
    started_at = state.get("started_at")
    if not isinstance(started_at, (int, float)):
        return since_context if math.isfinite(since_context) else 0.0
    return min(since_context, max(0.0, time.time() - float(started_at)))


def seconds_left(state: RunState, context: RunContext) -> float | None:
    """Wall seconds the budget has left, or ``None`` when it sets no time limit."""
    budget, usage = usage_of(state, context)
    return budget.remaining(usage).seconds


def usage_of(state: RunState, context: RunContext) -> tuple[Budget, Usage]:
    """Return the run's budget and what it has spent, read from the state.

    Where an enclosing strategy set a phase limit, the budget is the tighter of the two.
    """
    seconds = state.get("seconds_before", 0.0) + session_seconds(state, context)
    budget = Budget.from_limits(state["budget"])
    phase = state.get("phase_limit")
    if phase is not None:
        budget = budget.tighter(Budget.from_limits(phase))
    return budget, Usage.from_ledger(state.get("ledger", []), seconds=seconds)
