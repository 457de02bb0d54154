"""The result of a run."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from ponder.budget import Usage
from ponder.errors import error_from_record
from ponder.state import Candidate, LedgerEntry, Plan, RunError, Status, StopReason

__all__ = ("RunResult",)

_RUN_FAILURES = ("ModelError", "ModelTimeout", "BudgetOverrun", "NodeError", "CheckpointError")
"""The kinds that fail a run (others, such as a verifier's failure, are recorded only)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class RunResult:
    """What a run produced and what it cost; the same type whatever the strategy.

    Example:
        >>> import ponder
        >>> from ponder.testing import ScriptedChatModel
        >>> model = ScriptedChatModel(replies=["2 + 2 = 4. The answer is 4."])
        >>> result = ponder.solve("What is 2 + 2?", model=model, max_samples=3)
        >>> result.answer, result.votes, result.stop_reason
        ('4', {'4': 2}, 'decided')
    """

    answer: str | None
    """The selected answer, or ``None`` when no candidate had one."""
    strategy: str
    """The strategy that ran."""
    status: Status
    """``done``, or ``failed`` when the model failed (the work before is kept)."""
    stop_reason: StopReason | None
    """Why the strategy stopped drawing candidates."""
    candidates: list[Candidate]
    """Every candidate, in the order drawn."""
    votes: dict[str, float]
    """Answer -> votes (candidate count, or summed weights for a weighted vote)."""
    usage: Usage
    """What the run spent."""
    ledger: list[LedgerEntry]
    """Every model call and its cost."""
    errors: list[RunError]
    """Failures recorded along the way."""
    wall_seconds: float
    """Wall-clock seconds the run took (all its sessions, for a resumed run)."""
    run_id: str | None = None
    """The persisted run's id (``None`` for a run that was not persisted)."""
    plan: Plan | None = None
    """How the adaptive strategy decided to spend (its difficulty bin and action); ``None``
    for the other strategies."""

    @property
    def scores(self) -> dict[str, float]:
        """Candidate id -> verifier score, for the candidates that were scored."""
        return {c["id"]: c["score"] for c in self.candidates if c["score"] is not None}

    @property
    def error(self) -> str | None:
        """The first recorded failure, as text, or ``None``."""
        return f"{self.errors[0]['kind']}: {self.errors[0]['message']}" if self.errors else None

    def raise_for_status(self) -> RunResult:
        """Raise the run's first recorded error when it failed; else return the result.

        The error is the class its record names (`ponder.errors.ErrorKind`): `ModelError`,
        `ModelTimeout`, `BudgetOverrun`, `NodeError` (a node raised something unexpected)...

        Example:
            >>> import ponder
            >>> from ponder.testing import ScriptedChatModel
            >>> model = ScriptedChatModel(replies=[RuntimeError("server went away")])
            >>> ponder.solve("q", model=model).raise_for_status()
            Traceback (most recent call last):
            ...
            ponder.errors.ModelError: RuntimeError: server went away
        """
        if self.status == "failed" and self.errors:
            failures = [e for e in self.errors if e["kind"] in _RUN_FAILURES] or self.errors
            raise error_from_record(failures[0]["kind"], failures[0]["message"])
        return self

    @property
    def flops(self) -> float | None:
        """Estimated floating-point operations of the run's calls, summed.

        About 2 x parameters x tokens processed per call, a prompt prefix the model read from
        its cache counted once (see `ponder.state.LedgerEntry.flops`); 0 for a run that made
        no call. ``None`` when the model's parameter count is unknown (a remote model not
        told it: `ponder.models.openai_compat.from_base_url`'s ``parameters``), and for
        runs stored before ponder estimated it.

        Example:
            >>> import ponder
            >>> from ponder.testing import ScriptedChatModel
            >>> model = ScriptedChatModel(replies=["The answer is 4."], parameters=1000)
            >>> result = ponder.solve("What is 2 + 2?", model=model, max_samples=1)
            >>> result.flops == 2 * 1000 * result.usage.tokens  # nothing cached: all processed
            True
        """
        total = 0.0
        for entry in self.ledger:
            value = entry.get("flops")
            if value is None:
                return None
            total += value
        return total

    @property
    def overhead_seconds(self) -> float:
        """Wall seconds spent outside model calls: ponder's own cost."""
        return max(0.0, self.wall_seconds - self.usage.model_seconds)

    def to_dict(self) -> dict[str, Any]:
        """Return the result as JSON-ready plain data."""
        return {
            "answer": self.answer,
            "run_id": self.run_id,
            "strategy": self.strategy,
            "status": self.status,
            "stop_reason": self.stop_reason,
            "votes": self.votes,
            "scores": self.scores,
            "usage": {**asdict(self.usage), "tokens": self.usage.tokens},
            "wall_seconds": self.wall_seconds,
            "overhead_seconds": self.overhead_seconds,
            "flops": self.flops,
            "candidates": self.candidates,
            "ledger": self.ledger,
            "errors": self.errors,
        }
