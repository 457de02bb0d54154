"""How a run's verifier, answer extractor and step scorer are stored, and rebuilt.

A persisted run keeps, in its registry record (`ponder.persistence.RunRecord`), what judged
its work, as plain data:

- a shipped component that plain data rebuilds is stored by value: ``{"expected": "42",
  "kind": "number"}`` (`ExpectedAnswer`), ``{"math": "1/2"}`` (`MathAnswer`), ``{"name":
  "extract_short_answer"}`` (a shipped extractor);
- one given as code is stored by name only, ``{"custom": "<name>"}``: it is not stored, and
  resuming the run without passing it again is refused with a message saying so;
- ``None`` is the default: no verifier, no step scorer, `extract_number`.

Each ``*_record`` function writes a record, and the ``*_from_record`` function beside it reads
it back.

Example:
    >>> verifier_record(ExpectedAnswer("42"))
    {'expected': '42', 'kind': 'number'}
    >>> verifier_from_record({"expected": "42", "kind": "number"}, "r1")
    ExpectedAnswer(expected='42', kind='number')
    >>> def mine(problem, candidate):
    ...     return 1.0
    >>> verifier_record(mine)
    {'custom': 'mine'}
    >>> verifier_from_record({"custom": "mine"}, "r1")
    Traceback (most recent call last):
    ...
    ponder.errors.ConfigurationError: run 'r1' used a verifier given as code (mine); pass it again: verifier=...
"""  # noqa: E501 - a doctest's expected line

from __future__ import annotations

from typing import Any

from ponder.errors import ConfigurationError
from ponder.verify.code import extract_code
from ponder.verify.extract import Extractor, extract_number, extract_short_answer
from ponder.verify.math import MathAnswer
from ponder.verify.reward import ProcessReward
from ponder.verify.verifier import ExpectedAnswer, Verifier

__all__ = (
    "SHIPPED_EXTRACTORS",
    "extractor_from_record",
    "extractor_record",
    "step_scorer_from_record",
    "step_scorer_record",
    "verifier_from_record",
    "verifier_record",
)

SHIPPED_EXTRACTORS: dict[str, Extractor] = {
    "extract_number": extract_number,
    "extract_short_answer": extract_short_answer,
    "extract_code": extract_code,
}
"""The extractors a record names (``{"name": ...}``), by their function's name."""


def verifier_record(verifier: Verifier | None) -> dict[str, Any] | None:
    """Describe a verifier as plain data: by value when that rebuilds it, else by name."""
    if verifier is None:
        return None
    if isinstance(verifier, ExpectedAnswer):
        return {"expected": verifier.expected, "kind": verifier.kind}
    if isinstance(verifier, MathAnswer):
        return {"math": verifier.expected}
    return _by_name(verifier)


def verifier_from_record(record: dict[str, Any] | None, run_id: str) -> Verifier | None:
    """Rebuild the verifier of run ``run_id`` from its record.

    Raises:
        ConfigurationError: The run's verifier was given as code: pass it again.
    """
    if record is None:
        return None
    if "expected" in record:
        return ExpectedAnswer(record["expected"], record.get("kind", "number"))
    if "math" in record:
        return MathAnswer(record["math"])
    raise _pass_again(run_id, "a verifier", "verifier", record)


def extractor_record(extractor: Extractor | None) -> dict[str, Any] | None:
    """Describe an answer extractor: ``None`` for the default, a shipped one by its name."""
    if extractor is None or extractor is extract_number:
        return None
    for name, shipped in SHIPPED_EXTRACTORS.items():
        if extractor is shipped:
            return {"name": name}
    return _by_name(extractor)


def extractor_from_record(record: dict[str, Any] | None, run_id: str) -> Extractor:
    """Rebuild the answer extractor of run ``run_id`` from its record.

    Raises:
        ConfigurationError: The run's extractor was given as code: pass it again.
    """
    if record is None:
        return extract_number
    shipped = SHIPPED_EXTRACTORS.get(str(record.get("name")))
    if shipped is not None:
        return shipped
    raise _pass_again(run_id, "an extractor", "extractor", record)


def step_scorer_record(step_scorer: ProcessReward | None) -> dict[str, Any] | None:
    """Describe a step scorer: ``None`` for none, else by name (none is shipped)."""
    return None if step_scorer is None else _by_name(step_scorer)


def step_scorer_from_record(record: dict[str, Any] | None, run_id: str) -> ProcessReward | None:
    """Return ``None`` for a run that had no step scorer.

    Raises:
        ConfigurationError: The run had a step scorer, necessarily given as code: pass it
            again.
    """
    if record is None:
        return None
    raise _pass_again(run_id, "a step scorer", "step_scorer", record)


def _by_name(component: object) -> dict[str, Any]:
    """Name code: a function by its name, a callable object by its class."""
    return {"custom": getattr(component, "__name__", None) or type(component).__name__}


def _pass_again(
    run_id: str, what: str, argument: str, record: dict[str, Any]
) -> ConfigurationError:
    return ConfigurationError(
        f"run {run_id!r} used {what} given as code ({record.get('custom', record)}); "
        f"pass it again: {argument}=..."
    )
