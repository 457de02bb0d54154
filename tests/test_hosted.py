"""Hosting on LangGraph Server: JSON contexts, the graph factories, and ``langgraph dev`` itself.

The model is the fake OpenAI-compatible server on loopback (`tests.models.fake_providers`),
named in the context by its URL, as a hosted run names any model; the server test starts the
real ``langgraph dev`` (in-memory runtime) on loopback and drives it with ``langgraph-sdk``.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.store.memory import InMemoryStore
from langgraph.types import Command
from langgraph_sdk.runtime import _ExecutionRuntime, _ReadRuntime

from ponder.context import context_of
from ponder.errors import ConfigurationError
from ponder.graphs import STRATEGIES
from ponder.hosted import HostedContext, _for_server, hosted_graph
from ponder.verify import ArithmeticConsistency, ExpectedAnswer, MathAnswer, extract_short_answer
from ponder.verify.record import verifier_from_record, verifier_record
from tests.models.fake_providers import FakeServer, fake_server

ROOT = Path(__file__).resolve().parents[1]
PROBLEM = {"problem": "What is 2 + 2?", "budget": {"calls": 2}}
TOP_UP = {"budget": {"calls": 4}, "seconds_before": 0.0}
UNUSED = "http://127.0.0.1:9/v1"
"""A model spec never called (the context is refused first)."""


@pytest.fixture
def model_server() -> Iterator[FakeServer]:
    with fake_server() as server:
        yield server


# JSON contexts -------------------------------------------------------------------------------


def test_a_model_spec_string_is_resolved_once_per_spec(model_server: FakeServer) -> None:
    spec = f"{model_server.url}/v1#fake"
    first = context_of({"model": spec, "seed": 3})
    again = context_of(HostedContext(model=spec))
    assert first.model is again.model and first.seed == 3
    assert type(first.model).__name__ == "OpenAICompatibleChatModel"


@pytest.mark.parametrize(
    ("given", "built"),
    [
        ("arithmetic", ArithmeticConsistency()),
        ({"name": "arithmetic", "unchecked": 0.25}, ArithmeticConsistency(unchecked=0.25)),
        ({"expected": "42"}, ExpectedAnswer("42")),
        ({"expected": 42, "kind": "number"}, ExpectedAnswer("42")),
        ({"expected": "Paris", "kind": "string"}, ExpectedAnswer("Paris", "string")),
        ({"math": "1/2"}, MathAnswer("1/2")),
    ],
)
def test_a_verifier_given_as_plain_data_is_built(
    model_server: FakeServer, given: Any, built: Any
) -> None:
    context = context_of({"model": f"{model_server.url}/v1", "verifier": given})
    assert context.verifier == built


def test_the_arithmetic_verifier_is_recorded_by_value_for_resume() -> None:
    checker = ArithmeticConsistency(unchecked=0.1)
    assert verifier_from_record(verifier_record(checker), "r") == checker


def test_an_extractor_given_by_name_is_used(model_server: FakeServer) -> None:
    context = context_of({"model": f"{model_server.url}/v1", "extractor": "extract_short_answer"})
    assert context.extractor is extract_short_answer


@pytest.mark.parametrize(
    ("context", "says"),
    [
        ({"model": "no-such-model"}, r"not usable: unknown model 'no-such-model'"),
        ({"model": UNUSED, "verifier": "oracle"}, r"unknown verifier 'oracle'.*arithmetic"),
        ({"model": UNUSED, "verifier": {"expected": "4", "kind": "vibes"}}, r"'kind' one of"),
        ({"model": UNUSED, "verifier": {"name": "arithmetic", "x": 1}}, r"not usable"),
        ({"model": UNUSED, "extractor": "extract_everything"}, r"unknown extractor"),
    ],
)
def test_a_json_context_ponder_cannot_use_is_refused_by_name(context: Any, says: str) -> None:
    with pytest.raises(ConfigurationError, match=says):
        context_of(context)


# The graph factories ---------------------------------------------------------------------------


def run_call(context: Any) -> Any:
    """What LangGraph Server hands a factory when it runs a graph with ``context``."""
    return _ExecutionRuntime(access_context="threads.create_run", store=InMemoryStore(),
                             context=context)  # fmt: skip


READ_CALL: Any = _ReadRuntime(access_context="assistants.read", store=InMemoryStore())
"""What it hands a factory to draw the graph or show its schemas."""


def test_every_strategy_has_a_factory_named_in_langgraph_json() -> None:
    config = json.loads((ROOT / "langgraph.json").read_text())
    assert config["dependencies"] == ["."]
    assert set(config["graphs"]) == set(STRATEGIES)
    import ponder.hosted

    for name, entry in config["graphs"].items():
        module, _, factory = entry["path"].partition(":")
        assert module == "ponder.hosted"
        graph = getattr(ponder.hosted, factory)(READ_CALL)
        assert graph.name == name and graph.checkpointer is None
        assert graph.context_schema is HostedContext


def test_the_context_schema_is_a_json_form_with_defaults() -> None:
    schema = hosted_graph("self-consistency").get_context_jsonschema() or {}
    fields = schema["properties"]
    assert fields["model"]["default"] == "smollm2"
    assert fields["pause_on_budget"]["default"] is False
    assert "spec" in fields["model"]["description"]
    assert {"verifier", "seed", "call_timeout", "options"} <= set(fields)


def test_a_runs_options_build_its_graph_and_bad_ones_are_refused() -> None:
    graph = _for_server("self-consistency", run_call({"options": {"max_samples": 3}}))
    assert (graph.config or {})["recursion_limit"] == 11
    with pytest.raises(ConfigurationError, match="has no option 'samples'"):
        _for_server("self-consistency", run_call({"options": {"samples": 3}}))
    with pytest.raises(ConfigurationError, match="needs a verifier"):
        _for_server("best-of-n", run_call({"model": "smollm2"}))
    assert _for_server("best-of-n", run_call({"verifier": "arithmetic"})).name


async def test_a_hosted_graph_pauses_on_budget_and_resumes_with_a_top_up(
    model_server: FakeServer,
) -> None:
    graph: Any = hosted_graph("self-consistency", {"max_samples": 4, "max_tokens": 16})
    graph = graph.copy(update={"checkpointer": InMemorySaver()})  # as the server does
    context = {"model": f"{model_server.url}/v1", "pause_on_budget": True}
    config: Any = {"configurable": {"thread_id": "t1"}}
    await graph.ainvoke(PROBLEM, config, context=context)
    paused = await graph.aget_state(config)
    assert paused.next == ("pause",)
    assert paused.interrupts[0].value["reason"] == "budget"
    out = await graph.ainvoke(Command(resume=TOP_UP), config, context=context)
    assert out["answer"] == "4" and out["status"] == "done" and len(out["candidates"]) == 3


# langgraph dev ---------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _quiet_env() -> dict[str, str]:
    """The server's environment: ponder importable, and nothing phoning home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LANGSMITH", "LANGCHAIN"))}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        LANGGRAPH_CLI_NO_ANALYTICS="1",  # the CLI's usage report
        LANGGRAPH_NO_VERSION_CHECK="true",  # the server's look-up of its latest version
        LANGSMITH_TRACING="false",
    )
    return env


@pytest.fixture
def langgraph_dev(tmp_path: Path) -> Iterator[str]:
    """``langgraph dev`` serving the repository's langgraph.json on a free loopback port."""
    pytest.importorskip("langgraph_runtime_inmem", reason="needs langgraph-cli[inmem]")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    log = (tmp_path / "langgraph-dev.log").open("wb")
    command = [
        str(Path(sys.executable).with_name("langgraph")), "dev",
        "--config", str(ROOT / "langgraph.json"), "--host", "127.0.0.1", "--port", str(port),
        "--no-browser", "--no-reload",
    ]  # fmt: skip
    # Its working directory is a temporary one: the in-memory runtime keeps its files there.
    server = subprocess.Popen(
        command, cwd=tmp_path, env=_quiet_env(), stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    try:
        _wait_until_up(url, server, tmp_path / "langgraph-dev.log")
        yield url
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=10)
        log.close()


def _wait_until_up(url: str, server: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if server.poll() is not None:
            pytest.fail(f"langgraph dev exited ({server.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/ok", timeout=2) as reply:
                if reply.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"langgraph dev did not start in 90 s:\n{log.read_text()[-3000:]}")


@pytest.fixture
async def client(langgraph_dev: str) -> AsyncIterator[Any]:
    from langgraph_sdk import get_client

    sdk = get_client(url=langgraph_dev)
    try:
        yield sdk
    finally:
        await sdk.aclose()


async def test_langgraph_dev_runs_streams_pauses_and_resumes_a_strategy(
    client: Any, model_server: FakeServer
) -> None:
    assistants = await client.assistants.search(limit=20)
    assert {a["graph_id"] for a in assistants} == set(STRATEGIES)
    (assistant,) = [a for a in assistants if a["graph_id"] == "self-consistency"]
    schemas = await client.assistants.get_schemas(assistant["assistant_id"])
    assert schemas["context_schema"]["properties"]["model"]["default"] == "smollm2"

    thread = await client.threads.create()
    context = {
        "model": f"{model_server.url}/v1",
        "pause_on_budget": True,
        "options": {"max_samples": 4, "max_tokens": 16},
    }
    events = [
        part
        async for part in client.runs.stream(
            thread["thread_id"], "self-consistency", input=PROBLEM, context=context,
            stream_mode=["custom", "values"],
        )
    ]  # fmt: skip
    assert not [p for p in events if p.event == "error"], events
    progress = [p.data for p in events if p.event == "custom"]
    assert [e["candidate"]["answer"] for e in progress if e["ponder"] == "candidate"] == ["4", "4"]
    state = await client.threads.get_state(thread["thread_id"])
    assert state["next"] == ["pause"]
    (asked,) = [i["value"] for task in state["tasks"] for i in task["interrupts"]]
    assert asked["reason"] == "budget" and asked["budget"]["calls"] == 2
    assert (await client.threads.get(thread["thread_id"]))["status"] == "interrupted"

    resumed = [
        part
        async for part in client.runs.stream(
            thread["thread_id"], "self-consistency", command={"resume": TOP_UP},
            context=context, stream_mode=["custom", "values"],
        )
    ]  # fmt: skip
    progress = [p.data for p in resumed if p.event == "custom"]
    assert {"sample", "candidate", "vote", "stop"} <= {e["ponder"] for e in progress}
    final = [p.data for p in resumed if p.event == "values"][-1]
    assert final["answer"] == "4" and final["status"] == "done"
    assert len(final["candidates"]) == 3 and len(final["ledger"]) == 3
    assert (await client.threads.get(thread["thread_id"]))["status"] == "idle"
    assert len([s for s in model_server.seen if s.path.endswith("/chat/completions")]) == 3
