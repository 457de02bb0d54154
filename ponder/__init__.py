"""ponder: make an LLM think harder by spending more compute, under an enforced budget.

Example:
    >>> import ponder
    >>> result = ponder.solve(  # doctest: +SKIP
    ...     "What is 17 + 25?", strategy="best-of-n",
    ...     budget=ponder.Budget(tokens=3000), verifier=ponder.ExpectedAnswer("42"),
    ... )
"""

from ponder.api import DEFAULT_BUDGET, asolve, solve
from ponder.budget import Budget, Pricing, Usage
from ponder.distributed import asolve_many, solve_many
from ponder.errors import (
    BudgetExceeded,
    CheckpointError,
    ConfigurationError,
    ModelError,
    ModelOutputError,
    ModelTimeout,
    PonderError,
    RunBusy,
    VerifierError,
)
from ponder.graphs import STRATEGIES, StrategyName, build_strategy
from ponder.result import RunResult
from ponder.verify import (
    ExpectedAnswer,
    Verdict,
    Verifier,
    extract_number,
    extract_repaired_number,
    extract_short_answer,
)

__all__ = (
    "DEFAULT_BUDGET",
    "STRATEGIES",
    "Budget",
    "BudgetExceeded",
    "CheckpointError",
    "ConfigurationError",
    "ExpectedAnswer",
    "ModelError",
    "ModelOutputError",
    "ModelTimeout",
    "PonderError",
    "RunBusy",
    "Pricing",
    "RunResult",
    "StrategyName",
    "Usage",
    "Verdict",
    "VerifierError",
    "Verifier",
    "asolve",
    "asolve_many",
    "build_strategy",
    "extract_number",
    "extract_repaired_number",
    "extract_short_answer",
    "solve",
    "solve_many",
)
