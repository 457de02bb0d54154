"""One chat request as a ponder run: checked before anything runs, then started or continued.

`prepare` reads a `ponder.serve.schemas.ChatRequest` into a `ChatRun`, refusing a bad one
(an `ponder.serve.api_errors.ApiError`: unknown model 404, bad budget or option 400, no such
run 404) before the reply begins, so that even a streamed request is refused with its own
status code. `ChatRun.run` then starts a new persisted run (`ponder.asolve` with the
server's ``db``) or continues one (`ponder.runs.aresume`), reporting progress as it goes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, cast

from langchain_core.language_models import BaseChatModel

from ponder import runs
from ponder.api import DEFAULT_BUDGET, asolve
from ponder.budget import Budget
from ponder.errors import ConfigurationError
from ponder.graphs.registry import STRATEGIES, StrategyName, StrategySpec, make_config
from ponder.nodes.select import tally
from ponder.result import RunResult
from ponder.serve.api_errors import ApiError
from ponder.serve.schemas import MODEL_PREFIX, ChatRequest, TopUpFields, usage_body
from ponder.serve.streaming import candidate_summary
from ponder.setup import check_verifier, open_store
from ponder.state import Candidate
from ponder.verify.extract import Extractor
from ponder.verify.record import SHIPPED_EXTRACTORS
from ponder.verify.verifier import ExpectedAnswer, Verifier

__all__ = ("ChatRun", "ModelPool", "ProgressEvent", "parse_model", "prepare")

ProgressEvent = Callable[[dict[str, Any]], None]
"""Receives each progress event of a run (the ``ponder`` field of a progress chunk)."""


@dataclass(kw_only=True, slots=True)
class ModelPool:
    """The models a server answers with: its own, and the upstreams it allows by spec.

    Each is one object for the whole server, so that concurrent requests share it (the
    embedded model decodes their calls in one batch).
    """

    default: BaseChatModel
    """The model of ``ponder-<strategy>``."""
    default_spec: str
    """Its spec (also accepted as ``ponder-<strategy>/<spec>``)."""
    allowed: tuple[str, ...] = ()
    """Other specs a request may name after the slash."""
    make: Callable[[str], BaseChatModel] | None = None
    """Builds the model of an allowed spec (on first use)."""
    _made: dict[str, BaseChatModel] = field(default_factory=dict)

    @property
    def upstreams(self) -> tuple[str, ...]:
        """Every spec a request may name: the default's first."""
        return (self.default_spec, *(s for s in self.allowed if s != self.default_spec))

    def get(self, spec: str | None) -> BaseChatModel:
        """The model for ``spec`` (``None``: the default).

        Raises:
            ApiError: The spec is not served here (404).
        """
        if spec is None or spec == self.default_spec:
            return self.default
        if spec not in self.allowed or self.make is None:
            raise ApiError(
                404, f"upstream model {spec!r} is not served here; this server serves "
                f"{', '.join(map(repr, self.upstreams))} (start it with --allow-model SPEC "
                "for more)", code="model_not_found", param="model",
            )  # fmt: skip
        if spec not in self._made:
            self._made[spec] = self.make(spec)
        return self._made[spec]


def parse_model(name: str) -> tuple[StrategySpec, str | None]:
    """Split ``ponder-<strategy>[/<upstream>]`` into the strategy and the upstream spec.

    Raises:
        ApiError: It names no strategy (404).

    Example:
        >>> spec, upstream = parse_model("ponder-best-of-n/smollm2")
        >>> spec.name, upstream
        ('best-of-n', 'smollm2')
    """
    head, slash, upstream = name.partition("/")
    strategy = head[len(MODEL_PREFIX) :] if head.startswith(MODEL_PREFIX) else None
    spec = STRATEGIES.get(strategy) if strategy else None
    if spec is None:
        known = ", ".join(f"{MODEL_PREFIX}{s}" for s in STRATEGIES)
        raise ApiError(
            404, f"the model {name!r} does not exist here; the models are {known} "
            "(optionally /<upstream model spec>)", code="model_not_found", param="model",
        )  # fmt: skip
    if slash and not upstream.strip():
        raise ApiError(
            404, f"the model {name!r} names no upstream after the slash",
            code="model_not_found", param="model",
        )  # fmt: skip
    return spec, (upstream.strip() if slash else None)


def _verifier(data: Mapping[str, Any] | None) -> Verifier | None:
    if data is None:
        return None
    if set(data) <= {"expected", "kind"} and isinstance(data.get("expected"), str):
        kind = data.get("kind", "number")
        if kind not in ("number", "string"):
            raise ConfigurationError(f"verifier.kind must be number or string, got {kind!r}")
        return ExpectedAnswer(data["expected"], kind)
    if set(data) == {"math"} and isinstance(data["math"], str):
        from ponder.verify.math import MathAnswer

        return MathAnswer(data["math"])
    raise ConfigurationError(
        'verifier must be {"expected": "<answer>", "kind": "number"|"string"} or '
        f'{{"math": "<answer>"}}, got {dict(data)!r}'
    )


def _extractor(name: str | None) -> Extractor | None:
    if name is None:
        return None
    found = SHIPPED_EXTRACTORS.get(name)
    if found is None:
        raise ConfigurationError(
            f"extractor must be one of {', '.join(SHIPPED_EXTRACTORS)}, got {name!r}"
        )
    return found


def _budget(request: ChatRequest) -> Budget:
    limits = request.ponder.budget
    budget = DEFAULT_BUDGET if limits is None else Budget.from_limits(limits)
    cap = request.output_cap()
    if cap is None:
        return budget
    try:
        return budget.tighter(Budget(output_tokens=cap))
    except ConfigurationError as exc:
        raise ConfigurationError(f"max_tokens: {exc}") from None


@dataclass(kw_only=True, slots=True)
class ChatRun:
    """A checked request: the run it starts or continues, and how to report on it."""

    model_name: str
    """The request's ``model``, echoed in the reply."""
    spec: StrategySpec
    """The strategy."""
    model: BaseChatModel
    """The model the run calls."""
    run_id: str
    """The run's id (a new one, or the one continued)."""
    db: str
    """The store the run is kept in."""
    problem: str = ""
    """A new run's question."""
    ignored_messages: int = 0
    """Messages before the question, not sent to the model."""
    budget: Budget | None = None
    """A new run's budget."""
    options: dict[str, Any] = field(default_factory=dict)
    """A new run's strategy options."""
    verifier: Verifier | None = None
    """A new run's verifier."""
    extractor: Extractor | None = None
    """A new run's answer extractor."""
    seed: int = 0
    """A new run's sampling seed."""
    continues: bool = False
    """Whether the run exists and is continued."""
    top_up: TopUpFields | None = None
    """A continued run's top-up (see `ponder.runs.aresume`)."""
    approve: bool | None = None
    """A continued run's approval."""
    spent_before: tuple[int, int] = (0, 0)
    """A continued run's input and output tokens before this request."""

    async def run(self, on_event: ProgressEvent | None = None) -> RunResult:
        """Run (or continue) the run to its end or its next pause.

        Raises:
            ConfigurationError: Refused at its start (a paused run without a top-up...).
            RunBusy: Another process works on the run.
        """
        seen: dict[str, Candidate] = {}

        def progress(node: str, candidate: Candidate) -> None:
            seen[candidate["id"]] = candidate
            if on_event is not None:
                on_event({
                    "event": "candidate", "phase": node,
                    "candidate": candidate_summary(candidate), "votes": tally(seen.values()),
                })  # fmt: skip

        if self.continues:
            more = self.top_up or TopUpFields()
            return await runs.aresume(
                self.run_id, db=self.db, model=self.model, approve=self.approve,
                on_progress=progress, add_tokens=more.tokens, add_calls=more.calls,
                add_seconds=more.seconds, add_cost=more.cost,
            )  # fmt: skip
        return await asolve(
            self.problem, cast(StrategyName, self.spec.name), budget=self.budget, model=self.model,
            verifier=self.verifier, extractor=self.extractor, seed=self.seed,
            on_progress=progress, db=self.db, run_id=self.run_id, **self.options,
        )  # fmt: skip

    def started(self) -> dict[str, Any]:
        """The ``ponder`` field of a stream's first chunk."""
        return {
            "event": "run",
            "run_id": self.run_id,
            "strategy": self.spec.name,
            "continued": self.continues,
            "ignored_messages": self.ignored_messages,
        }

    def usage(self, result: RunResult) -> dict[str, int]:
        """What this request spent (a continued run's earlier spend left out)."""
        before_in, before_out = self.spent_before
        return usage_body(
            max(0, result.usage.tokens_in - before_in), max(0, result.usage.tokens_out - before_out)
        )

    def summary(self, result: RunResult) -> dict[str, Any]:
        """The ``ponder`` field of the reply: the run, its answer, votes and whole spend."""
        usage = result.usage
        return {
            "run_id": result.run_id,
            "strategy": result.strategy,
            "status": result.status,
            "stop_reason": result.stop_reason,
            "answer": result.answer,
            "votes": result.votes,
            "candidates": [candidate_summary(c) for c in result.candidates],
            "run_usage": {
                **usage_body(usage.tokens_in, usage.tokens_out),
                "calls": usage.calls,
                "model_seconds": usage.model_seconds,
            },  # fmt: skip
            "wall_seconds": result.wall_seconds,
            "continued": self.continues,
            "ignored_messages": self.ignored_messages,
            "errors": [f"{e['kind']}: {e['message']}" for e in result.errors],
        }


async def prepare(request: ChatRequest, *, pool: ModelPool, db: str) -> ChatRun:
    """Check ``request`` and turn it into the `ChatRun` it asks for.

    Raises:
        ApiError: The model names no strategy or an upstream not served (404); the run to
            continue does not exist (404) or is another strategy's (400).
        ConfigurationError: A bad budget, option, verifier, extractor, seed or message.
    """
    spec, upstream = parse_model(request.model)
    model = pool.get(upstream)
    fields = request.ponder
    if fields.run_id is not None:
        return await _continuation(request, spec, model, db)
    if fields.top_up is not None or fields.approve is not None:
        raise ConfigurationError("ponder.top_up and ponder.approve need ponder.run_id")
    problem, ignored = request.question()
    verifier = _verifier(fields.verifier)
    check_verifier(spec, verifier)
    options = dict(fields.options)
    if "allocation" in options:  # a path on the server's disk: not the client's to name
        raise ConfigurationError(
            "ponder.options.allocation is not accepted over HTTP: the adaptive strategy's "
            "allocation policy is the server's"
        )
    make_config(spec, options)  # refuse unknown or bad options now, not mid-stream
    budget = _budget(request)
    seed = 0 if request.seed is None else request.seed
    return ChatRun(
        model_name=request.model, spec=spec, model=model, db=db,
        run_id=uuid.uuid4().hex[:12], problem=problem, ignored_messages=ignored,
        budget=budget, options=options, verifier=verifier,
        extractor=_extractor(fields.extractor), seed=seed,
    )  # fmt: skip


async def _continuation(
    request: ChatRequest, spec: StrategySpec, model: BaseChatModel, db: str
) -> ChatRun:
    fields = request.ponder
    run_id = str(fields.run_id)
    if fields.budget is not None or fields.options or fields.verifier is not None:
        raise ConfigurationError(
            "a continued run keeps its budget, options and verifier: send ponder.top_up "
            "(or ponder.approve) with ponder.run_id, nothing else"
        )
    async with open_store(db) as store:
        record = await store.aget_run(run_id)
        if record is None:
            raise ApiError(
                404, f"no run {run_id!r} in this server's store", code="run_not_found",
                param="ponder.run_id",
            )  # fmt: skip
        saved = await store.saver.aget_tuple({"configurable": {"thread_id": run_id}})
    if record["strategy"] != spec.name:
        raise ConfigurationError(
            f"run {run_id!r} is a {record['strategy']} run: continue it with model "
            f"{MODEL_PREFIX}{record['strategy']}"
        )
    ledger: list[Any] = []
    if saved is not None:
        values = saved.checkpoint["channel_values"].get("ledger", [])
        ledger = values if isinstance(values, list) else []
    spent_in = sum(int(e.get("tokens_in", 0)) for e in ledger if isinstance(e, dict))
    spent_out = sum(int(e.get("tokens_out", 0)) for e in ledger if isinstance(e, dict))
    return ChatRun(
        model_name=request.model, spec=spec, model=model, db=db, run_id=run_id,
        continues=True, approve=fields.approve, top_up=fields.top_up,
        spent_before=(spent_in, spent_out),
    )  # fmt: skip
