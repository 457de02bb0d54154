"""The run registry's record: what ponder remembers about each persisted run.

A run is one LangGraph thread (``thread_id == run_id``) plus its record, what is needed to
list it and to resume it: the strategy and its options, the problem, the model spec, how it
is verified, the settings its context was built with, its budget, and its latest status and
spend. The record is kept in two places (see `ponder.stores`):

- in the metadata of every checkpoint of the run, which any LangGraph saver carries: the
  run's config holds the record as JSON under `RECORD_KEY` and the mark `MARK` =
  ``"run"`` in ``configurable``, and LangGraph copies string values from there into each
  checkpoint's metadata (``langgraph.checkpoint.base.get_checkpoint_metadata``);
- in `ponder.persistence.SqlCheckpointer`, also as one row of ``ponder_runs``, the fast path
  for listing, kept current as the run spends.

A strategy compiled by `ponder.build_strategy` carries `strategy_marks` in its own config
(`MARK` = ``"strategy"`` and its name under `STRATEGY_KEY`), so that its checkpoints in a
user's own graph are found too: `ponder runs` lists such a thread, and `ponder show` draws
the strategy's part of it.
"""

from __future__ import annotations

import json
from typing import Any, Literal, TypedDict

from typing_extensions import NotRequired

from ponder.budget import BudgetLimits
from ponder.state import StopReason

__all__ = (
    "MARK",
    "RECORD_KEY",
    "STRATEGY_KEY",
    "RunRecord",
    "RunSettings",
    "RunStatus",
    "run_marks",
    "strategy_marks",
)

MARK = "ponder"
"""The configurable (and so checkpoint metadata) key marking ponder's checkpoints: ``"run"``
for those of a run ponder started, ``"strategy"`` for those of a strategy nested in a
user's own graph."""
RECORD_KEY = "ponder_run"
"""The configurable (and checkpoint metadata) key holding a run's record, as JSON."""
STRATEGY_KEY = "ponder_strategy"
"""The checkpoint metadata key naming the strategy."""

RunStatus = Literal["running", "paused", "done", "failed", "interrupted"]
"""Where a persisted run stands: a `ponder.state.Status`, or ``interrupted``.

``interrupted`` is never stored: `ponder.runs.alist_runs` shows it for a run recorded as
``running`` whose process is gone (see `ponder.persistence.leases`).
"""


class RunSettings(TypedDict):
    """How a persisted run calls its model and judges its work, beside its verifier.

    `ponder.runs.aresume` and `ponder.runs.afork` rebuild the run's context from these
    (see `ponder.setup.restore_context`); what the caller passes again replaces them.
    """

    call_timeout: float | None
    """Seconds one model call may take (``None``: no limit)."""
    verifier_timeout: float
    """Seconds one verification may take."""
    extractor: dict[str, Any] | None
    """The answer extractor: ``None`` for the default (`ponder.verify.extract_repaired_number`),
    ``{"name": "extract_short_answer"}`` for a shipped one, ``{"custom": "<name>"}`` for one
    given as code (which is not stored: pass it again to resume). See
    `ponder.verify.record.extractor_record`."""
    step_scorer: dict[str, Any] | None
    """The process reward scoring tree-search steps: ``None`` for none, ``{"custom":
    "<name>"}`` for one given as code (pass it again to resume)."""


class RunRecord(TypedDict):
    """One persisted run."""

    run_id: str
    """The run's id (also its LangGraph thread id)."""
    strategy: str
    """The strategy's name."""
    problem: str
    """The problem."""
    options: dict[str, Any]
    """The strategy's options (plain data)."""
    model: str | None
    """The model spec string, ``None`` for the default, or ``object:<class>`` for a model
    given as an object (which is not stored: pass it again to resume)."""
    verifier: dict[str, Any] | None
    """How candidates are verified: ``None`` for no verifier, ``{"expected": "42", "kind":
    "number"}`` or ``{"math": "1/2"}`` for a shipped one, ``{"custom": "<name>"}`` for one
    given as code (pass it again to resume). See `ponder.verify.record.verifier_record`."""
    settings: RunSettings | None
    """The settings the run's context was built with, as of its latest session; ``None``
    for a run recorded before schema version 4, which resumes with the defaults (300 s
    calls, 30 s verifications, `ponder.verify.extract_repaired_number`, no step scorer)."""
    budget: BudgetLimits
    """The run's current limits."""
    seed: int
    """The run's base sampling seed."""
    status: RunStatus
    """``running``, ``paused``, ``done`` or ``failed`` (see `ponder.state.Status`); listed as
    ``interrupted`` when recorded ``running`` and its process is gone."""
    stop_reason: StopReason | None
    """Why the strategy stopped or paused (see `ponder.state.StopReason`); ``None`` while
    it runs."""
    answer: str | None
    """The (provisional, while paused) answer."""
    tokens: int
    """Tokens spent so far."""
    calls: int
    """Model calls so far."""
    seconds: float
    """Wall seconds spent so far, all sessions together."""
    parent_run_id: str | None
    """The run this one was forked from, if any."""
    created_at: float
    """When the run started (Unix time)."""
    updated_at: float
    """When the record last changed (Unix time)."""
    namespace: NotRequired[str]
    """Only for a thread made by a user's own graph, which ponder did not start (it has no
    stored record): the checkpoint namespace of the ponder strategy inside it (its latest
    one). Such a run can be listed, shown and re-scored, not resumed or forked by ponder."""


def run_marks(record: RunRecord) -> dict[str, str]:
    """The ``configurable`` values that put ``record`` in each checkpoint's metadata.

    Example:
        >>> marks = run_marks({"run_id": "r1"})  # type: ignore[typeddict-item]
        >>> marks["ponder"], json.loads(marks["ponder_run"])["run_id"]
        ('run', 'r1')
    """
    return {MARK: "run", RECORD_KEY: json.dumps(record, ensure_ascii=False)}


def strategy_marks(strategy: str) -> dict[str, str]:
    """The ``configurable`` values a compiled strategy carries, to be found in a user's graph.

    Example:
        >>> strategy_marks("self-consistency")
        {'ponder': 'strategy', 'ponder_strategy': 'self-consistency'}
    """
    return {MARK: "strategy", STRATEGY_KEY: strategy}
