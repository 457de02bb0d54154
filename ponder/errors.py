"""Every error ponder raises, in one place.

The tree::

    PonderError
    ├── ConfigurationError (ValueError)     a user mistake: bad budget, empty problem,
    │                                       unknown strategy, model or option
    ├── BudgetExceeded                      a limit was reached (carries limit and spend)
    ├── ModelError (RuntimeError)           the model raised or could not be loaded
    │   └── ModelTimeout (TimeoutError)     the model did not answer in time
    ├── ModelOutputError (ValueError)       the model's text could not be used (carries it)
    ├── VerifierError (RuntimeError)        a verifier raised, hung or returned garbage
    └── CheckpointError (RuntimeError)      a checkpoint store is unusable

Each subclasses the builtin a caller would naturally catch, keeps structured fields, and says
in its message what to do next. Errors that happen *during* a run (a model that fails on the
fifth sample) are recorded in the run's result instead of being raised, so that the work done
so far is kept; see `ponder.RunResult.error`.
"""

from __future__ import annotations

__all__ = (
    "BudgetExceeded",
    "CheckpointError",
    "ConfigurationError",
    "ModelError",
    "ModelOutputError",
    "ModelTimeout",
    "PonderError",
    "VerifierError",
)


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

    Attributes:
        limit: The name of the limit that was reached (``"tokens"``, ``"calls"``,
            ``"seconds"`` or ``"cost"``).
        allowed: The limit's value.
        spent: What had been spent of it.
    """

    def __init__(self, limit: str, allowed: float, spent: float) -> None:
        self.limit = limit
        self.allowed = allowed
        self.spent = spent
        super().__init__(
            f"budget limit '{limit}' reached: spent {spent:g} of {allowed:g}; "
            "raise the limit (for example Budget(tokens=...)) to let the run go on"
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


class VerifierError(PonderError, RuntimeError):
    """A verifier raised, timed out or returned something that is not a verdict."""


class CheckpointError(PonderError, RuntimeError):
    """A checkpoint store cannot be used (corrupt, foreign or from a newer ponder)."""
