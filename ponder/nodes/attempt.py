"""The attempt nodes: draw candidate solutions of the problem from the model.

Two shapes:

- `attempt_node`: one prompt, up to ``per_step`` samples one after another (the strategies
  that sample until a vote or a verifier says stop).
- `fan_out_attempts` + `attempt_branch_node`: several prompting strategies at once, each a
  LangGraph ``Send`` branch running in parallel. Before fanning out, what remains of the
  budget is split between the branches (`ponder.budget.Budget.share`), so parallel branches
  can never overspend together.

A prompt whose ``output`` is ``"program"`` is program-aided: the model writes Python, the
sandbox runs it, and what it prints is the candidate's answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypedDict

from langgraph.runtime import Runtime
from langgraph.types import Send

from ponder.budget import Budget, BudgetLimits, Usage
from ponder.context import RunContext, usage_of
from ponder.nodes._call import CallRequest, CallResult, call_models
from ponder.nodes._types import BranchNode, Node
from ponder.prompts import PromptTemplate
from ponder.state import (
    ROOT_ID,
    Candidate,
    LedgerEntry,
    NodeKind,
    RunError,
    RunState,
    StopReason,
    new_id,
    next_index,
)
from ponder.verify.sandbox import SandboxLimits, run_python

__all__ = (
    "AttemptTask",
    "attempt_branch_node",
    "attempt_node",
    "call_candidate",
    "draw_candidates",
    "extract_answer",
    "fan_out_attempts",
    "make_candidate",
)

_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)


def extract_answer(context: RunContext, text: str, node: str) -> tuple[str | None, RunError | None]:
    """Run the context's extractor on ``text``; an extractor that raises gives no answer."""
    try:
        answer: object = context.extractor(text)  # typed str | None, but user code may lie
    except Exception as exc:  # a user's extractor may raise anything
        return None, RunError(
            id=new_id(), node=node, kind="ExtractorError", message=f"{type(exc).__name__}: {exc}"
        )
    if answer is None or isinstance(answer, str):
        return answer, None
    if isinstance(answer, (int, float)) and not isinstance(answer, bool):
        return str(answer), None
    return None, RunError(
        id=new_id(), node=node, kind="ExtractorError",
        message=f"the extractor returned {type(answer).__name__}, not text or None",
    )  # fmt: skip


def program_code(text: str) -> str:
    """Return the Python code in a model's reply (its first code block, else the reply)."""
    found = _CODE_BLOCK.search(text)
    return (found.group(1) if found else text).strip()


async def make_candidate(
    context: RunContext,
    result: CallResult,
    *,
    index: int,
    node: str,
    prompt: PromptTemplate,
    temperature: float,
    kind: NodeKind = "attempt",
    parent_id: str = ROOT_ID,
    limits: SandboxLimits | None = None,
) -> tuple[Candidate, list[RunError]]:
    """Turn a successful model call into a candidate (running its program if it is one)."""
    assert result.entry is not None  # noqa: S101 - callers pass successful calls only
    errors: list[RunError] = []
    text = result.text
    reason: str | None = None
    if prompt.output == "program":
        kind = "program"
        run = await run_python(program_code(text), limits)
        if run.ok:
            answer, problem = extract_answer(context, run.stdout, node)
        else:
            answer, problem = None, None
            reason = f"program failed: {run.error}"
    else:
        answer, problem = extract_answer(context, text, node)
    if problem is not None:
        errors.append(problem)
    candidate = call_candidate(
        result, index=index, parent_id=parent_id, kind=kind, node=node, prompt=prompt.name,
        text=text, answer=answer, reason=reason, temperature=temperature,
    )  # fmt: skip
    return candidate, errors


def call_candidate(
    result: CallResult,
    *,
    index: int,
    parent_id: str,
    kind: NodeKind,
    node: str,
    prompt: str,
    text: str,
    answer: str | None,
    reason: str | None,
    temperature: float,
) -> Candidate:
    """Return the (unjudged) tree node for a successful model call."""
    assert result.entry is not None  # noqa: S101 - callers pass successful calls only
    return Candidate(
        id=f"c{index}", parent_id=parent_id, kind=kind, node=node, prompt=prompt, text=text,
        answer=answer, score=None, verdict=None, reason=reason, critique=None,
        temperature=temperature, seed=result.seed, tokens_in=result.entry["tokens_in"],
        tokens_out=result.entry["tokens_out"], latency_s=result.entry["latency_s"],
        finish_reason=result.finish_reason,
    )  # fmt: skip


async def draw_candidates(
    context: RunContext,
    budget: Budget,
    usage: Usage,
    problem: str,
    *,
    prompt: PromptTemplate,
    indices: Sequence[int],
    node: str,
    temperature: float,
    max_tokens: int,
    kind: NodeKind = "attempt",
) -> dict[str, Any]:
    """Sample one candidate per index with ``prompt``; the update for the state.

    The samples are drawn concurrently (`ponder.nodes._call.call_models`): the budget
    reserves every call's worst case before any starts, and the embedded model decodes them
    together in one batch. A call the budget refuses ends the wave with the calls after it;
    if it is the first, the node stops the run (``stop_reason`` ``budget``), otherwise the
    routing edge decides with what was actually spent. A call that fails sets ``error``.
    Every call that was made is charged, and every candidate drawn is kept.
    """
    messages = prompt.render(context.prompt_style, problem=problem)
    candidates: list[Candidate] = []
    ledger: list[LedgerEntry] = []
    errors: list[RunError] = []
    stop_reason: StopReason | None = None
    stop = prompt.stop(context.prompt_style)
    requests = [
        CallRequest(
            messages=messages,
            candidate_id=f"c{index}",
            max_tokens=max_tokens,
            temperature=temperature,
            seed=context.seed + index,
            stop=stop,
        )  # fmt: skip
        for index in indices
    ]
    results = await call_models(context, budget, usage, requests, node=node)
    for index, result in zip(indices, results, strict=True):
        if result.entry is None:
            if ledger:  # the wave was cut short; the routing edge decides whether to go on
                break
            stop_reason = stop_reason or "budget"
            if usage.calls == 0:
                errors.append(
                    RunError(
                        id=new_id(),
                        node=node,
                        kind="BudgetExceeded",
                        message=(
                            f"the budget cannot afford a single call ({result.refused_by} "
                            f"limit): the prompt alone needs about {result.prompt_tokens} "
                            "tokens, plus the output; raise the budget"
                        ),
                    )  # fmt: skip
                )
            break
        ledger.append(result.entry)
        if result.error is not None:
            errors += result.problems
            stop_reason = stop_reason or result.stop_reason
            continue
        candidate, problems = await make_candidate(
            context,
            result,
            index=index,
            node=node,
            prompt=prompt,
            temperature=temperature,
            kind=kind,
        )
        candidates.append(candidate)
        errors += problems
        if result.overrun is not None:
            errors.append(result.overrun)
            stop_reason = "budget"
    update: dict[str, Any] = {"candidates": candidates, "ledger": ledger, "errors": errors}
    if stop_reason is not None:
        update["stop_reason"] = stop_reason
    return update


def attempt_node(
    *,
    prompt: PromptTemplate,
    temperature: float,
    max_tokens: int,
    per_step: int | Callable[[RunState], int] = 1,
    max_candidates: int,
    name: str = "attempt",
) -> Node:
    """Return a node that samples up to ``per_step`` candidates per step, one prompt.

    Args:
        prompt: The attempt prompt.
        temperature: Sampling temperature (0 is greedy).
        max_tokens: Output cap per candidate, in tokens.
        per_step: Candidates drawn per step, drawn together (one batched decode on the
            embedded model), or a function of the state giving that number; the routing
            edge decides whether to step again.
        max_candidates: The node never lets the run hold more candidates than this.
        name: The node's name, recorded in candidates and the ledger.

    The node stops early (and sets ``stop_reason``) when the budget refuses a call
    (``"budget"``) or the model fails (``"error"``); candidates drawn before are kept.
    """

    async def attempt(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = runtime.context
        budget, usage = usage_of(state, context)
        candidates = state.get("candidates", [])
        start = next_index(candidates)
        wave = per_step(state) if callable(per_step) else per_step
        count = max(0, min(wave, max_candidates - len(candidates)))
        return await draw_candidates(
            context, budget, usage, state["problem"],
            prompt=prompt, indices=range(start, start + count), node=name,
            temperature=temperature, max_tokens=max_tokens,
        )  # fmt: skip

    attempt.__name__ = name
    return attempt


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


def fan_out_attempts(
    prompts: Sequence[PromptTemplate], *, branch: str = "attempt_branch"
) -> Callable[[RunState, Runtime[RunContext]], list[Send]]:
    """Return a routing function that sends one branch per prompt, each with its allowance.

    Branches that the remaining budget cannot afford are not sent.
    """

    def fan_out(state: RunState, runtime: Runtime[RunContext]) -> list[Send]:
        budget, usage = usage_of(state, runtime.context)
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
) -> BranchNode[AttemptTask]:
    """Return the node that runs one fanned-out attempt within its allowance.

    Args:
        prompts: The prompts the fan-out may name, by name.
        temperature: Sampling temperature.
        max_tokens: Output cap, in tokens.
        name: The node's name.
    """

    async def attempt_branch(state: AttemptTask, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        task = state  # LangGraph hands the Send payload to the node as its state
        context = runtime.context
        budget = Budget.from_limits(task["allowance"])
        usage = Usage(seconds=task["seconds_before"] + context.elapsed())
        update = await draw_candidates(
            context, budget, usage, task["problem"],
            prompt=prompts[task["prompt"]], indices=[task["index"]], node=name,
            temperature=temperature, max_tokens=max_tokens,
        )  # fmt: skip
        update.pop("stop_reason", None)  # one branch's refusal does not stop the others
        return update

    attempt_branch.__name__ = name
    return attempt_branch
