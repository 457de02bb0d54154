"""Making a group of model calls within the budget: plan, call, charge (see `metered`).

Each call is planned in order against what remains once every call before it has spent its
worst case (prompt plus output cap), so the group reserves its whole cost before any call
starts and can never overspend. The first call the budget refuses is refused with every call
after it; the others run concurrently (at most
`ponder.context.RunContext.max_concurrent_calls` in flight). The embedded model decodes
concurrent calls together in one batch; a remote model gets concurrent requests.

A model that streams with usage (one with a ``stream_usage`` field, such as ``ChatOpenAI``:
`ponder.models.traits.ModelTraits.streams`) is streamed, and a reply that goes on past its
output cap (a server that ignores ``max_tokens``) is cut at the first chunk beyond it: the
call is charged what arrived, and recorded as an overrun, which ends the run. A server that
streams without usage (llama.cpp's) would be charged the bounds of every call: once one such
reply has come, that model is called without streaming from then on.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.runnables import RunnableConfig

from ponder._threads import in_daemon_thread
from ponder.budget import Budget, CallPlan, Usage
from ponder.context import RunContext
from ponder.errors import (
    BudgetExceeded,
    BudgetOverrun,
    Limit,
    ModelError,
    ModelTimeout,
    PonderError,
)
from ponder.events import PonderEvent, emit, writer_of
from ponder.models._group import call_group, call_member
from ponder.models.call_fields import bind_call
from ponder.models.confidence import confidence_of
from ponder.models.failures import failure_charge
from ponder.state import Confidence, FinishReason, LedgerEntry, StopReason, new_id

__all__ = ("CallRequest", "CallResult", "make_calls")

_NO_STREAM_USAGE: set[int] = set()
"""Ids of the live models whose streamed replies came without usage: not streamed again."""

_TIMEOUT_GRACE = 1.0
"""Seconds allowed past an in-process model's own deadline before giving up on it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CallRequest:
    """One model call a node wants to make."""

    messages: Sequence[BaseMessage]
    """The prompt."""
    candidate_id: str | None = None
    """The candidate the call is for, recorded in its ledger entry."""
    max_tokens: int
    """The output cap wanted (the budget may lower it)."""
    temperature: float = 0.0
    """Sampling temperature."""
    seed: int | None = None
    """The call's seed (sent to models that take one)."""
    stop: list[str] | None = None
    """Stop strings."""
    min_confidence: float | None = None
    """Stop the sample once its recent tokens' confidence falls below this, where the model
    can (`ponder.models.traits.ModelTraits.stops_on_confidence`); ignored elsewhere."""
    prompt: str | None = None
    """The name of the prompt template, for tracing (`call_config`)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CallResult:
    """What one metered call gave."""

    text: str
    """The model's output ("" when refused or failed)."""
    entry: LedgerEntry | None
    """The charge for the call; ``None`` when the budget refused it (nothing was spent)."""
    failure: PonderError | None = None
    """Why the call gave no text: the budget refused or cut it (`BudgetExceeded`), it timed
    out (`ModelTimeout`), or the model raised (`ModelError`)."""
    overrun: BudgetOverrun | None = None
    """Set when the model spent more than the call was planned for (the run must stop)."""
    finish_reason: FinishReason = "stop"
    """How the call ended."""
    seed: int | None = None
    """The seed sent with the call."""
    prompt_tokens: int = 0
    """The prompt's token count (or bound) the call was planned with."""
    confidence: Confidence | None = None
    """The model's confidence in its reply, when it reports token probabilities."""

    @property
    def refused(self) -> bool:
        """Whether the call was not made (the budget refused it, or it could not be sent).

        Nothing was spent on it.
        """
        return self.entry is None

    @property
    def usable(self) -> bool:
        """Whether the call ran and returned text (an overrun call's text included)."""
        return self.entry is not None and self.failure is None

    @property
    def stop_reason(self) -> StopReason | None:
        """Why a node must stop after this call: ``budget``, ``error``, or ``None``."""
        if self.overrun is not None:
            return "error"
        if self.failure is None:
            return "budget" if self.entry is None else None
        # The budget refused or cut it off; anything else (a model error, a timeout, a prompt
        # past the context window) is the model's failure.
        return "budget" if type(self.failure) is BudgetExceeded else "error"

    def raise_for_status(self) -> CallResult:
        """Raise the call's failure (or overrun), if it had one; else return the result.

        For a node that would rather stop than record: `BudgetExceeded` when the budget
        refused or cut the call, `ModelTimeout`, `ModelError`, `BudgetOverrun`.

        Example:
            >>> refused = CallResult(text="", entry=None, failure=BudgetExceeded("calls", 2, 2))
            >>> refused.raise_for_status()
            Traceback (most recent call last):
            ...
            ponder.errors.BudgetExceeded: budget limit 'calls' reached: spent 2 of 2; raise the limit (for example Budget(tokens=...)) to let the run go on
        """  # noqa: E501
        if self.failure is not None:
            raise self.failure
        if self.overrun is not None:
            raise self.overrun
        return self


async def make_calls(
    context: RunContext,
    budget: Budget,
    usage: Usage,
    requests: Sequence[CallRequest],
    *,
    node: str,
    config: RunnableConfig | None = None,
    first: bool = False,
) -> list[CallResult]:
    """Make ``requests`` within the budget; one result per request, in order.

    ``first``: the group opens the run (its first request is planned as the run's first
    call: `RunContext.first_min_tokens`).

    See the module docstring for how the group is planned. Each call is made with
    `call_config` of ``config`` (the node's), so tracing callbacks see it.
    """
    planned: list[tuple[CallRequest, int, CallPlan]] = []
    refused: list[CallResult] = []
    reserved = usage
    window = context.traits.context_window
    for request in requests:
        prompt_tokens = context.traits.prompt_tokens(request.messages)
        if window is not None and prompt_tokens >= window:
            # It cannot run: say so, and charge nothing (nothing was sent).
            failure = ModelError(
                f"the prompt has {prompt_tokens} tokens, more than the model's context window "
                f"of {window}; shorten the problem or use a model with a larger context"
            )
            refused = [
                CallResult(
                    text="",
                    entry=None,
                    failure=failure,
                    seed=r.seed,
                    prompt_tokens=prompt_tokens,
                    finish_reason="error",
                )  # fmt: skip
                for r in requests[len(planned) :]
            ]
            break
        plan = context.plan(
            budget, reserved, prompt_tokens=prompt_tokens, max_tokens=request.max_tokens,
            first=first and not planned,
        )  # fmt: skip
        if not plan.allowed:
            refused = [
                _refused(context, r, plan, budget, reserved) for r in requests[len(planned) :]
            ]
            break
        planned.append((request, prompt_tokens, plan))
        worst = budget.call_cost(prompt_tokens, plan.max_tokens)
        reserved = reserved.plus(
            {"tokens_in": prompt_tokens, "tokens_out": plan.max_tokens, "cost": worst,
             "latency_s": 0.0}
        )  # fmt: skip
    slots_free = max(1, context.max_concurrent_calls)
    slots = asyncio.Semaphore(slots_free)
    seconds = budget.remaining(usage).seconds
    deadline = None if seconds is None else time.monotonic() + seconds

    async def one(request: CallRequest, prompt_tokens: int, plan: CallPlan) -> CallResult:
        async with slots:
            if deadline is not None:  # time spent waiting for a slot counts
                left = deadline - time.monotonic()
                if left <= max(context.min_seconds, 0.0):
                    failure = BudgetExceeded(
                        "seconds", budget.seconds or 0.0, usage.seconds,
                        message="the wall-time budget ran out while the call waited for a "
                        "free slot",
                    )  # fmt: skip
                    return _failed(context, budget, node, request, (0, 0), 0.0, failure)
                timeout = left if context.call_timeout is None else min(context.call_timeout, left)
                plan = replace(plan, timeout=timeout)
            traced = call_config(config, node=node, request=request)
            result = await _invoke(
                context, budget, request, plan, prompt_tokens, node=node, config=traced
            )
            if result.entry is not None:
                emit(writer_of(None, config), PonderEvent(
                    ponder="sample", node=node, candidate_id=request.candidate_id,
                    tokens=result.entry["tokens_in"] + result.entry["tokens_out"],
                    finish_reason=result.finish_reason,
                ), config)  # fmt: skip
            return result

    async def member(position: int, item: tuple[CallRequest, int, CallPlan]) -> CallResult:
        with call_member(position):
            return await one(*item)

    # One group when all can be in flight at once: an in-process engine then decodes the
    # step's calls together, in this order, whatever the tasks' timing (`ponder.models._group`).
    together = call_group(len(planned)) if len(planned) <= slots_free else contextlib.nullcontext()
    with together:
        made = await asyncio.gather(*(member(i, item) for i, item in enumerate(planned)))
    return [*made, *refused]


def call_config(base: RunnableConfig | None, *, node: str, request: CallRequest) -> RunnableConfig:
    """Return the config one model call is made with: ``base`` (the node's) and its names.

    The callbacks, tags and metadata of ``base`` are kept (so the call is traced as a child
    of the node, with LangGraph's own metadata: ``messages`` streaming needs it), passed
    explicitly rather than through context variables, which Python 3.10's asyncio does not
    carry into tasks. Added: the run name ``<node>:<candidate>``, the tags ``ponder`` and
    ``ponder:<node>``, and the metadata ``ponder_node``, ``ponder_candidate``,
    ``ponder_seed``, ``ponder_prompt``, ``ponder_temperature``.

    Example:
        >>> from langchain_core.messages import HumanMessage
        >>> request = CallRequest(messages=[HumanMessage("hi")], candidate_id="c2", max_tokens=8,
        ...                       seed=2, prompt="few_shot")
        >>> config = call_config({"tags": ["mine"]}, node="attempt", request=request)
        >>> config["run_name"], config["tags"]
        ('attempt:c2', ['mine', 'ponder', 'ponder:attempt'])
        >>> config["metadata"]["ponder_candidate"], config["metadata"]["ponder_prompt"]
        ('c2', 'few_shot')
    """
    base = base or {}
    tags = [*base.get("tags", []), "ponder", f"ponder:{node}"]
    metadata = {
        **base.get("metadata", {}),
        "ponder_node": node,
        "ponder_candidate": request.candidate_id,
        "ponder_seed": request.seed,
        "ponder_prompt": request.prompt,
        "ponder_temperature": request.temperature,
    }
    config: RunnableConfig = {
        "tags": list(dict.fromkeys(tags)),
        "metadata": metadata,
        "run_name": node if request.candidate_id is None else f"{node}:{request.candidate_id}",
    }
    if base.get("callbacks") is not None:
        config["callbacks"] = base["callbacks"]
    return config


def _refused(
    context: RunContext, request: CallRequest, plan: CallPlan, budget: Budget, usage: Usage
) -> CallResult:
    limit: Limit = plan.refused_by or "tokens"
    allowed, spent = budget.limit(limit), usage.spent(limit)
    prompt_tokens = context.traits.prompt_tokens(request.messages)
    failure = BudgetExceeded(
        limit, allowed or 0, spent,
        message=(
            f"the budget refused the call ({limit} limit: spent {spent:g} of {allowed or 0:g}; "
            f"the prompt alone needs about {prompt_tokens} tokens, plus the output)"
        ),
    )  # fmt: skip
    return CallResult(
        text="", entry=None, failure=failure, seed=request.seed, prompt_tokens=prompt_tokens
    )


def _generation_kwargs(
    context: RunContext, request: CallRequest, plan: CallPlan
) -> tuple[BaseChatModel, dict[str, Any]]:
    """Return the model to call and its invoke keywords (`ponder.models.call_fields`).

    The cap, temperature and seed are set as the model's own fields where it has them (on a
    copy for this call: ``num_predict`` for ``ChatOllama``, ``max_tokens`` for ``ChatOpenAI``),
    and passed as keywords otherwise.
    """
    traits = context.traits
    settings: dict[str, Any] = {"max_tokens": plan.max_tokens, "temperature": request.temperature}
    if traits.takes_seed:
        settings["seed"] = request.seed
    if traits.takes_timeout:
        settings["timeout"] = plan.timeout
    if request.min_confidence is not None and traits.stops_on_confidence:
        settings["min_confidence"] = request.min_confidence
    return bind_call(context.model, settings, cap_field=traits.cap_field, fields=traits.call_fields)


def _finish_reason(metadata: dict[str, Any]) -> FinishReason:
    reason = metadata.get("finish_reason") or metadata.get("stop_reason")
    reason = str(reason or metadata.get("done_reason") or "stop")  # done_reason: Ollama's
    if reason in ("length", "max_tokens"):
        return "length"
    if reason == "timeout":
        return "timeout"
    if reason == "low_confidence":
        return "low_confidence"
    return "stop"


async def _invoke(
    context: RunContext,
    budget: Budget,
    request: CallRequest,
    plan: CallPlan,
    prompt_tokens: int,
    *,
    node: str,
    config: RunnableConfig,
) -> CallResult:
    model, kwargs = _generation_kwargs(context, request, plan)
    grace = _TIMEOUT_GRACE if context.traits.in_process else 0.0
    wait = None if plan.timeout is None else plan.timeout + grace
    started = time.monotonic()
    messages = list(request.messages)
    cut = [0]  # output chunks received when a streamed reply was cut at the cap
    try:
        if context.traits.streams and id(context.model) not in _NO_STREAM_USAGE:
            call = _streamed(
                context, model, messages, request.stop, kwargs, plan.max_tokens, cut,
                config=config,
            )  # fmt: skip
        elif context.traits.native_async:
            call = model.ainvoke(messages, config, stop=request.stop, **kwargs)
        else:  # sync only: a thread of ours, abandoned (not joined) if it overruns
            call = in_daemon_thread(
                functools.partial(model.invoke, messages, config, stop=request.stop, **kwargs)
            )
        reply = await asyncio.wait_for(call, wait)
    except (TimeoutError, asyncio.TimeoutError):
        latency = time.monotonic() - started
        failure: PonderError
        if plan.timeout == context.call_timeout and wait is not None:
            failure = ModelTimeout(wait)
        else:
            failure = BudgetExceeded(
                "seconds", budget.seconds or 0.0, latency,
                message=f"the model did not answer within {wait:g} s, what the wall-time "
                "budget had left",
            )  # fmt: skip
        # The server may have generated (and billed) up to the cap: charge the worst case.
        worst = (prompt_tokens, plan.max_tokens)
        return _failed(context, budget, node, request, worst, latency, failure)
    except Exception as exc:  # a model may raise anything; the run keeps its work
        latency = time.monotonic() - started
        failure = ModelError(f"{type(exc).__name__}: {exc}")
        charge = failure_charge(exc, prompt_tokens, plan.max_tokens)
        return _failed(context, budget, node, request, charge, latency, failure)
    latency = time.monotonic() - started
    text = reply.text
    reported = _usage(reply, text)
    if cut[0]:  # cut past its cap: no usage came; it generated at least a token per chunk
        reported, tokens_in, tokens_out = None, prompt_tokens, cut[0]
    elif reported is not None:
        tokens_in, tokens_out = reported
    else:
        # No usable usage (none, zeros for a non-empty reply, negative or not whole numbers):
        # charge the bounds the call was planned with. A byte-level BPE token is at least
        # one byte, and the cap was sent.
        tokens_in, tokens_out = prompt_tokens, min(len(text.encode("utf-8")), plan.max_tokens)
    overrun = None
    if tokens_out > plan.max_tokens or tokens_in > prompt_tokens:
        overrun = BudgetOverrun(
            tokens_in=tokens_in, tokens_out=tokens_out, planned_in=prompt_tokens,
            planned_out=plan.max_tokens,
        )  # fmt: skip
    metadata = dict(reply.response_metadata)
    cached = _cached(reply, metadata, tokens_in) if reported is not None else 0
    entry = _entry(
        context, budget, node, request, (tokens_in, tokens_out), latency, ok=True, cached=cached
    )
    entry["usage_reported"] = bool(reported)
    return CallResult(
        text=text,
        entry=entry,
        confidence=confidence_of(metadata),
        finish_reason=_finish_reason(metadata),
        seed=request.seed,
        overrun=overrun,
        prompt_tokens=prompt_tokens,
    )


async def _streamed(
    context: RunContext,
    model: BaseChatModel,
    messages: list[BaseMessage],
    stop: list[str] | None,
    kwargs: dict[str, Any],
    cap: int,
    cut: list[int],
    *,
    config: RunnableConfig,
) -> BaseMessage:
    """Stream a reply, merging its chunks; stop at the first content chunk past ``cap``.

    A content chunk carries at least one token, so more than ``cap`` of them is more than
    ``cap`` tokens: ``cut[0]`` is then set to the number received.
    """
    merged: Any = None
    pieces = 0
    stream = model.astream(messages, config, stop=stop, **kwargs)  # stream_usage: a field
    try:
        async for chunk in stream:
            merged = chunk if merged is None else merged + chunk
            if chunk.text:
                pieces += 1
                if pieces > cap:
                    cut[0] = pieces
                    break
    finally:
        await stream.aclose()  # type: ignore[attr-defined]
    if merged is None:
        return AIMessage(content="")
    if not cut[0] and not getattr(merged, "usage_metadata", None):
        key = id(context.model)
        if key not in _NO_STREAM_USAGE:
            _NO_STREAM_USAGE.add(key)
            weakref.finalize(context.model, _NO_STREAM_USAGE.discard, key)
    return cast(BaseMessage, merged)


def _usage(reply: Any, text: str) -> tuple[int, int] | None:
    """The (prompt, output) tokens a reply reports, or ``None`` when they cannot be trusted.

    Negative counts (a model that would hand budget back), counts that are not whole
    numbers, and zero output for a non-empty reply are treated as no report at all.
    """
    reported = getattr(reply, "usage_metadata", None)
    if not reported:
        return None
    tokens_in, tokens_out = reported.get("input_tokens"), reported.get("output_tokens")
    for value in (tokens_in, tokens_out):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            return None
    if tokens_out == 0 and text:
        return None
    return int(tokens_in), int(tokens_out)


def _cached(reply: Any, metadata: dict[str, Any], tokens_in: int) -> int:
    """The prompt tokens a reply says came from the model's cache (0 when it does not say).

    The embedded model says ``reused_prompt_tokens`` in its response metadata; a server that
    caches prompts reports LangChain's ``input_token_details.cache_read``. A count that is
    not a whole number in [0, ``tokens_in``] is not believed.
    """
    found = metadata.get("reused_prompt_tokens")
    if found is None:
        details = (getattr(reply, "usage_metadata", None) or {}).get("input_token_details")
        found = details.get("cache_read") if isinstance(details, dict) else None
    if isinstance(found, bool) or not isinstance(found, int) or not 0 <= found <= tokens_in:
        return 0
    return found


def _entry(
    context: RunContext,
    budget: Budget,
    node: str,
    request: CallRequest,
    tokens: tuple[int, int],
    latency: float,
    *,
    ok: bool,
    cached: int = 0,
) -> LedgerEntry:
    """The ledger entry of a call, its FLOPs estimated from the tokens it processed."""
    tokens_in, tokens_out = tokens
    return LedgerEntry(
        id=new_id(),
        node=node,
        candidate_id=request.candidate_id,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=budget.call_cost(tokens_in, tokens_out),
        latency_s=latency,
        usage_reported=False,
        ok=ok,
        tokens_cached=cached,
        flops=context.traits.flops(tokens_in - cached + tokens_out),
    )


def _failed(
    context: RunContext,
    budget: Budget,
    node: str,
    request: CallRequest,
    tokens: tuple[int, int],
    latency: float,
    failure: PonderError,
) -> CallResult:
    # Charged what it can have spent (`ponder.models.failures`): a timeout its worst case.
    return CallResult(
        text="",
        entry=_entry(context, budget, node, request, tokens, latency, ok=False),
        failure=failure,
        finish_reason="error",
        seed=request.seed,
        prompt_tokens=tokens[0],
    )
