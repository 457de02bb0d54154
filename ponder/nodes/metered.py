"""The metered call: how every node, ponder's and a user's, spends within the run's budget.

A `Meter` is made once per node step from the state and the run context. It reads the budget
and what has been spent once, then:

1. plans each group of calls against its worst case (prompt tokens, counted exactly for the
   embedded model and bounded otherwise, plus the output cap), lowering a cap where that
   still leaves a useful call and refusing the rest (see `ponder.budget.plan_call`);
2. runs the group concurrently (one batched decode on the embedded model), each call with its
   deadline;
3. charges every call that was made to its ledger, failed ones included (what each can have
   spent: `ponder.models.failures`);
4. applies one rule to the results: a call the budget refuses ends the group with the calls
   after it, and stops the run (``stop_reason`` ``budget``) when the node had made no call
   yet; a call that failed records its error and stops the run (``error``, or ``budget``
   when the budget cut it off); a call that cannot be sent at all (a prompt longer than the
   model's context window) is charged nothing, recorded, and stops the run (``error``); a
   call that spent more than planned (a model that ignores its output cap) is kept,
   recorded, and fails the run (``error``: more budget would not help);
5. turns usable results into candidates (`Meter.candidate`), running a program-aided
   attempt's program in the sandbox and extracting its answer.

`Meter.update` is the node's state update: the ledger entries, the errors, the stop reason and
whatever else the node adds. The state must hold ``budget`` (and may hold ``ledger``,
``errors`` and ``phase_limit``), as `ponder.state.RunState` does.

Example, a user's node that answers with one charged call::

    async def direct(state: AgentState, *, runtime: Runtime[RunContext]) -> dict[str, Any]:
        meter = Meter(state, context_of(runtime.context), node="direct")
        result = await meter.call(
            [HumanMessage(state["question"])], max_tokens=32, candidate_id=None
        )
        return meter.update(answer=result.text.strip() if result.usable else None)
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.runnables import RunnableConfig

from ponder.budget import Budget, Usage
from ponder.context import RunContext, usage_of
from ponder.errors import BudgetExceeded, ExtractorError, PonderError
from ponder.nodes._calls import CallRequest, CallResult, make_calls
from ponder.prompts import PromptTemplate
from ponder.state import (
    ROOT_ID,
    Candidate,
    LedgerEntry,
    NodeKind,
    RunError,
    RunState,
    StopReason,
    run_error,
)
from ponder.verify.extract import run_extractor
from ponder.verify.sandbox import SandboxLimits, run_python

__all__ = ("CallRequest", "CallResult", "Meter", "call_candidate", "program_code")

_CODE_BLOCK = re.compile(r"```(?:python|py)?\s*\n(.*?)(?:```|$)", re.DOTALL)


def program_code(text: str) -> str:
    """Return the Python code in a model's reply (its first code block, else the reply)."""
    found = _CODE_BLOCK.search(text)
    return (found.group(1) if found else text).strip()


def call_candidate(
    result: CallResult,
    *,
    index: int,
    node: str,
    prompt: str,
    text: str,
    answer: str | None,
    temperature: float,
    kind: NodeKind = "attempt",
    parent_id: str = ROOT_ID,
    reason: str | None = None,
) -> Candidate:
    """Return the (unjudged) tree node ``c<index>`` for a usable model call.

    A sample the model stopped for low confidence has no answer (it does not vote).
    """
    entry = result.entry
    if entry is None:
        raise ValueError("a refused call makes no candidate")
    if result.finish_reason == "low_confidence":
        answer, reason = None, "stopped early: its confidence fell below the run's floor"
    return Candidate(
        id=f"c{index}", parent_id=parent_id, kind=kind, node=node, prompt=prompt, text=text,
        answer=answer, score=None, verdict=None, reason=reason, critique=None,
        temperature=temperature, seed=result.seed, tokens_in=entry["tokens_in"],
        tokens_out=entry["tokens_out"], latency_s=entry["latency_s"],
        finish_reason=result.finish_reason, confidence=result.confidence,
    )  # fmt: skip


class Meter:
    """Spends within the run's budget from one node step; see the module docstring.

    Args:
        state: The graph state (it must hold ``budget``).
        context: The run context.
        node: The node's name, recorded in the ledger, the candidates and the errors.
        budget: The budget to spend instead of the state's (a parallel branch's share).
        usage: What counts as spent instead of the state's ledger (with ``budget``).
        opens: Whether the step may make the run's first call, planned with
            `RunContext.first_min_tokens` (default: when the state's ledger is empty; a
            ``budget``/``usage`` share, such as a fan-out branch's, never does unless told).
        config: The node's LangGraph config: its callbacks, tags and metadata are passed
            on to every model call (`ponder.nodes._calls.call_config`), so a tracer sees
            each call under the node, named after it and its candidate.
    """

    def __init__(
        self,
        state: RunState | Mapping[str, Any],
        context: RunContext,
        *,
        node: str,
        budget: Budget | None = None,
        usage: Usage | None = None,
        config: RunnableConfig | None = None,
        opens: bool | None = None,
    ) -> None:
        if budget is None or usage is None:
            budget, usage = usage_of(state, context)  # type: ignore[arg-type]
            opens = usage.calls == 0 if opens is None else opens
        self.opens = bool(opens)
        """Whether this step may make the run's first call (see ``opens``)."""
        self.context = context
        self.node = node
        self.config = config
        self.budget = budget
        self.usage = usage
        """What has been spent, this step's calls included."""
        self.ledger: list[LedgerEntry] = []
        """This step's charges."""
        self.errors: list[RunError] = []
        """This step's recorded failures."""
        self.stop_reason: StopReason | None = None
        """Why the run must stop after this step, once something says so."""
        self.refused = False
        """Whether the budget refused a call of this step."""
        self._calls_before = usage.calls

    @property
    def stopped(self) -> bool:
        """Whether the node should make no more calls this step (refused, failed, overran)."""
        return self.refused or self.stop_reason is not None

    def render(self, prompt: PromptTemplate, **values: str) -> list[BaseMessage]:
        """Render ``prompt`` in the style the run's model wants."""
        return prompt.render(self.context.prompt_style, **values)

    def stops(self, prompt: PromptTemplate) -> list[str] | None:
        """Return ``prompt``'s stop strings in the model's style."""
        return prompt.stop(self.context.prompt_style)

    def request(
        self,
        messages: Sequence[BaseMessage],
        *,
        index: int,
        max_tokens: int,
        temperature: float,
        stop: list[str] | None = None,
        min_confidence: float | None = None,
        prompt: str | None = None,
    ) -> CallRequest:
        """Return the request for candidate ``c<index>``, sampled with seed ``seed + index``.

        Seeds follow the candidate's index, so a rerun (or a resumed run) repeats it. With
        ``min_confidence``, a model that can stops the sample once its confidence falls
        below it (`CallRequest.min_confidence`).
        """
        return CallRequest(
            messages=messages, candidate_id=f"c{index}", max_tokens=max_tokens,
            temperature=temperature, seed=self.context.seed + index, stop=stop,
            min_confidence=min_confidence, prompt=prompt,
        )  # fmt: skip

    async def call(
        self,
        messages: Sequence[BaseMessage],
        *,
        max_tokens: int,
        temperature: float = 0.0,
        seed: int | None = None,
        stop: list[str] | None = None,
        candidate_id: str | None = None,
        prompt: str | None = None,
    ) -> CallResult:
        """Make one call (see `calls`); ``seed`` defaults to the run's seed."""
        request = CallRequest(
            messages=messages, candidate_id=candidate_id, max_tokens=max_tokens,
            temperature=temperature, seed=self.context.seed if seed is None else seed, stop=stop,
            prompt=prompt,
        )  # fmt: skip
        (result,) = await self.calls([request])
        return result

    async def calls(self, requests: Sequence[CallRequest]) -> list[CallResult]:
        """Make a group of calls at once within the budget; one result per request, in order.

        The one rule of the module docstring is applied to the results; use
        `CallResult.usable` to pick the ones with text.
        """
        results = await make_calls(
            self.context, self.budget, self.usage, requests, node=self.node, config=self.config,
            first=self.opens and not self.ledger,
        )  # fmt: skip
        for result in results:
            if result.entry is None and result.stop_reason == "error":
                self.refused = True  # it could not be sent: the model cannot take it
                if result.failure is not None:
                    self.record(result.failure)
                self.stop_reason = self.stop_reason or "error"
                break
            if result.entry is None:
                self.refused = True
                if len(self.ledger) == 0:  # nothing made this step: the budget ends the run
                    self.stop_reason = self.stop_reason or "budget"
                    if self._calls_before == 0 and result.failure is not None:
                        self.record(_unaffordable(result))
                break
            self.ledger.append(result.entry)
            self.usage = self.usage.plus(result.entry)
            if result.failure is not None:
                self.record(result.failure)
                self.stop_reason = self.stop_reason or result.stop_reason
            elif result.overrun is not None:
                self.record(result.overrun)
                self.stop_reason = "error"  # a top-up would not help a model that overspends
        return results

    def record(self, error: BaseException) -> None:
        """Record a failure of this step (it is kept in the run's ``errors``)."""
        self.errors.append(run_error(error, self.node))

    def extract(self, text: str) -> str | None:
        """Return the answer the run's extractor finds in ``text``; a failure is recorded."""
        try:
            return run_extractor(self.context.extractor, text)
        except ExtractorError as exc:
            self.record(exc)
            return None

    async def candidate(
        self,
        result: CallResult,
        *,
        index: int,
        prompt: PromptTemplate,
        temperature: float,
        kind: NodeKind = "attempt",
        parent_id: str = ROOT_ID,
        limits: SandboxLimits | None = None,
    ) -> Candidate:
        """Turn a usable call into candidate ``c<index>``, with its answer extracted.

        A program-aided prompt's program is run in the sandbox first; what it prints is
        where the answer is found (a program that fails gives no answer, and says why).
        """
        text, reason = result.text, None
        if prompt.output == "program":
            kind = "program"
            run = await run_python(program_code(text), limits)
            answer = self.extract(run.stdout) if run.ok else None
            reason = None if run.ok else f"program failed: {run.error}"
        else:
            answer = self.extract(text)
        return call_candidate(
            result, index=index, node=self.node, prompt=prompt.name, text=text, answer=answer,
            temperature=temperature, kind=kind, parent_id=parent_id, reason=reason,
        )  # fmt: skip

    def update(self, **values: Any) -> dict[str, Any]:
        """Return the node's state update: the charges, the errors, the stop and ``values``."""
        update: dict[str, Any] = {"ledger": self.ledger, "errors": self.errors, **values}
        if self.stop_reason is not None:
            update["stop_reason"] = self.stop_reason
        return update


def _unaffordable(result: CallResult) -> PonderError:
    limit = result.failure.limit if isinstance(result.failure, BudgetExceeded) else "tokens"
    return BudgetExceeded(
        limit, 0, 0,
        message=(
            f"the budget cannot afford a single call ({limit} limit): the prompt alone needs "
            f"about {result.prompt_tokens} tokens, plus the output; raise the budget"
        ),
    )  # fmt: skip
