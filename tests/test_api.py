from __future__ import annotations

import math

import pytest

import ponder
from ponder.errors import ConfigurationError
from ponder.testing import ScriptedChatModel


def model() -> ScriptedChatModel:
    return ScriptedChatModel(replies=["The answer is 4."])


@pytest.mark.parametrize("problem", ["", "   ", "\n"])
def test_empty_problem(problem: str) -> None:
    with pytest.raises(ConfigurationError, match="empty"):
        ponder.solve(problem, model=model())


def test_problem_must_be_text() -> None:
    with pytest.raises(ConfigurationError):
        ponder.solve(42, model=model())  # type: ignore[arg-type]


@pytest.mark.parametrize("tokens", [-1, 0, math.nan])
def test_bad_budgets(tokens: float) -> None:
    with pytest.raises(ConfigurationError):
        ponder.solve("q", model=model(), budget=ponder.Budget(tokens=tokens))  # type: ignore[arg-type]


def test_budget_is_a_budget_or_a_mapping_of_its_limits() -> None:
    with pytest.raises(ConfigurationError, match="must be a Budget or a mapping"):
        ponder.solve("q", model=model(), budget=1000)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="unknown budget key"):
        ponder.solve("q", model=model(), budget={"tokenz": 1000})
    result = ponder.solve("q", model=model(), budget={"tokens": 1000}, max_samples=2)
    assert result.status == "done" and result.usage.tokens <= 1000


def test_unknown_strategy() -> None:
    with pytest.raises(ConfigurationError, match="unknown strategy 'mcts-9000'"):
        ponder.solve("q", "mcts-9000", model=model())  # type: ignore[arg-type]


def test_unknown_option_names_the_options() -> None:
    with pytest.raises(ConfigurationError, match="max_samples"):
        ponder.solve("q", model=model(), samples=3)


@pytest.mark.parametrize("spec", ["gpt-17", "nonsense model", ""])
def test_unknown_model(spec: str) -> None:
    with pytest.raises(ConfigurationError):
        ponder.solve("q", model=spec)


def test_verifier_must_be_callable() -> None:
    with pytest.raises(ConfigurationError, match="callable"):
        ponder.solve("q", "best-of-n", model=model(), verifier="42")  # type: ignore[arg-type]


async def test_sync_solve_runs_inside_a_running_loop() -> None:
    # A notebook's loop is already running: solve() runs the run on a worker thread.
    result = ponder.solve("q", model=model(), max_samples=3)
    assert result.answer == "4" and result.usage.calls == 2


def test_result_is_typed_and_serializable() -> None:
    import json

    result = ponder.solve("q", model=model(), max_samples=3)
    assert isinstance(result, ponder.RunResult)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["answer"] == "4"
    assert data["usage"]["calls"] == 2  # 4, 4: one sample left cannot overtake
    assert data["stop_reason"] == "decided"
    assert data["usage"]["tokens"] == result.usage.tokens
    assert result.overhead_seconds >= 0


def test_progress_callback_sees_every_candidate() -> None:
    seen: list[tuple[str, str]] = []
    ponder.solve(
        "q",
        "best-of-n",
        model=model(),
        verifier=ponder.ExpectedAnswer("4"),
        n=3,
        on_progress=lambda node, c: seen.append((node, c["id"])),
    )
    assert seen == [("attempt", "c0"), ("verify", "c0")]


def test_user_extractor_that_raises_gives_no_answer() -> None:
    def broken(text: str) -> str | None:
        raise ValueError("bad regex")

    result = ponder.solve("q", model=model(), extractor=broken, max_samples=2)
    assert result.answer is None
    assert result.errors[0]["kind"] == "ExtractorError"
