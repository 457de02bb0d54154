"""Persisted runs on SQLite and on the real PostgreSQL server: pause, top-up, fork, remove."""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

import pytest
from langchain_core.messages import BaseMessage

import ponder
from ponder import runs, setup
from ponder.errors import CheckpointError, ConfigurationError
from ponder.graphs.registry import strategy_spec
from ponder.persistence import SqlCheckpointer
from ponder.setup import restore_context
from ponder.testing import ScriptedChatModel
from ponder.verify.extract import extract_short_answer


def seeded() -> ScriptedChatModel:
    """Replies depend on the seed only, so a resumed run can be compared with a fresh one."""

    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        return f"The answer is {kwargs['seed'] % 3}."

    return ScriptedChatModel(reply_fn=reply)


async def test_pause_then_top_up_equals_an_uninterrupted_run(db: str) -> None:
    # The default vote: 3 samples (the first greedy), 4 programs, then 4 more samples.
    options: dict[str, Any] = {"max_samples": 7, "agreement": 1.0}
    paused = await ponder.asolve(
        "q", model=seeded(), budget=ponder.Budget(calls=3), db=db, run_id="r1", **options
    )
    assert paused.status == "paused" and paused.stop_reason == "budget"
    assert paused.usage.calls == 3 and paused.answer is not None
    [record] = await runs.alist_runs(db=db)
    assert (record["run_id"], record["status"], record["calls"]) == ("r1", "paused", 3)

    with pytest.raises(ConfigurationError, match="add_tokens"):
        await runs.aresume("r1", db=db, model=seeded())
    done = await runs.aresume("r1", db=db, add_calls=8, model=seeded())
    fresh = await ponder.asolve("q", model=seeded(), budget=ponder.Budget(calls=11), **options)
    assert done.status == "done"
    assert done.answer == fresh.answer
    assert [c["text"] for c in done.candidates] == [c["text"] for c in fresh.candidates]
    assert done.usage.calls == fresh.usage.calls == 11
    assert [c["kind"] for c in done.candidates].count("program") == 4
    assert (await runs.alist_runs(db=db))[0]["status"] == "done"
    with pytest.raises(ConfigurationError, match="nothing to resume"):
        await runs.aresume("r1", db=db, model=seeded())


async def test_a_resumed_run_estimates_the_flops_of_both_sessions(db: str) -> None:
    def sized() -> ScriptedChatModel:
        return seeded().model_copy(update={"parameters": 1_000})

    options: dict[str, Any] = {"max_samples": 5, "agreement": 1.0}
    paused = await ponder.asolve(
        "q", model=sized(), budget=ponder.Budget(calls=2), db=db, run_id="f1", **options
    )
    assert paused.status == "paused" and paused.flops == 2 * 1_000 * paused.usage.tokens
    done = await runs.aresume("f1", db=db, add_calls=3, model=sized())
    assert done.usage.calls == 5 and done.flops == 2 * 1_000 * done.usage.tokens
    # Resumed with a model of unknown size, the new calls' FLOPs are unknown, so the run's are.
    paused = await ponder.asolve(
        "q", model=sized(), budget=ponder.Budget(calls=2), db=db, run_id="f2", **options
    )
    assert (await runs.aresume("f2", db=db, add_calls=3, model=seeded())).flops is None


async def test_fork_keeps_the_work_before_the_checkpoint(db: str) -> None:
    await ponder.asolve(
        "q", model=seeded(), budget=ponder.Budget(calls=4), db=db, run_id="base",
        max_samples=4, agreement=1.0,  # steps of 3 samples (min_samples), then 1
    )  # fmt: skip
    points = await runs.alist_checkpoints("base", db=db)
    middle = next(p for p in points if p["candidates"] == 3)
    forked = await runs.afork(
        "base", at=middle["checkpoint_id"], strategy="best-of-n", db=db, new_run_id="child",
        model=seeded(), verifier=ponder.ExpectedAnswer("2"), n=6, add_tokens=None,
    )  # fmt: skip
    assert [c["id"] for c in forked.candidates[:3]] == ["c0", "c1", "c2"]
    assert forked.candidates[0]["verdict"] is not None  # the fork's verifier judged old work
    assert forked.answer == "2"
    child = next(r for r in await runs.alist_runs(db=db) if r["run_id"] == "child")
    assert child["parent_run_id"] == "base" and child["strategy"] == "best-of-n"


async def test_remove_and_unknown_runs(db: str) -> None:
    await ponder.asolve("q", model=seeded(), db=db, run_id="gone", max_samples=2)
    await runs.aremove_run("gone", db=db)
    assert await runs.alist_runs(db=db) == []
    with pytest.raises(ConfigurationError, match="no run 'gone'"):
        await runs.aremove_run("gone", db=db)
    with pytest.raises(ConfigurationError, match="exists already"):
        await ponder.asolve("q", model=seeded(), db=db, run_id="twice", max_samples=1)
        await ponder.asolve("q", model=seeded(), db=db, run_id="twice", max_samples=1)


async def test_a_model_object_must_be_given_again_to_resume(db: str) -> None:
    await ponder.asolve(
        "q", model=seeded(), budget=ponder.Budget(calls=1), db=db, run_id="obj", max_samples=3
    )
    with pytest.raises(ConfigurationError, match="model=..."):
        await runs.aresume("obj", db=db, add_calls=2)


async def test_options_must_be_plain_data_to_persist(db: str) -> None:
    from ponder.prompts import FEW_SHOT

    with pytest.raises(ConfigurationError, match="by name"):
        await ponder.asolve("q", model=seeded(), db=db, prompt=FEW_SHOT)


async def test_a_run_killed_after_its_last_step_resumes_to_its_result(db: str) -> None:
    model = seeded()
    finished = await ponder.asolve("q", model=model, db=db, run_id="late", max_samples=3)
    async with runs.open_store(db) as saver:  # as if killed before the record was updated
        record = await saver.aget_run("late")
        assert record is not None
        record["status"] = "running"
        await saver.aput_run(record)
    calls = len(model.calls)
    again = await runs.aresume("late", db=db, model=model)
    assert (again.status, again.answer) == (finished.status, finished.answer)
    assert len(model.calls) == calls  # nothing was run again
    assert (await runs.alist_runs(db=db))[0]["status"] == "done"


async def test_approval_before_an_expensive_phase(db: str) -> None:
    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        if "Python program" in messages[0].text:
            return "```python\nprint(8)\n```"
        if "Check the solution" in messages[-1].text:
            return "The sum is wrong."
        return f"The answer is {8 + kwargs['seed'] % 2}."

    model = ScriptedChatModel(reply_fn=reply)
    common: dict[str, Any] = {
        "model": model, "db": db, "verifier": ponder.ExpectedAnswer("7"),
        "budget": ponder.Budget(tokens=20000), "confirm_before": ["refine"],
    }  # fmt: skip
    waiting = await ponder.asolve("3 + 4 =", "adaptive", run_id="ask", **common)
    assert (waiting.status, waiting.stop_reason) == ("paused", "approval")
    calls = len(model.calls)
    with pytest.raises(ConfigurationError, match="approve=True"):
        await runs.aresume("ask", db=db, model=model)
    declined = await runs.aresume("ask", db=db, model=model, approve=False)
    assert declined.status == "done" and len(model.calls) == calls  # nothing more was spent

    waiting = await ponder.asolve("3 + 4 =", "adaptive", run_id="ask2", **common)
    approved = await runs.aresume("ask2", db=db, model=model, approve=True)
    assert any(c["kind"] == "refine" for c in approved.candidates)


async def test_approval_needs_a_persisted_run() -> None:
    with pytest.raises(ConfigurationError, match="persisted"):
        await ponder.asolve("q", "adaptive", model=seeded(), confirm_before=["search"])


def wanderer() -> ScriptedChatModel:
    """A tree-search model whose steps never reach an answer: the search runs to its depth."""
    return ScriptedChatModel(replies=["Think about the sum first."])


class Reward:
    """A process reward that records the paths it scores."""

    def __init__(self) -> None:
        self.seen: list[list[str]] = []

    def __call__(self, problem: str, steps: Sequence[str], /) -> float:
        self.seen.append(list(steps))
        return 0.5


async def test_a_resumed_tree_search_keeps_its_process_reward(db: str) -> None:
    model, reward = wanderer(), Reward()
    paused = await ponder.asolve(
        "3 + 4 =", "beam-search", model=model, step_scorer=reward, db=db, run_id="tree",
        budget=ponder.Budget(tokens=250), max_depth=4,
    )  # fmt: skip
    assert (paused.status, paused.stop_reason) == ("paused", "budget")
    depth_before = max(len(path) for path in reward.seen)
    assert depth_before < 4 and not any("How likely" in str(c) for c in model.calls)
    [record] = await runs.alist_runs(db=db)
    assert record["settings"] is not None
    assert record["settings"]["step_scorer"] == {"custom": "Reward"}

    with pytest.raises(ConfigurationError, match=r"step scorer .*pass it again: step_scorer="):
        await runs.aresume("tree", db=db, add_tokens=5000, model=model)
    scored = len(reward.seen)
    done = await runs.aresume("tree", db=db, add_tokens=5000, model=model, step_scorer=reward)
    assert done.status == "done" and done.stop_reason == "exhausted"
    assert len(reward.seen) > scored  # the resumed search scored its steps with it
    assert max(len(path) for path in reward.seen) == 4
    steps = [c for c in done.candidates if c["kind"] == "step"]
    assert steps and all(c["reason"] == "process reward" for c in steps)


async def test_resume_and_fork_restore_the_stored_timeouts(
    db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    contexts: list[Any] = []  # the context of every session, new, resumed or forked
    real = setup.run_persisted

    async def spy(*args: Any, context: Any, **kwargs: Any) -> ponder.RunResult:
        contexts.append(context)
        return await real(*args, context=context, **kwargs)

    monkeypatch.setattr(setup, "run_persisted", spy)  # new runs and forks
    monkeypatch.setattr(runs, "run_persisted", spy)  # resumes
    await ponder.asolve(
        "q", model=seeded(), budget=ponder.Budget(calls=1), db=db, run_id="slow",
        call_timeout=12.5, verifier_timeout=7.0, extractor=extract_short_answer, max_samples=3,
    )  # fmt: skip
    [record] = await runs.alist_runs(db=db)
    assert record["settings"] == {
        "call_timeout": 12.5, "verifier_timeout": 7.0,
        "extractor": {"name": "extract_short_answer"}, "step_scorer": None,
    }  # fmt: skip

    await runs.aresume("slow", db=db, add_calls=1, model=seeded())
    context = contexts[-1]
    assert (context.call_timeout, context.verifier_timeout) == (12.5, 7.0)
    assert context.extractor is extract_short_answer

    await runs.aresume("slow", db=db, add_calls=1, model=seeded(), call_timeout=None)
    assert contexts[-1].call_timeout is None  # passed again: replaces the stored one
    stored = (await runs.alist_runs(db=db))[0]["settings"]
    assert stored is not None and stored["call_timeout"] is None

    forked = await runs.afork(
        "slow", db=db, new_run_id="child", model=seeded(), verifier_timeout=3.0
    )
    assert forked.run_id == "child"
    assert (contexts[-1].call_timeout, contexts[-1].verifier_timeout) == (None, 3.0)
    assert contexts[-1].extractor is extract_short_answer


async def test_a_run_recorded_before_settings_resumes_with_the_defaults(db: str) -> None:
    await ponder.asolve(
        "q", model=seeded(), budget=ponder.Budget(calls=1), db=db, run_id="old",
        call_timeout=5.0, max_samples=3, programs=0,
    )  # fmt: skip
    async with runs.open_store(db) as saver:  # as a run recorded before schema version 4
        record = await saver.aget_run("old")
        assert record is not None
        record["settings"] = None
        await saver.aput_run(record)
    context = restore_context(
        record, strategy_spec("self-consistency"), model=seeded(), verifier=None,
        extractor=None, step_scorer=None, call_timeout=runs.STORED, verifier_timeout=None,
    )  # fmt: skip
    assert (context.call_timeout, context.verifier_timeout) == (300.0, 30.0)
    done = await runs.aresume("old", db=db, add_calls=2, model=seeded())
    assert done.status == "done"


def test_sync_twins_have_the_async_signatures() -> None:
    for sync, twin in ((runs.resume, runs.aresume), (runs.fork, runs.afork)):
        assert inspect.signature(sync) == inspect.signature(twin)
        assert sync.__doc__ == f"Sync twin of `{twin.__name__}`."


@pytest.mark.parametrize(
    "failure",
    [CheckpointError("the store could not be written: database or disk is full"),
     OSError(28, "No space left on device")],
    ids=["store-error", "disk-full"],
)  # fmt: skip
async def test_a_store_failing_mid_run_ends_it_failed_and_forkable(
    db: str, failure: Exception, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = SqlCheckpointer.aput
    puts = [0]

    async def failing(self: SqlCheckpointer, *args: Any, **kwargs: Any) -> Any:
        puts[0] += 1
        if puts[0] > 4:
            raise failure
        return await real(self, *args, **kwargs)

    monkeypatch.setattr(SqlCheckpointer, "aput", failing)
    options: dict[str, Any] = {"max_samples": 7, "agreement": 1.0, "programs": 0}
    solving = ponder.asolve(
        "q", model=seeded(), budget=ponder.Budget(calls=7), db=db, run_id="r", **options
    )
    if isinstance(failure, CheckpointError):  # a ponder error: raised, the run recorded
        with pytest.raises(CheckpointError, match="disk"):
            await solving
    else:  # anything else: the run's own failure, in its result
        result = await solving
        assert result.status == "failed" and result.error is not None
        assert "No space left" in result.error
    monkeypatch.undo()
    [record] = await runs.alist_runs(db=db)
    assert record["status"] == "failed" and record["stop_reason"] == "error"
    assert record["calls"] > 0  # it had spent: the registry says what
    with pytest.raises(ConfigurationError, match="is failed"):
        await runs.aresume("r", db=db, model=seeded())
    [latest, *_] = await runs.alist_checkpoints("r", db=db)
    forked = await runs.afork("r", at=latest["checkpoint_id"], db=db, model=seeded())
    assert forked.status == "done" and forked.usage.calls == 7


async def test_text_a_store_cannot_hold_is_kept_in_the_checkpoint(db: str) -> None:
    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        return "The answer is a\x00b."

    result = await ponder.asolve(
        "q", model=ScriptedChatModel(reply_fn=reply), budget=ponder.Budget(calls=2), db=db,
        run_id="nul", extractor=extract_short_answer, max_samples=2, agreement=1.0,
    )  # fmt: skip
    assert result.status == "done" and result.answer is not None and "\x00" in result.answer
    [record] = await runs.alist_runs(db=db)
    assert record["status"] == "done" and record["answer"] == result.answer.replace(
        "\x00", "\ufffd"
    )


async def test_a_stored_run_is_rescored_without_the_model(db: str) -> None:
    # Two unsure samples say 8, one confident sample says 7 (scripted log-probabilities).
    model = ScriptedChatModel(
        replies=["The answer is 8.", "The answer is 7.", "The answer is 8."],
        logprob_fn=lambda text: -0.05 if "7" in text else -2.0,
    )
    options: dict[str, Any] = {"max_samples": 3, "min_samples": 3, "agreement": 1.0}
    options |= {"select": "majority", "programs": 0}  # the textbook vote, to re-score
    result = await ponder.asolve("q", model=model, db=db, run_id="voted", **options)
    assert result.answer == "8"
    calls = len(model.calls)
    same = await runs.arescore("voted", db=db)
    assert (same["answer"], same["stored_answer"], same["votes"]) == ("8", "8", {"8": 2, "7": 1})
    assert same["candidates"] == same["with_confidence"] == 3
    confident = await runs.arescore("voted", db=db, select="confidence")
    assert confident["answer"] == "7" and confident["select"] == "confidence"
    filtered = runs.rescore("voted", db=db, select="filtered", keep=0.34)
    assert filtered["answer"] == "7"
    assert len(model.calls) == calls  # no model call
    with pytest.raises(ConfigurationError, match="no run"):
        await runs.arescore("nope", db=db)
    with pytest.raises(ConfigurationError, match="select must be one of"):
        await runs.arescore("voted", db=db, select="loudest")  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="keep must be"):
        await runs.arescore("voted", db=db, select="filtered", keep=0.0)
    with pytest.raises(ConfigurationError, match="measure must be one of"):
        await runs.arescore("voted", db=db, measure="loud")  # type: ignore[arg-type]


@pytest.mark.embedded
async def test_an_embedded_run_is_rescored_by_its_stored_confidence(
    tmp_path: Any, smollm2: Any
) -> None:
    db = f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
    result = await ponder.asolve(
        "What is 17 + 25?", model=smollm2, db=db, run_id="real", max_samples=5, agreement=1.0,
        budget=ponder.Budget(tokens=3000),
    )  # fmt: skip
    for select in ("majority", "confidence", "filtered", "borda"):
        found = await runs.arescore("real", db=db, select=select)
        assert found["with_confidence"] == found["candidates"] == len(result.candidates)
        assert found["answer"] is None or found["answer"] in found["votes"]
    assert (await runs.arescore("real", db=db))["answer"] == result.answer
