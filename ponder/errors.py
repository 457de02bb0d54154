"""Every error ponder raises, in one place.

The tree::

    PonderError
    ├── ConfigurationError (ValueError)     a user mistake: bad budget, empty problem,
    │                                       unknown strategy, model or option
    ├── BudgetExceeded                      a limit was reached (carries limit and spend)
    │   └── BudgetOverrun                   a model spent more than its call was planned for
    ├── ModelError (RuntimeError)           the model raised or could not be loaded
    │   └── ModelTimeout (TimeoutError)     the model did not answer in time
    ├── ModelOutputError (ValueError)       the model's text could not be used (carries it)
    ├── ExtractorError (ValueError)         the answer extractor raised or returned garbage
    ├── VerifierError (RuntimeError)        a verifier raised, hung or returned garbage
    ├── NodeError (RuntimeError)            a node raised something unexpected (a bug)
    ├── CheckpointError (RuntimeError)      a checkpoint store is unusable
    └── RunBusy (RuntimeError)              another live process is working on the run

Each subclasses the builtin a caller would naturally catch, keeps structured fields, and says
in its message what to do next. Errors that happen *during* a run (a model that fails on the
fifth sample) are recorded in the run's result instead of being raised, so that the work done
so far is kept; see `ponder.RunResult.error`. Such a record (`ponder.state.RunError`) names
its error by `ErrorKind`, the name of one of the classes below: `record_kind` maps an
exception to it.
"""

from __future__ import annotations

from typing import Literal, get_args

__all__ = (
    "ERROR_KINDS",
    "BudgetExceeded",
    "BudgetOverrun",
    "CheckpointError",
    "ConfigurationError",
    "ErrorKind",
    "ExtractorError",
    "Limit",
    "ModelError",
    "ModelOutputError",
    "ModelTimeout",
    "NodeError",
    "PonderError",
    "RunBusy",
    "VerifierError",
    "error_from_record",
    "record_kind",
)

Limit = Literal["tokens", "output_tokens", "calls", "seconds", "cost"]
"""The names of a budget's limits: input plus output ``tokens``, generated
``output_tokens``, model ``calls``, wall ``seconds`` and ``cost`` (money, per the budget's
pricing)."""

ErrorKind = Literal[
    "BudgetExceeded",
    "BudgetOverrun",
    "ModelError",
    "ModelTimeout",
    "ModelOutputError",
    "ExtractorError",
    "VerifierError",
    "NodeError",
    "CheckpointError",
]
"""What a failure recorded during a run was: the name of the error class it stands for.

- ``BudgetExceeded``: a call could not start, or was cut off, for lack of budget.
- ``BudgetOverrun``: the model spent more than its call was planned for; the run stopped.
- ``ModelError``: the model raised.
- ``ModelTimeout``: the model did not answer within the call timeout.
- ``ModelOutputError``: the model's text could not be used (an unreadable rating).
- ``ExtractorError``: the answer extractor raised or returned something not text.
- ``VerifierError``: a verifier raised, timed out or returned garbage.
- ``NodeError``: a node raised an exception ponder did not expect (its type is in the
  message).
- ``CheckpointError``: the checkpoint store failed mid-run.
"""


class PonderError(Exception):
    """Base class of every error ponder raises."""


class ConfigurationError(PonderError, ValueError):
    """A user mistake in what was asked of ponder; nothing was run or spent.

    Example:
        >>> from ponder import Budget
        >>> Budget(tokens=-5)
        Traceback (most recent call last):
        ...
        ponder.errors.ConfigurationError: Budget.tokens must be a positive whole number, got -5
    """


class BudgetExceeded(PonderError):
    """A budget limit does not allow the next step.

    Raised by `ponder.nodes.CallResult.raise_for_status` for a call the budget refused or cut
    off; recorded (kind ``BudgetExceeded``) when that happens inside a strategy.

    Attributes:
        limit: The name of the limit that was reached.
        allowed: The limit's value.
        spent: What had been spent of it.

    Example:
        >>> str(BudgetExceeded("tokens", 100, 96))
        "budget limit 'tokens' reached: spent 96 of 100; raise the limit (for example Budget(tokens=...)) to let the run go on"
    """  # noqa: E501

    def __init__(
        self, limit: Limit, allowed: float, spent: float, *, message: str | None = None
    ) -> None:
        self.limit: Limit = limit
        self.allowed = allowed
        self.spent = spent
        super().__init__(
            message
            or f"budget limit '{limit}' reached: spent {spent:g} of {allowed:g}; "
            "raise the limit (for example Budget(tokens=...)) to let the run go on"
        )


class BudgetOverrun(BudgetExceeded):
    """The model spent more than its call was planned for (it ignored the output cap).

    Attributes:
        tokens_in: The prompt tokens the model reported.
        tokens_out: The output tokens it reported.
        planned_in: The prompt tokens the call was planned with.
        planned_out: The output cap the call was sent with.
    """

    def __init__(self, *, tokens_in: int, tokens_out: int, planned_in: int, planned_out: int):
        self.tokens_in, self.tokens_out = tokens_in, tokens_out
        self.planned_in, self.planned_out = planned_in, planned_out
        super().__init__(
            "tokens",
            planned_in + planned_out,
            tokens_in + tokens_out,
            message=(
                f"the model used {tokens_in} prompt and {tokens_out} output tokens where at "
                f"most {planned_in} and {planned_out} were planned (it ignored the output "
                "cap, or its chat template adds text); the run stops here"
            ),
        )


class ModelError(PonderError, RuntimeError):
    """The model raised, could not be loaded, or is unknown at run time.

    Attributes:
        model: A short description of the model.
    """

    def __init__(self, message: str, *, model: str = "") -> None:
        self.model = model
        super().__init__(message)


class ModelTimeout(ModelError, TimeoutError):
    """The model did not answer within its time limit.

    Attributes:
        seconds: The time limit that was exceeded.
    """

    def __init__(self, seconds: float, *, model: str = "") -> None:
        self.seconds = seconds
        super().__init__(
            f"the model did not answer within {seconds:g} s; raise the call timeout "
            "or Budget.seconds, or use a faster model",
            model=model,
        )


class ModelOutputError(PonderError, ValueError):
    """The model's output could not be used.

    Attributes:
        text: The raw text the model returned.
    """

    def __init__(self, message: str, *, text: str) -> None:
        self.text = text
        super().__init__(f"{message}; raw output: {text[:200]!r}")


class ExtractorError(PonderError, ValueError):
    """The answer extractor raised, or returned something that is neither text nor ``None``.

    Raised by `ponder.verify.run_extractor`; the candidate then has no answer.
    """


class VerifierError(PonderError, RuntimeError):
    """A verifier raised, timed out or returned something that is not a verdict."""


class NodeError(PonderError, RuntimeError):
    """A node raised an exception that is not one of ponder's (a bug in a node or a graph).

    The run keeps what it gathered and ends ``failed``; the record names the original type.
    """


class CheckpointError(PonderError, RuntimeError):
    """A checkpoint store cannot be used (corrupt, foreign or from a newer ponder)."""


class RunBusy(PonderError, RuntimeError):
    """Another live process holds the run's lease (see `ponder.persistence.leases`).

    Nothing was read, run or spent. Raised before a second resume, fork-into or start of
    the same run id; its message names the holder.
    """

    def __init__(self, message: str, *, run_id: str, host: str | None, pid: int | None) -> None:
        super().__init__(message)
        self.run_id = run_id
        """The run."""
        self.host = host
        """The holder's host name, when known."""
        self.pid = pid
        """The holder's process id, when known."""


ERROR_KINDS: dict[ErrorKind, type[PonderError]] = {
    "BudgetExceeded": BudgetExceeded,
    "BudgetOverrun": BudgetOverrun,
    "ModelError": ModelError,
    "ModelTimeout": ModelTimeout,
    "ModelOutputError": ModelOutputError,
    "ExtractorError": ExtractorError,
    "VerifierError": VerifierError,
    "NodeError": NodeError,
    "CheckpointError": CheckpointError,
}
"""The class each `ErrorKind` names."""

assert set(ERROR_KINDS) == set(get_args(ErrorKind))  # noqa: S101 - kept in step by hand


def error_from_record(kind: str, message: str) -> PonderError:
    """Return the error a run recorded as ``kind`` with ``message``, ready to raise.

    The error carries the message only (the structured fields of the moment it happened,
    such as `BudgetExceeded.limit`, are not recorded). A kind ponder does not know is a
    `NodeError`.

    Example:
        >>> raise error_from_record("ModelError", "ConnectionError: server went away")
        Traceback (most recent call last):
        ...
        ponder.errors.ModelError: ConnectionError: server went away
    """
    cls = ERROR_KINDS.get(kind, NodeError)  # type: ignore[call-overload]
    error: PonderError = cls.__new__(cls)
    Exception.__init__(error, message)
    return error


def record_kind(error: BaseException) -> ErrorKind:
    """Return the `ErrorKind` that records ``error``: its own class's, or ``NodeError``.

    Example:
        >>> record_kind(ModelTimeout(3.0)), record_kind(KeyError("x"))
        ('ModelTimeout', 'NodeError')
    """
    for kind, cls in ERROR_KINDS.items():
        if type(error) is cls:
            return kind
    for kind, cls in ERROR_KINDS.items():
        if isinstance(error, cls):
            return kind
    return "NodeError"
