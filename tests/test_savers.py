"""Runs in any LangGraph saver: pause, top-up, resume, list, show, on each of them.

Each official saver (``InMemorySaver``, ``AsyncSqliteSaver``, ``SqliteSaver``,
``AsyncPostgresSaver``, ``PostgresSaver`` on the real local PostgreSQL) and ponder's own
`SqlCheckpointer` carry runs through the runs API; the URL-named ones through the command
line too. A thread of a user's own graph with a ponder strategy inside is listed and shown.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, TypedDict

import psycopg
import pytest
from langchain_core.messages import BaseMessage
from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.postgres import PostgresSaver
from langgraph.checkpoint.postgres.aio import AsyncPostgresSaver
from langgraph.checkpoint.sqlite import SqliteSaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from langgraph.graph import END, START, StateGraph

import ponder
from ponder import runs
from ponder.cli import main
from ponder.context import RunContext
from ponder.errors import ConfigurationError
from ponder.models import EmbeddedChatModel
from ponder.persistence import SqlCheckpointer
from ponder.persistence.savers import SyncSaver, async_saver
from ponder.setup import make_context
from ponder.testing import ScriptedChatModel
from ponder.viz.viewer import aload_view

PG = "postgres@127.0.0.1:5432/test"
OPTIONS: dict[str, Any] = {"max_samples": 7, "agreement": 1.0, "programs": 0}


def seeded() -> ScriptedChatModel:
    """Replies depend on the seed only, so a resumed run can be compared with a fresh one."""

    def reply(messages: list[BaseMessage], kwargs: dict[str, Any]) -> str:
        return f"The answer is {kwargs['seed'] % 3}."

    return ScriptedChatModel(reply_fn=reply)


@pytest.fixture
def pg_schema() -> Iterator[str]:
    """A fresh PostgreSQL schema for LangGraph's saver tables, dropped afterwards."""
    schema = f"lg_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(f"postgresql://{PG}", autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(f"postgresql://{PG}", autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def pg_conninfo(schema: str) -> str:
    return f"postgresql://{PG}?options=-csearch_path%3D{schema}"


SAVERS = ["memory", "sqlite-async", "sqlite-sync", "postgres-async", "postgres-sync", "sql"]


@pytest.fixture(params=SAVERS)
async def saver(
    request: pytest.FixtureRequest, tmp_path: Path, pg_schema: str
) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """Each saver ponder is to keep runs in, opened as its user would open it."""
    kind = request.param
    if kind == "memory":
        yield InMemorySaver()
    elif kind == "sqlite-async":
        async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "lg.db")) as aio_sqlite:
            yield aio_sqlite
    elif kind == "sqlite-sync":
        conn = sqlite3.connect(tmp_path / "lg.db")
        try:
            yield SqliteSaver(conn)
        finally:
            conn.close()
    elif kind == "postgres-async":
        async with AsyncPostgresSaver.from_conn_string(pg_conninfo(pg_schema)) as aio_pg:
            await aio_pg.setup()
            yield aio_pg
    elif kind == "postgres-sync":
        with PostgresSaver.from_conn_string(pg_conninfo(pg_schema)) as sync_pg:
            sync_pg.setup()
            yield sync_pg
    else:
        async with SqlCheckpointer.from_conn_string(str(tmp_path / "ponder.db")) as sql:
            yield sql


async def test_pause_top_up_resume_fork_and_remove_on_each_saver(
    saver: BaseCheckpointSaver[Any],
) -> None:
    paused = await ponder.asolve(
        "q", model=seeded(), budget=ponder.Budget(calls=3), db=saver, run_id="r1", **OPTIONS
    )
    assert paused.status == "paused" and paused.usage.calls == 3
    [record] = await runs.alist_runs(db=saver)
    assert (record["run_id"], record["status"], record["calls"]) == ("r1", "paused", 3)
    assert record["stop_reason"] == "budget" and record["answer"] == paused.answer
    assert record["model"] == "object:ScriptedChatModel" and record["options"] == OPTIONS

    with pytest.raises(ConfigurationError, match="add_tokens"):
        await runs.aresume("r1", db=saver, model=seeded())
    done = await runs.aresume("r1", db=saver, add_calls=4, model=seeded())
    fresh = await ponder.asolve("q", model=seeded(), budget=ponder.Budget(calls=7), **OPTIONS)
    assert done.status == "done" and done.answer == fresh.answer
    assert [c["text"] for c in done.candidates] == [c["text"] for c in fresh.candidates]
    [record] = await runs.alist_runs(db=saver)
    assert (record["status"], record["calls"], record["answer"]) == ("done", 7, done.answer)
    assert record["budget"]["calls"] == 7
    with pytest.raises(ConfigurationError, match="nothing to resume"):
        await runs.aresume("r1", db=saver, model=seeded())

    view = await aload_view("r1", db=saver)
    assert view["run"]["status"] == "done" and view["answer"] == done.answer
    assert len([n for n in view["nodes"] if n["id"] != "root"]) == 7
    rescored = await runs.arescore("r1", db=saver)
    assert rescored["answer"] == done.answer and rescored["candidates"] == 7

    points = await runs.alist_checkpoints("r1", db=saver)
    middle = next(p for p in points if p["candidates"] == 3)
    forked = await runs.afork(
        "r1", at=middle["checkpoint_id"], db=saver, new_run_id="child", model=seeded(),
        add_tokens=None,
    )  # fmt: skip
    assert [c["id"] for c in forked.candidates[:3]] == ["c0", "c1", "c2"]
    listed = {r["run_id"]: r for r in await runs.alist_runs(db=saver)}
    assert set(listed) == {"r1", "child"} and listed["child"]["parent_run_id"] == "r1"
    await runs.aremove_run("child", db=saver)
    assert [r["run_id"] for r in await runs.alist_runs(db=saver)] == ["r1"]


class AgentState(TypedDict, total=False):
    """A user's graph state: their question, and the keys the strategy reads and writes."""

    question: str
    problem: str
    budget: dict[str, Any]
    answer: str | None


def agent(saver: BaseCheckpointSaver[Any]) -> Any:
    """A user's own graph with a ponder strategy as one of its nodes."""

    def prepare(state: AgentState) -> dict[str, Any]:
        return {"problem": state["question"], "budget": {"tokens": 2000}}

    graph = StateGraph(AgentState, context_schema=RunContext)
    graph.add_node("prepare", prepare)
    graph.add_node("think", ponder.build_strategy("self-consistency", max_samples=3))
    graph.add_edge(START, "prepare")
    graph.add_edge("prepare", "think")
    graph.add_edge("think", END)
    return graph.compile(checkpointer=saver)


def agent_context() -> RunContext:
    return make_context(
        ScriptedChatModel(replies=["3 + 4 = 7. The answer is 7."]), verifier=None,
        extractor=None, step_scorer=None, seed=0, call_timeout=60.0, persisted=False,
    )  # fmt: skip


async def test_a_users_graph_thread_is_listed_shown_and_not_resumed(
    saver: BaseCheckpointSaver[Any],
) -> None:
    app = agent(async_saver(saver))
    config: Any = {"configurable": {"thread_id": "chat-1"}}
    out = await app.ainvoke({"question": "What is 3 + 4?"}, config, context=agent_context())
    assert out["answer"] == "7"
    await ponder.asolve("q", model=seeded(), db=saver, run_id="mine", max_samples=2)

    listed = {r["run_id"]: r for r in await runs.alist_runs(db=saver)}
    assert set(listed) == {"chat-1", "mine"}
    thread = listed["chat-1"]
    assert thread["strategy"] == "self-consistency" and thread["problem"] == "What is 3 + 4?"
    assert (thread["status"], thread["answer"]) == ("done", "7") and thread["calls"] >= 2
    assert thread["namespace"].startswith("think:")
    assert "namespace" not in listed["mine"]

    view = await aload_view("chat-1", db=saver)
    assert view["answer"] == "7" and view["run"]["problem"] == "What is 3 + 4?"
    drawn = [f"c{i}" for i in range(thread["calls"])]
    assert sorted(n["id"] for n in view["nodes"]) == [*drawn, "root"]
    assert (await runs.arescore("chat-1", db=saver))["votes"] == {"7": len(drawn)}
    assert len(await runs.alist_checkpoints("chat-1", db=saver)) >= 3
    for refused in (runs.aresume("chat-1", db=saver), runs.afork("chat-1", db=saver)):
        with pytest.raises(ConfigurationError, match="thread of your own graph"):
            await refused
    with pytest.raises(ConfigurationError, match="delete it with your saver"):
        await runs.aremove_run("chat-1", db=saver)
    with pytest.raises(ConfigurationError, match="exists already"):
        await ponder.asolve("q", model=seeded(), db=saver, run_id="chat-1")


def test_sync_savers_are_wrapped_and_async_ones_kept(tmp_path: Path) -> None:
    memory = InMemorySaver()
    assert async_saver(memory) is memory
    conn = sqlite3.connect(tmp_path / "x.db")
    try:
        assert isinstance(async_saver(SqliteSaver(conn)), SyncSaver)
    finally:
        conn.close()
    with pytest.raises(ConfigurationError, match="LangGraph checkpoint saver"):
        runs.list_runs(db=object())  # type: ignore[arg-type]


def test_the_sync_api_runs_on_a_sync_saver(tmp_path: Path) -> None:
    with SqliteSaver.from_conn_string(str(tmp_path / "s.db")) as sqlite_saver:
        paused = ponder.solve(
            "q", model=seeded(), budget=ponder.Budget(calls=3), db=sqlite_saver, run_id="s1",
            **OPTIONS,
        )  # fmt: skip
        assert paused.status == "paused"
        done = runs.resume("s1", db=sqlite_saver, add_calls=4, model=seeded())
        assert done.status == "done"
        assert [r["status"] for r in runs.list_runs(db=sqlite_saver)] == ["done"]


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> None:
    """The embedded model, as the command line loads it, answers by seed."""
    model = seeded()
    monkeypatch.setattr(EmbeddedChatModel, "from_name", lambda *a, **k: model)


@pytest.fixture(params=["langgraph-sqlite", "langgraph-postgres", "ponder-sqlite"])
def url(request: pytest.FixtureRequest, tmp_path: Path, pg_schema: str) -> str:
    """A store the command line reaches by ``--db``."""
    if request.param == "langgraph-sqlite":
        return f"langgraph+sqlite:///{tmp_path / 'lg.db'}"
    if request.param == "langgraph-postgres":
        return f"langgraph+postgres://{PG}?options=-csearch_path%3D{pg_schema}"
    return f"sqlite:///{tmp_path / 'ponder.db'}"


def run_json(args: list[str], capsys: pytest.CaptureFixture[str]) -> Any:
    assert main([*args, "--json"]) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def test_the_command_line_pauses_resumes_lists_and_shows_on_each_url(
    scripted: None, url: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    solved = run_json(
        ["solve", "q", "-q", "--max-calls", "3", "-O", "max_samples=7", "-O", "agreement=1.0",
         "-O", "programs=0",
         "--db", url, "--run-id", "r1"], capsys,
    )  # fmt: skip
    assert solved["status"] == "paused"
    [record] = run_json(["runs", "--db", url], capsys)
    assert (record["run_id"], record["status"], record["calls"]) == ("r1", "paused", 3)
    done = run_json(
        ["resume", "r1", "-q", "--add-calls", "4", "--model", "smollm2", "--db", url], capsys
    )
    assert done["status"] == "done" and len(done["candidates"]) == 7
    [record] = run_json(["runs", "--db", url], capsys)
    assert (record["status"], record["calls"]) == ("done", 7)
    view = run_json(["show", "r1", "--db", url], capsys)
    assert view["run"]["status"] == "done" and view["answer"] == done["answer"]
    assert main(["show", "r1", "--db", url, "-o", str(tmp_path / "r1.html")]) == 0
    assert "<html" in (tmp_path / "r1.html").read_text()


async def test_the_command_line_lists_and_shows_a_users_graph_thread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "agent.db"
    async with AsyncSqliteSaver.from_conn_string(str(path)) as aio_sqlite:
        app = agent(aio_sqlite)
        config: Any = {"configurable": {"thread_id": "chat-1"}}
        await app.ainvoke({"question": "What is 3 + 4?"}, config, context=agent_context())
    async with SqlCheckpointer.from_conn_string(str(tmp_path / "ponder.db")) as sql:
        app = agent(sql)
        await app.ainvoke({"question": "What is 3 + 4?"}, config, context=agent_context())
    for url in (f"langgraph+sqlite:///{path}", f"sqlite:///{tmp_path / 'ponder.db'}"):
        assert main(["runs", "--db", url]) == 0
        out = capsys.readouterr().out
        assert "chat-1" in out and "your graph's thread" in out
        assert main(["show", "chat-1", "--db", url, "-o", "-"]) == 0
        assert "What is 3 + 4?" in capsys.readouterr().out
        assert main(["resume", "chat-1", "--db", url, "--add-tokens", "100"]) == 2
        assert "thread of your own graph" in capsys.readouterr().err


def test_saver_urls_that_name_nothing_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["runs", "--db", "langgraph+sqlite:///"]) == 2
    assert "names no file" in capsys.readouterr().err
    assert main(["runs", "--db", "langgraph+postgres://"]) == 2
    assert "names no database" in capsys.readouterr().err
    assert main(["runs", "--db", "langgraph+sqlite:///no/such/file.db"]) == 2
    assert "no database at" in capsys.readouterr().err


async def test_nested_strategies_of_a_run_are_not_listed_as_graph_threads() -> None:
    saver = InMemorySaver()
    paused = await ponder.asolve(
        "What is 2 + 2?", "adaptive", model=seeded(), budget=ponder.Budget(calls=4), db=saver,
        run_id="a1",
    )  # fmt: skip
    [record] = await runs.alist_runs(db=saver)
    assert "namespace" not in record and record["strategy"] == "adaptive"
    assert (record["status"], record["calls"]) == (paused.status, paused.usage.calls)
    assert record["answer"] == paused.answer


async def test_the_live_viewer_follows_a_run_in_another_saver() -> None:
    from ponder.viz.serve import ViewerServer

    saver = InMemorySaver()
    await ponder.asolve("q", model=seeded(), db=saver, run_id="r1", max_samples=3)
    async with ViewerServer("r1", db=saver) as server:
        _, body = await server.view_json()
    assert json.loads(body)["run"]["run_id"] == "r1"
    with pytest.raises(ConfigurationError, match="no run 'nope'"):
        async with ViewerServer("nope", db=saver):
            pass
