"""The one way nodes call a model: budget check first, usage charged after, failures kept.

Every model call in every node goes through `call_model`, which:

1. bounds the prompt's tokens (exactly with the embedded model's tokenizer, otherwise an
   upper bound: UTF-8 bytes plus per-message overhead, since a byte-level BPE token is at
   least one byte);
2. asks `ponder.budget.plan_call` whether the worst case fits what remains, lowering
   ``max_tokens`` when that still leaves a useful call, refusing otherwise;
3. calls the model with a deadline, and returns the text with a `LedgerEntry` charged from
   the usage the model reported; a model that raises or times out gives a failed result
   (with its ledger entry and a `RunError`) instead of an exception.

`call_models` makes several such calls at once (the samples of one step): each is planned
as if every call before it spent its worst case, so the group together never spends more
than the budget allows, then they run concurrently (at most
`ponder.context.RunContext.max_concurrent_calls` in flight). The embedded model decodes
concurrent calls together in one batch; a remote model gets concurrent requests.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage

from ponder.budget import Budget, CallPlan, Usage, plan_call
from ponder.context import RunContext
from ponder.models.embedded import EmbeddedChatModel
from ponder.state import FinishReason, LedgerEntry, RunError, StopReason, new_id

__all__ = ("CallRequest", "CallResult", "call_model", "call_models", "prompt_token_bound")

_MESSAGE_OVERHEAD = 8
"""Upper bound on the template tokens a chat format adds per message."""
_PROMPT_OVERHEAD = 16
"""Upper bound on the template tokens a chat format adds per prompt."""
_TIMEOUT_GRACE = 1.0
"""Seconds allowed past an in-process model's own deadline before giving up on it."""


@dataclass(frozen=True, kw_only=True, slots=True)
class CallResult:
    """What `call_model` returns."""

    text: str
    """The model's output ("" when refused or failed)."""
    entry: LedgerEntry | None
    """The charge for the call; ``None`` when the budget refused it (nothing was spent)."""
    error: RunError | None = None
    """What went wrong, when the model failed."""
    refused_by: str | None = None
    """The budget limit that refused the call, if it did."""
    finish_reason: FinishReason = "stop"
    """How the call ended."""
    seed: int | None = None
    """The seed sent with the call."""
    overrun: RunError | None = None
    """Set when the model spent more than the call was planned for (the run must stop)."""
    prompt_tokens: int = 0
    """The prompt's token count (or bound) the call was planned with."""

    @property
    def ok(self) -> bool:
        """Whether the call ran and returned text."""
        return self.entry is not None and self.error is None

    @property
    def problems(self) -> list[RunError]:
        """The failures to record: the call's error and its overrun, if any."""
        return [p for p in (self.error, self.overrun) if p is not None]

    @property
    def stop_reason(self) -> StopReason | None:
        """Why the node must stop after this call: the budget, an error, or ``None``."""
        if self.entry is None or self.overrun is not None:
            return "budget"
        if self.error is not None:
            return "budget" if self.error["kind"] == "BudgetExceeded" else "error"
        return None


@dataclass(frozen=True, kw_only=True, slots=True)
class CallRequest:
    """One call of a group made with `call_models`."""

    messages: Sequence[BaseMessage]
    """The prompt."""
    candidate_id: str | None
    """The candidate the call is for, recorded in its ledger entry."""
    max_tokens: int
    """The output cap wanted (the budget may lower it)."""
    temperature: float
    """Sampling temperature."""
    seed: int | None
    """The call's seed."""
    stop: list[str] | None = None
    """Stop strings."""


def prompt_token_bound(model: BaseChatModel, messages: Sequence[BaseMessage]) -> int:
    """Return the prompt's token count (exact for embedded models, else an upper bound)."""
    if isinstance(model, EmbeddedChatModel):
        return model.count_prompt_tokens(messages)
    size = sum(len(m.text.encode("utf-8")) + _MESSAGE_OVERHEAD for m in messages)
    return size + _PROMPT_OVERHEAD


def _generation_kwargs(
    model: BaseChatModel,
    *,
    max_tokens: int,
    temperature: float,
    seed: int | None,
    timeout: float | None,
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"max_tokens": max_tokens, "temperature": temperature}
    if isinstance(model, EmbeddedChatModel):
        kwargs["seed"] = seed
        kwargs["timeout"] = timeout
    elif type(model).__module__.startswith(("langchain_openai", "ponder.models", "ponder.testing")):
        kwargs["seed"] = seed
    return kwargs


def _finish_reason(metadata: dict[str, Any]) -> FinishReason:
    reason = str(metadata.get("finish_reason") or metadata.get("stop_reason") or "stop")
    if reason in ("length", "max_tokens"):
        return "length"
    if reason == "timeout":
        return "timeout"
    return "stop"


async def call_model(
    context: RunContext,
    budget: Budget,
    usage: Usage,
    messages: Sequence[BaseMessage],
    *,
    node: str,
    candidate_id: str | None,
    max_tokens: int,
    temperature: float,
    seed: int | None,
    stop: list[str] | None = None,
) -> CallResult:
    """Call the run's model once, within the budget; see the module docstring."""
    request = CallRequest(
        messages=messages, candidate_id=candidate_id, max_tokens=max_tokens,
        temperature=temperature, seed=seed, stop=stop,
    )  # fmt: skip
    (result,) = await call_models(context, budget, usage, [request], node=node)
    return result


async def call_models(
    context: RunContext,
    budget: Budget,
    usage: Usage,
    requests: Sequence[CallRequest],
    *,
    node: str,
) -> list[CallResult]:
    """Make several calls at once, within the budget; one result per request, in order.

    The calls are planned in order, each against what remains once every call before it has
    spent its worst case (prompt plus output cap): the group reserves its whole cost before
    any call starts, so it can never overspend. The first call the budget refuses is
    refused with every call after it; the others run concurrently.
    """
    planned: list[tuple[CallRequest, int, CallPlan]] = []
    results: list[CallResult] = []
    reserved = usage
    for request in requests:
        prompt_tokens, plan = _plan(context, budget, reserved, request)
        if not plan.allowed:
            results = [
                _refused(r, plan, prompt_token_bound(context.model, r.messages))
                for r in requests[len(planned) :]
            ]
            break
        planned.append((request, prompt_tokens, plan))
        worst = budget.call_cost(prompt_tokens, plan.max_tokens)
        reserved = reserved.plus(
            {"tokens_in": prompt_tokens, "tokens_out": plan.max_tokens, "cost": worst,
             "latency_s": 0.0}
        )  # fmt: skip
    slots = asyncio.Semaphore(max(1, context.max_concurrent_calls))
    seconds = budget.remaining(usage).seconds
    deadline = None if seconds is None else time.monotonic() + seconds

    async def one(request: CallRequest, prompt_tokens: int, plan: CallPlan) -> CallResult:
        async with slots:
            if deadline is not None:  # time spent waiting for a slot counts
                left = deadline - time.monotonic()
                if left <= max(context.min_seconds, 0.0):
                    return _failed(
                        budget, node, request.candidate_id, (0, 0), 0.0, request.seed,
                        "BudgetExceeded",
                        "the wall-time budget ran out while the call waited for a free slot",
                    )  # fmt: skip
                timeout = left if context.call_timeout is None else min(context.call_timeout, left)
                plan = replace(plan, timeout=timeout)
            return await _invoke(context, budget, request, plan, prompt_tokens, node=node)

    made = await asyncio.gather(*(one(*item) for item in planned))
    return [*made, *results]


def _plan(
    context: RunContext, budget: Budget, usage: Usage, request: CallRequest
) -> tuple[int, CallPlan]:
    prompt_tokens = prompt_token_bound(context.model, request.messages)
    plan = plan_call(
        budget,
        usage,
        prompt_tokens=prompt_tokens,
        max_tokens=request.max_tokens,
        min_tokens=context.min_tokens,
        call_timeout=context.call_timeout,
        min_seconds=context.min_seconds,
    )
    return prompt_tokens, plan


def _refused(request: CallRequest, plan: CallPlan, prompt_tokens: int) -> CallResult:
    return CallResult(
        text="", entry=None, refused_by=plan.refused_by, seed=request.seed,
        prompt_tokens=prompt_tokens,
    )  # fmt: skip


async def _invoke(
    context: RunContext,
    budget: Budget,
    request: CallRequest,
    plan: CallPlan,
    prompt_tokens: int,
    *,
    node: str,
) -> CallResult:
    model = context.model
    candidate_id, seed = request.candidate_id, request.seed
    kwargs = _generation_kwargs(
        model,
        max_tokens=plan.max_tokens,
        temperature=request.temperature,
        seed=seed,
        timeout=plan.timeout,
    )
    in_process = isinstance(model, EmbeddedChatModel)
    wait = None if plan.timeout is None else plan.timeout + (_TIMEOUT_GRACE if in_process else 0)
    started = time.monotonic()
    try:
        reply = await asyncio.wait_for(
            model.ainvoke(list(request.messages), stop=request.stop, **kwargs), wait
        )
    except (TimeoutError, asyncio.TimeoutError):
        latency = time.monotonic() - started
        kind = "ModelTimeout" if plan.timeout == context.call_timeout else "BudgetExceeded"
        # The server may have generated (and billed) up to the cap: charge the worst case.
        return _failed(
            budget,
            node,
            candidate_id,
            (prompt_tokens, plan.max_tokens),
            latency,
            seed,
            kind,
            f"the model did not answer within {wait:g} s",
        )
    except Exception as exc:  # a model may raise anything; the run keeps its work
        latency = time.monotonic() - started
        return _failed(
            budget,
            node,
            candidate_id,
            (prompt_tokens, 0),
            latency,
            seed,
            "ModelError",
            f"{type(exc).__name__}: {exc}",
        )
    latency = time.monotonic() - started
    text = reply.text
    reported = reply.usage_metadata if hasattr(reply, "usage_metadata") else None
    if reported and (reported["output_tokens"] > 0 or not text):
        tokens_in, tokens_out = int(reported["input_tokens"]), int(reported["output_tokens"])
    else:
        # No usage (or zeros for a non-empty reply): charge the bounds the call was planned
        # with. A byte-level BPE token is at least one byte, and the cap was sent.
        reported = None
        tokens_in, tokens_out = prompt_tokens, min(len(text.encode("utf-8")), plan.max_tokens)
    overrun = None
    if tokens_out > plan.max_tokens or tokens_in > prompt_tokens:
        overrun = RunError(
            id=new_id(), node=node, kind="BudgetOverrun",
            message=(
                f"the model used {tokens_in} prompt and {tokens_out} output tokens where at "
                f"most {prompt_tokens} and {plan.max_tokens} were planned (it ignored the "
                "output cap, or its chat template adds text); the run stops here"
            ),
        )  # fmt: skip
    entry = LedgerEntry(
        id=new_id(),
        node=node,
        candidate_id=candidate_id,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=budget.call_cost(tokens_in, tokens_out),
        latency_s=latency,
        usage_reported=bool(reported),
        ok=True,
    )
    return CallResult(
        text=text,
        entry=entry,
        finish_reason=_finish_reason(dict(reply.response_metadata)),
        seed=seed,
        overrun=overrun,
    )


def _failed(
    budget: Budget,
    node: str,
    candidate_id: str | None,
    tokens: tuple[int, int],
    latency: float,
    seed: int | None,
    kind: str,
    message: str,
) -> CallResult:
    # A failed call may still have been billed for its prompt: charge the bound, not zero.
    tokens_in, tokens_out = tokens
    entry = LedgerEntry(
        id=new_id(),
        node=node,
        candidate_id=candidate_id,
        tokens_in=tokens_in,
        tokens_out=tokens_out,
        cost=budget.call_cost(tokens_in, tokens_out),
        latency_s=latency,
        usage_reported=False,
        ok=False,
    )
    return CallResult(
        text="",
        entry=entry,
        error=RunError(id=new_id(), node=node, kind=kind, message=message),
        finish_reason="error",
        seed=seed,
    )
