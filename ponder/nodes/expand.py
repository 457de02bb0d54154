"""Tree-search nodes: expand partial solutions by one step, and evaluate the new steps.

A step is a candidate of kind ``step`` whose ``parent_id`` is the step before it (``root``
for the first); the solution so far is the path of step texts from the root. A step that
states a final answer (``The answer is ...``) is terminal: its ``answer`` is extracted from
the whole path.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping, Sequence
from typing import Any

from langgraph.runtime import Runtime

from ponder.context import RunContext, usage_of
from ponder.errors import VerifierError
from ponder.nodes._call import CallRequest, call_model, call_models
from ponder.nodes._types import Node
from ponder.nodes.attempt import call_candidate, extract_answer
from ponder.prompts import EXPAND, VALUE, PromptTemplate
from ponder.state import (
    ROOT_ID,
    Candidate,
    LedgerEntry,
    RunError,
    RunState,
    VerdictLabel,
    new_id,
    next_index,
)
from ponder.verify.reward import score_steps
from ponder.verify.score import parse_score
from ponder.verify.verifier import run_verifier

__all__ = ("evaluate_node", "expand_node", "is_terminal", "path_text")

_FINAL = re.compile(r"answer\s*(?:is|:)", re.IGNORECASE)


def is_terminal(candidate: Candidate) -> bool:
    """Return whether a step states a final answer."""
    return candidate["kind"] == "step" and candidate["answer"] is not None


def path_text(by_id: Mapping[str, Candidate], node_id: str) -> str:
    """Return the solution so far: the step texts from the root to ``node_id``."""
    steps: list[str] = []
    seen: set[str] = set()
    while node_id != ROOT_ID and node_id in by_id and node_id not in seen:
        seen.add(node_id)  # a malformed tree with a cycle must not hang the run
        steps.append(by_id[node_id]["text"].strip())
        node_id = by_id[node_id]["parent_id"]
    return "\n".join(reversed(steps))


def _first_step(text: str) -> str:
    """Keep one step: the reply up to its first blank line."""
    stripped = text.strip()
    return stripped.split("\n\n", 1)[0].strip() if stripped else ""


def expand_node(
    *,
    branching: int,
    temperature: float = 0.8,
    max_tokens: int = 64,
    prompt: PromptTemplate = EXPAND,
    name: str = "expand",
) -> Node:
    """Return a node that adds ``branching`` next steps under every frontier node."""

    async def expand(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = runtime.context
        budget, usage = usage_of(state, context)
        candidates = state.get("candidates", [])
        by_id = {c["id"]: c for c in candidates}
        index = next_index(candidates)
        children: list[Candidate] = []
        ledger: list[LedgerEntry] = []
        errors: list[RunError] = []
        stop = prompt.stop(context.prompt_style)
        requests: list[tuple[str, str, CallRequest]] = []  # (parent id, its path, request)
        for parent in state.get("frontier", [ROOT_ID]):
            partial = path_text(by_id, parent)
            messages = prompt.render(
                context.prompt_style, problem=state["problem"], partial=partial or "(nothing yet)"
            )
            for child in range(index + len(requests), index + len(requests) + branching):
                request = CallRequest(
                    messages=messages, candidate_id=f"c{child}", max_tokens=max_tokens,
                    temperature=temperature, seed=context.seed + child, stop=stop,
                )  # fmt: skip
                requests.append((parent, partial, request))
        # Every child of the layer at once: one batched decode on the embedded model.
        results = await call_models(
            context, budget, usage, [request for _, _, request in requests], node=name
        )
        stop_reason: str | None = None
        for position, ((parent, partial, _), result) in enumerate(
            zip(requests, results, strict=True)
        ):
            if result.entry is None:  # the layer was cut short by the budget (no call after)
                if not ledger:
                    stop_reason = "budget"
                break
            ledger.append(result.entry)  # every call made is charged, whatever came after
            if result.error is not None:
                errors += result.problems
                stop_reason = stop_reason or result.stop_reason
                continue
            step = _first_step(result.text)
            answer = None
            if _FINAL.search(step):
                answer, problem = extract_answer(context, f"{partial}\n{step}", name)
                errors += [problem] if problem is not None else []
            children.append(
                call_candidate(
                    result,
                    index=index + position,  # the index its request (and seed) was made with
                    parent_id=parent,
                    kind="step",
                    node=name,
                    prompt=prompt.name,
                    text=step,
                    answer=answer,
                    reason=None,
                    temperature=temperature,
                )  # fmt: skip
            )
            if result.overrun is not None:
                errors.append(result.overrun)
                stop_reason = "budget"
        return _update(children, ledger, errors, stop_reason)

    expand.__name__ = name
    return expand


def _update(
    children: Sequence[Candidate],
    ledger: Sequence[LedgerEntry],
    errors: Sequence[RunError],
    stop: str | None,
) -> dict[str, Any]:
    update: dict[str, Any] = {
        "candidates": list(children),
        "ledger": list(ledger),
        "errors": list(errors),
    }
    if stop is not None:
        update["stop_reason"] = stop
    return update


def evaluate_node(
    *,
    accept_at: float = 1.0,
    prompt: PromptTemplate = VALUE,
    max_tokens: int = 12,
    name: str = "evaluate",
) -> Node:
    """Return a node that scores every unscored step.

    A terminal step is judged by the run's verifier when there is one (``accepted`` ends a
    search); any other step gets a value estimate from the model (``Score: 0-10``). A reply
    with no usable number leaves the score empty, with the reply as the reason.
    """

    async def evaluate(state: RunState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        context = runtime.context
        budget, usage = usage_of(state, context)
        candidates = state.get("candidates", [])
        by_id = {c["id"]: c for c in candidates}
        scored: list[Candidate] = []
        ledger: list[LedgerEntry] = []
        errors: list[RunError] = []
        stop: str | None = None
        for step in candidates:
            if step["kind"] != "step" or step["score"] is not None or step["reason"] is not None:
                continue
            if is_terminal(step) and context.verifier is not None:
                try:
                    verdict = await run_verifier(
                        context.verifier, state["problem"], step, timeout=context.verifier_timeout
                    )
                except VerifierError as exc:
                    errors.append(
                        RunError(id=new_id(), node=name, kind="VerifierError", message=str(exc))
                    )
                    scored.append({**step, "verdict": "unverified", "reason": str(exc)})
                    continue
                label: VerdictLabel = "accepted" if verdict.score >= accept_at else "rejected"
                scored.append(
                    {**step, "score": verdict.score, "verdict": label, "reason": verdict.reason}
                )
                continue
            if context.step_scorer is not None:
                steps = path_text(by_id, step["id"]).split("\n")
                try:
                    reward = await asyncio.wait_for(
                        score_steps(context.step_scorer, state["problem"], steps),
                        context.verifier_timeout,
                    )
                except Exception as exc:  # a user's scorer may raise anything
                    scored.append({**step, "reason": f"step scorer failed: {exc}"})
                    continue
                scored.append({**step, "score": reward, "reason": "process reward"})
                continue
            messages = prompt.render(
                context.prompt_style, problem=state["problem"],
                partial=path_text(by_id, step["id"]),
            )  # fmt: skip
            result = await call_model(
                context, budget, usage, messages, node=name, candidate_id=step["id"],
                max_tokens=max_tokens, temperature=0.0, seed=context.seed,
                stop=prompt.stop(context.prompt_style),
            )  # fmt: skip
            if result.entry is None:
                break
            ledger.append(result.entry)
            usage = usage.plus(result.entry)
            if result.error is not None or result.overrun is not None:
                errors += result.problems
                stop = result.stop_reason
                break
            value = parse_score(result.text, scale=10)
            if value is None:
                scored.append({**step, "reason": f"unusable value: {result.text.strip()[:80]!r}"})
            else:
                scored.append({**step, "score": value, "reason": f"value {value:.2f}"})
        return _update(scored, ledger, errors, stop)

    evaluate.__name__ = name
    return evaluate
