"""The attempt nodes: draw candidate solutions of the problem from the model.

Two shapes:

- `attempt_node`: one prompt, up to ``per_step`` samples drawn together (the strategies that
  sample until a vote or a verifier says stop).
- `fan_out_attempts` + `attempt_branch_node`: several prompting strategies at once, each a
  LangGraph ``Send`` branch running in parallel. Before fanning out, what remains of the
  budget is split between the branches (`ponder.budget.Budget.share`), so parallel branches
  can never overspend together.

A prompt whose ``output`` is ``"program"`` is program-aided: the model writes Python, the
sandbox runs it, and what it prints is the candidate's answer.

With ``early_stop`` (DeepConf's online mode), once `WARMUP` samples have run to their end the
later ones carry a confidence floor (`confidence_floor`): a model that can (the embedded
model's batched path) stops a sample whose last 16 tokens' mean confidence falls below it,
and the stopped sample, charged what it generated, does not vote.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.runtime import Runtime
from langgraph.types import Send
from typing_extensions import NotRequired, TypedDict

from ponder._sync import DualNode, dual_node
from ponder.budget import Budget, BudgetLimits, Usage
from ponder.context import RunContext, context_of, session_seconds, usage_of
from ponder.nodes.metered import Meter
from ponder.prompts import PromptName, PromptTemplate, resolve_prompt
from ponder.state import Candidate, NodeKind, RunState, next_index

__all__ = (
    "WARMUP",
    "AttemptTask",
    "attempt_branch_node",
    "attempt_node",
    "confidence_floor",
    "draw_candidates",
    "fan_out_attempts",
)


WARMUP = 3
"""Samples that must have run to their end before `confidence_floor` sets a floor."""


def confidence_floor(candidates: Sequence[Candidate], keep: float) -> float | None:
    """Return the confidence floor for the next samples, or ``None`` before the warm-up.

    DeepConf's online threshold: the ``1 - keep`` quantile of the lowest group confidence
    (`ponder.models.confidence`) of the samples that ran to their end, so that a share
    ``keep`` of samples like them would pass it. ``None`` until `WARMUP` such samples with
    a confidence exist.

    Example:
        >>> def sample(lowest: float) -> Any:
        ...     return {"finish_reason": "stop", "confidence": {"lowest_group": lowest}}
        >>> confidence_floor([sample(v) for v in (5.0, 3.0, 4.0, 1.0)], keep=0.75)
        2.5
        >>> confidence_floor([sample(5.0)], keep=0.9) is None
        True
    """
    values = []
    for candidate in candidates:
        confidence = candidate.get("confidence")
        if confidence and candidate["finish_reason"] in ("stop", "length"):
            values.append(float(confidence["lowest_group"]))
    values.sort()
    if len(values) < WARMUP:
        return None
    position = (1.0 - keep) * (len(values) - 1)
    below = int(position)
    above = min(below + 1, len(values) - 1)
    return values[below] + (values[above] - values[below]) * (position - below)


async def draw_candidates(
    meter: Meter,
    problem: str,
    *,
    prompt: PromptTemplate,
    indices: Sequence[int],
    temperature: float,
    max_tokens: int,
    kind: NodeKind = "attempt",
    first_temperature: float | None = None,
    min_confidence: float | None = None,
    first_index: int = 0,
) -> dict[str, Any]:
    """Sample one candidate per index with ``prompt``; the update for the state.

    The samples are one group of metered calls (`Meter.calls`): drawn together, every call
    that was made charged, every usable one kept as candidate ``c<index>`` with seed
    ``seed + index``. With ``first_temperature``, candidate ``c<first_index>`` is drawn
    at that temperature instead (0: the greedy answer). ``min_confidence`` is every call's
    confidence floor (`CallRequest.min_confidence`).
    """

    def heat(index: int) -> float:
        if index == first_index and first_temperature is not None:
            return first_temperature
        return temperature

    messages = meter.render(prompt, problem=problem)
    stop = meter.stops(prompt)
    requests = [
        meter.request(
            messages,
            index=index,
            max_tokens=max_tokens,
            temperature=heat(index),
            stop=stop,
            min_confidence=min_confidence,
            prompt=prompt.name,
        )  # fmt: skip
        for index in indices
    ]
    results = await meter.calls(requests)
    candidates = [
        await meter.candidate(
            result, index=index, prompt=prompt, temperature=heat(index), kind=kind
        )
        for index, result in zip(indices, results, strict=True)
        if result.usable
    ]
    return meter.update(candidates=candidates)


def attempt_node(
    *,
    prompt: PromptTemplate | PromptName,
    temperature: float,
    max_tokens: int,
    per_step: int | Callable[[RunState], int] = 1,
    max_candidates: int | None = None,
    name: str = "attempt",
    first_temperature: float | None = None,
    early_stop: float | None = None,
) -> DualNode:
    """Return a node that samples up to ``per_step`` candidates per step, one prompt.

    Args:
        prompt: The attempt prompt (a template or the name of one).
        temperature: Sampling temperature (0 is greedy).
        max_tokens: Output cap per candidate, in tokens.
        per_step: Candidates drawn per step, drawn together (one batched decode on the
            embedded model), or a function of the state giving that number; the routing
            edge decides whether to step again.
        max_candidates: The node never lets the run hold more candidates than this;
            ``None``: no cap of its own (``per_step`` and the budget decide).
        name: The node's name, recorded in candidates and the ledger.
        first_temperature: The temperature of the first candidate this node draws in the
            run, when it differs (0: the greedy answer first).
        early_stop: Stop later samples whose confidence falls below the floor that keeps
            this share of the warm-up samples (`confidence_floor`); ``None``: never.

    The node stops early (and sets ``stop_reason``) when the budget refuses a call
    (``"budget"``) or the model fails (``"error"``); candidates drawn before are kept.
    """
    template = resolve_prompt(prompt)

    async def attempt(
        state: RunState, *, runtime: Runtime[RunContext], config: RunnableConfig
    ) -> dict[str, Any]:
        candidates = state.get("candidates", [])
        start = next_index(candidates)
        wave = per_step(state) if callable(per_step) else per_step
        room = wave if max_candidates is None else max_candidates - len(candidates)
        count = max(0, min(wave, room))
        floor = None if early_stop is None else confidence_floor(candidates, early_stop)
        meter = Meter(state, context_of(runtime.context), node=name, config=config)
        first = -1 if any(c["node"] == name for c in candidates) else start
        return await draw_candidates(
            meter, state["problem"], prompt=template, indices=range(start, start + count),
            temperature=temperature, max_tokens=max_tokens, first_temperature=first_temperature,
            min_confidence=floor, first_index=first,
        )  # fmt: skip

    return dual_node(attempt, name=name)


class AttemptTask(TypedDict):
    """What one parallel attempt branch receives (plain data, so it can be checkpointed)."""

    problem: str
    """The problem."""
    prompt: str
    """The name of the branch's prompt."""
    index: int
    """The branch's candidate index (its id is ``c<index>``)."""
    allowance: BudgetLimits
    """The branch's share of the budget."""
    seconds_before: float
    """The run's ``seconds_before`` (wall seconds of its earlier sessions)."""
    started_at: NotRequired[float]
    """The run's ``started_at`` (when this session started); absent in branches stored
    before ponder kept it."""


def fan_out_attempts(
    prompts: Sequence[PromptTemplate], *, branch: str = "attempt_branch"
) -> Callable[[RunState, Runtime[RunContext]], list[Send]]:
    """Return a routing function that sends one branch per prompt, each with its allowance.

    Branches that the remaining budget cannot afford are not sent.
    """

    def fan_out(state: RunState, runtime: Runtime[RunContext]) -> list[Send]:
        budget, usage = usage_of(state, context_of(runtime.context))
        shares = budget.share(usage, len(prompts))
        start = next_index(state.get("candidates", []))
        return [
            Send(
                branch,
                AttemptTask(
                    problem=state["problem"],
                    prompt=prompt.name,
                    index=start + offset,
                    allowance=share.to_limits(),
                    seconds_before=state.get("seconds_before", 0.0),
                    started_at=state.get("started_at", time.time()),
                ),
            )
            for offset, (prompt, share) in enumerate(zip(prompts, shares, strict=False))
        ]

    return fan_out


def attempt_branch_node(
    prompts: Mapping[str, PromptTemplate],
    *,
    temperature: float,
    max_tokens: int,
    name: str = "attempt_branch",
) -> DualNode:
    """Return the node that runs one fanned-out attempt within its allowance.

    Args:
        prompts: The prompts the fan-out may name, by name.
        temperature: Sampling temperature.
        max_tokens: Output cap, in tokens.
        name: The node's name.
    """

    async def attempt_branch(
        state: AttemptTask, *, runtime: Runtime[RunContext], config: RunnableConfig
    ) -> dict[str, Any]:
        task = state  # LangGraph hands the Send payload to the node as its state
        context = context_of(runtime.context)
        meter = Meter(
            task, context, node=name, config=config, budget=Budget.from_limits(task["allowance"]),
            usage=Usage(seconds=task["seconds_before"] + session_seconds(task, context)),
        )  # fmt: skip
        update = await draw_candidates(
            meter, task["problem"], prompt=prompts[task["prompt"]], indices=[task["index"]],
            temperature=temperature, max_tokens=max_tokens,
        )  # fmt: skip
        update.pop("stop_reason", None)  # one branch's refusal does not stop the others
        return update

    return dual_node(attempt_branch, name=name)
