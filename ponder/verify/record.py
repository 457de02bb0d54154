"""How a run's verifier, answer extractor and step scorer are stored, and rebuilt.

A persisted run keeps, in its registry record (`ponder.persistence.RunRecord`), what judged
its work, as plain data:

- a shipped component that plain data rebuilds is stored by value: ``{"expected": "42",
  "kind": "number"}`` (`ExpectedAnswer`), ``{"math": "1/2"}`` (`MathAnswer`), ``{"name":
  "arithmetic", "unchecked": 0.5}`` (`ArithmeticConsistency`), ``{"name":
  "extract_short_answer"}`` (a shipped extractor);
- one given as code is stored by name only, ``{"custom": "<name>"}``: it is not stored, and
  resuming the run without passing it again is refused with a message saying so;
- ``None`` is the default: no verifier, no step scorer, `extract_repaired_number`.

Each ``*_record`` function writes a record, and the ``*_from_record`` function beside it reads
it back.

The same records are how a context given as JSON names its verifier and extractor (a
LangGraph Server run's, `ponder.context.context_of`): `verifier_from_spec` takes a record or
a shipped verifier's name (``"arithmetic"``), `extractor_from_spec` a record or an
extractor's name (``"extract_short_answer"``).

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
    >>> verifier_from_spec("arithmetic")
    ArithmeticConsistency(unchecked=0.5)
"""  # noqa: E501 - a doctest's expected line

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, get_args

from ponder.errors import ConfigurationError
from ponder.verify.arithmetic import ArithmeticConsistency, extract_repaired_number
from ponder.verify.code import extract_code
from ponder.verify.extract import Extractor, extract_number, extract_short_answer
from ponder.verify.math import MathAnswer
from ponder.verify.reward import ProcessReward
from ponder.verify.verifier import AnswerKind, ExpectedAnswer, Verifier

__all__ = (
    "SHIPPED_EXTRACTORS",
    "SHIPPED_VERIFIERS",
    "extractor_from_record",
    "extractor_from_spec",
    "extractor_record",
    "step_scorer_from_record",
    "step_scorer_record",
    "verifier_from_record",
    "verifier_from_spec",
    "verifier_record",
)

SHIPPED_EXTRACTORS: dict[str, Extractor] = {
    "extract_repaired_number": extract_repaired_number,
    "extract_number": extract_number,
    "extract_short_answer": extract_short_answer,
    "extract_code": extract_code,
}
"""The extractors a record names (``{"name": ...}``), by their function's name."""

SHIPPED_VERIFIERS: dict[str, type[ArithmeticConsistency]] = {"arithmetic": ArithmeticConsistency}
"""The label-free verifiers a record names (``{"name": ...}``, with their fields beside):
each builds with its defaults from its name alone."""


def verifier_record(verifier: Verifier | None) -> dict[str, Any] | None:
    """Describe a verifier as plain data: by value when that rebuilds it, else by name."""
    if verifier is None:
        return None
    if isinstance(verifier, ExpectedAnswer):
        return {"expected": verifier.expected, "kind": verifier.kind}
    if isinstance(verifier, MathAnswer):
        return {"math": verifier.expected}
    if isinstance(verifier, ArithmeticConsistency):
        return {"name": "arithmetic", "unchecked": verifier.unchecked}
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
    if record.get("name") == "arithmetic":
        return ArithmeticConsistency(unchecked=record.get("unchecked", 0.5))
    raise _pass_again(run_id, "a verifier", "verifier", record)


def verifier_from_spec(spec: object) -> Verifier | None:
    """Build the verifier that plain data names: a record (module docstring), or a name.

    ``None`` is no verifier; a name is a key of `SHIPPED_VERIFIERS` (``"arithmetic"``). An
    expected answer given as a JSON number is compared as its text (``42`` as ``"42"``).

    Raises:
        ConfigurationError: ``spec`` names no shipped verifier (code cannot be named), or
            its fields are not usable.

    Example:
        >>> verifier_from_spec({"expected": 42})
        ExpectedAnswer(expected='42', kind='number')
    """
    if spec is None:
        return None
    named = {"name": spec} if isinstance(spec, str) else spec
    if isinstance(named, Mapping):
        fields = dict(named)
        if "expected" in fields:
            return _expected(fields)
        if set(fields) == {"math"} and isinstance(fields["math"], (str, int, float)):
            return MathAnswer(str(fields["math"]))
        shipped = SHIPPED_VERIFIERS.get(str(fields.pop("name", None)))
        if shipped is not None:
            try:
                return shipped(**fields)
            except TypeError as exc:
                raise ConfigurationError(f"verifier {spec!r} is not usable: {exc}") from exc
    raise ConfigurationError(
        f"unknown verifier {spec!r}: give {{'expected': '42', 'kind': 'number'}} (kind: "
        f"{' or '.join(get_args(AnswerKind))}), {{'math': '1/2'}}, or a name: "
        f"{', '.join(SHIPPED_VERIFIERS)}"
    )


def _expected(fields: dict[str, Any]) -> ExpectedAnswer:
    expected, kind = fields.pop("expected"), fields.pop("kind", "number")
    if isinstance(expected, (int, float)) and not isinstance(expected, bool):
        expected = str(expected)
    if not isinstance(expected, str) or kind not in get_args(AnswerKind) or fields:
        raise ConfigurationError(
            f"verifier {{'expected': {expected!r}, 'kind': {kind!r}, ...}} is not usable: "
            f"'expected' is the answer's text, 'kind' one of {', '.join(get_args(AnswerKind))}"
            f"{', and nothing else' if fields else ''}"
        )
    return ExpectedAnswer(expected, kind)


def extractor_record(extractor: Extractor | None) -> dict[str, Any] | None:
    """Describe an answer extractor: ``None`` for the default, a shipped one by its name."""
    if extractor is None or extractor is extract_repaired_number:
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
        return extract_repaired_number
    shipped = SHIPPED_EXTRACTORS.get(str(record.get("name")))
    if shipped is not None:
        return shipped
    raise _pass_again(run_id, "an extractor", "extractor", record)


def extractor_from_spec(spec: object) -> Extractor:
    """Return the shipped extractor that plain data names: a name or ``{"name": ...}``.

    ``None`` is the default, `ponder.verify.extract_repaired_number`.

    Raises:
        ConfigurationError: ``spec`` names no shipped extractor.
    """
    if spec is None:
        return extract_repaired_number
    name = spec.get("name") if isinstance(spec, Mapping) else spec
    shipped = SHIPPED_EXTRACTORS.get(name) if isinstance(name, str) else None
    if shipped is None:
        raise ConfigurationError(
            f"unknown extractor {spec!r}: name one of {', '.join(SHIPPED_EXTRACTORS)}"
        )
    return shipped


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
