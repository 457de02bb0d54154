"""The answer ranker: a label-free score for each answer, fitted on held-in problems.

A majority vote counts the chain-of-thought samples alike and ignores every other kind of
evidence. The ranker scores each distinct answer of a run by a logistic model over four
features of the candidates that give it, none of which needs the gold answer:

- ``votes``: the share of the chain-of-thought candidates giving it;
- ``greedy``: 1 when it is the greedy answer (`ponder.nodes.anchor.anchor_of`), else 0;
- ``programs``: the share of the program-aided candidates printing it (0 when none were
  drawn);
- ``confidence``: the highest mean token logprob among its chain-of-thought candidates,
  standardized over all of the run's chain-of-thought candidates (0 when the model reports
  no confidence; `NO_THOUGHT` when no chain-of-thought candidate gives it).

Its weights are data (`DEFAULT_RANKER`, fitted on the tune splits of the held-in sets by
``benchmarks/ranker.py`` with `ponder.eval.ranking.fit_ranker`); ``select="ranked"``
(`ponder.nodes.select.choose`) answers with the highest-scored answer.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ponder.errors import ConfigurationError
from ponder.nodes.anchor import anchor_of
from ponder.nodes.vote import confidence_value
from ponder.state import Candidate

__all__ = (
    "DEFAULT_RANKER",
    "FEATURES",
    "NO_THOUGHT",
    "AnswerRanker",
    "answer_features",
    "default_ranker",
)

FEATURES = ("votes", "greedy", "programs", "confidence")
"""The ranker's features, in the order of its weights."""

NO_THOUGHT = -3.0
"""The ``confidence`` feature of an answer no chain-of-thought candidate gives (below what a
standardized confidence reaches in practice)."""

DEFAULT_RANKER = Path(__file__).parent / "data" / "answer-ranker.json"
"""The ranker ponder ships (fitted on SmolLM2's tune splits by ``benchmarks/ranker.py``)."""


def answer_features(candidates: Sequence[Candidate]) -> dict[str, tuple[float, ...]]:
    """Return the `FEATURES` of each answer the candidates give, in order of appearance.

    Example:
        >>> def c(kind, answer, temperature=0.7):
        ...     return {"kind": kind, "answer": answer, "temperature": temperature}
        >>> pool = [c("attempt", "8", 0.0), c("attempt", "9"), c("program", "9")]
        >>> answer_features(pool)
        {'8': (0.5, 1.0, 0.0, 0.0), '9': (0.5, 0.0, 1.0, 0.0)}
    """
    thoughts = [c for c in candidates if c["kind"] != "program"]
    programs = [c for c in candidates if c["kind"] == "program"]
    anchor = anchor_of(candidates)
    values = [confidence_value(c, "mean_logprob") for c in thoughts]
    known = [v for v in values if v is not None]
    mean = sum(known) / len(known) if known else 0.0
    spread = math.sqrt(sum((v - mean) ** 2 for v in known) / len(known)) if known else 0.0
    standardized: dict[str, list[float]] = {}
    for candidate, value in zip(thoughts, values, strict=True):
        if candidate["answer"] is not None:
            z = 0.0 if value is None else (value - mean) / (spread + 1e-6)
            standardized.setdefault(candidate["answer"], []).append(z)
    answers = dict.fromkeys(c["answer"] for c in candidates if c["answer"] is not None)
    features: dict[str, tuple[float, ...]] = {}
    for answer in answers:
        said = sum(c["answer"] == answer for c in thoughts)
        printed = sum(c["answer"] == answer for c in programs)
        features[answer] = (
            said / len(thoughts) if thoughts else 0.0,
            1.0 if answer == anchor else 0.0,
            printed / len(programs) if programs else 0.0,
            max(standardized[answer]) if answer in standardized else NO_THOUGHT,
        )
    return features


@dataclass(frozen=True, kw_only=True, slots=True)
class AnswerRanker:
    """A logistic model of the probability that an answer is right, from `FEATURES`.

    Example:
        >>> ranker = AnswerRanker(weights=(3.0, 0.5, 5.0, 0.25), bias=-2.5)
        >>> pool = [{"kind": "attempt", "answer": "8", "temperature": 0.0},
        ...         {"kind": "attempt", "answer": "9", "temperature": 0.7},
        ...         {"kind": "program", "answer": "9", "temperature": 0.7}]
        >>> ranker.best(pool)
        '9'
    """

    weights: tuple[float, ...]
    """One weight per feature of `FEATURES`."""
    bias: float
    """The intercept."""
    fitted_on: Mapping[str, Any] = field(default_factory=dict)
    """Where the weights come from (model, datasets, split, problems, settings)."""

    def __post_init__(self) -> None:
        numbers = [*self.weights, self.bias]
        if len(self.weights) != len(FEATURES) or not all(
            isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
            for x in numbers
        ):
            raise ConfigurationError(
                f"an answer ranker needs {len(FEATURES)} finite weights ({', '.join(FEATURES)})"
                f" and a finite bias, got weights={self.weights!r}, bias={self.bias!r}"
            )

    def scores(self, candidates: Sequence[Candidate]) -> dict[str, float]:
        """Return each answer's probability of being right, in order of appearance."""
        out = {}
        for answer, features in answer_features(candidates).items():
            logit = self.bias + sum(w * x for w, x in zip(self.weights, features, strict=True))
            out[answer] = 1.0 / (1.0 + math.exp(-max(-60.0, min(60.0, logit))))
        return out

    def best(self, candidates: Sequence[Candidate]) -> str | None:
        """Return the highest-scored answer (the first given, on a tie), or ``None``."""
        scores = self.scores(candidates)
        return max(scores, key=lambda answer: scores[answer]) if scores else None

    def to_dict(self) -> dict[str, Any]:
        """The ranker as JSON-ready data (see `from_dict`)."""
        return {"features": list(FEATURES), "weights": list(self.weights), "bias": self.bias,
                "fitted_on": dict(self.fitted_on)}  # fmt: skip

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnswerRanker:
        """Read a ranker written by `to_dict`.

        Raises:
            ConfigurationError: The data is not a ranker over `FEATURES`.
        """
        if not isinstance(data, Mapping) or list(data.get("features", [])) != list(FEATURES):
            raise ConfigurationError(
                f"not an answer ranker over the features {list(FEATURES)}: {str(data)[:200]}"
            )
        weights = data.get("weights")
        if not isinstance(weights, list):
            raise ConfigurationError(f"an answer ranker's weights must be a list, got {weights!r}")
        return cls(weights=tuple(weights), bias=data.get("bias"),  # type: ignore[arg-type]
                   fitted_on=data.get("fitted_on") or {})  # fmt: skip

    @classmethod
    def load(cls, path: str | Path) -> AnswerRanker:
        """Read a ranker from a JSON file.

        Raises:
            ConfigurationError: The file is missing, not JSON, or not a ranker.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigurationError(f"cannot read the answer ranker {path}: {exc}") from exc
        return cls.from_dict(data)

    def dump(self, path: str | Path) -> Path:
        """Write the ranker to a JSON file; return its path."""
        target = Path(path)
        target.write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")
        return target


@functools.cache
def default_ranker() -> AnswerRanker:
    """The ranker ponder ships (`DEFAULT_RANKER`), read once."""
    return AnswerRanker.load(DEFAULT_RANKER)
