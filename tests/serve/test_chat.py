"""`ponder serve` driven by the official openai client, on loopback, with a scripted model."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import openai
import pytest

from ponder import runs
from ponder.cli import main
from ponder.serve import RUN_ID_HEADER, BackgroundServer
from ponder.testing import ScriptedChatModel
from tests.serve.conftest import ponder_of, user

QUESTION = user("What is 40 + 2?")


def test_a_plain_request_is_a_persisted_run(client: openai.OpenAI, run_db: str, capsys) -> None:
    raw = client.chat.completions.with_raw_response.create(
        model="ponder-self-consistency",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi."},
            *QUESTION,
        ],
        extra_body={"ponder": {"options": {"max_samples": 5}}},
    )
    reply = raw.parse()
    extra = ponder_of(reply)
    assert raw.headers[RUN_ID_HEADER] == extra["run_id"]
    assert reply.choices[0].message.content == "Adding them up gives 42. The answer is 42."
    assert reply.choices[0].finish_reason == "stop"
    assert extra["answer"] == "42" and extra["status"] == "done"
    assert extra["ignored_messages"] == 3
    # usage is every token of the run: all its candidates, not only the one shown
    assert reply.usage is not None
    assert reply.usage.total_tokens == sum(c["tokens"] for c in extra["candidates"])
    assert len(extra["candidates"]) >= 3
    assert reply.usage.total_tokens == extra["run_usage"]["total_tokens"]
    [record] = [r for r in runs.list_runs(db=run_db) if r["run_id"] == extra["run_id"]]
    assert record["status"] == "done" and record["answer"] == "42"
    assert record["problem"] == "What is 40 + 2?"
    assert record["tokens"] == reply.usage.total_tokens
    capsys.readouterr()
    assert main(["show", extra["run_id"], "--db", run_db, "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert extra["run_id"] in json.dumps(shown)


def test_models_lists_every_strategy(client: openai.OpenAI) -> None:
    from ponder.graphs import STRATEGIES

    listed = [model.id for model in client.models.list()]
    assert listed == [f"ponder-{name}" for name in STRATEGIES]
    assert client.models.retrieve("ponder-adaptive").id == "ponder-adaptive"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("gpt-4o")


def test_streaming_sends_the_answer_as_deltas_and_progress_standard_clients_ignore(
    client: openai.OpenAI,
) -> None:
    stream = client.chat.completions.create(
        model="ponder-self-consistency", messages=QUESTION, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    text, events, finish, usage = "", [], None, None
    for part in stream:
        if part.usage is not None:
            usage = part.usage
        for choice in part.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
        if part.model_extra and "ponder" in part.model_extra:
            events.append(ponder_of(part))
    assert text == "Adding them up gives 42. The answer is 42."
    assert finish == "stop"
    kinds = [e["event"] for e in events]
    assert kinds[0] == "run" and kinds[-1] == "end"
    assert kinds.count("candidate") >= 3
    assert events[-2]["votes"] == {"42": kinds.count("candidate")}
    assert events[-1]["answer"] == "42"
    assert usage is not None and usage.total_tokens == events[-1]["run_usage"]["total_tokens"]


def test_a_stream_is_openai_chunks_then_done(server: BackgroundServer) -> None:
    body = {"model": "ponder-refine", "messages": QUESTION, "stream": True}
    with httpx.stream("POST", f"{server.url}/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = [line for line in response.iter_lines() if line]
    assert lines[-1] == "data: [DONE]"
    for line in lines[:-1]:
        assert line.startswith("data: ")
        data = json.loads(line[6:])
        assert data["object"] == "chat.completion.chunk"
        assert data["id"] == json.loads(lines[0][6:])["id"]
        assert len(data["choices"]) == 1


def test_langchain_openai_streams_only_the_answer(server: BackgroundServer) -> None:
    from langchain_openai import ChatOpenAI
    from pydantic import SecretStr

    chat = ChatOpenAI(model="ponder-self-consistency", base_url=server.url,
                      api_key=SecretStr("x"), max_retries=0)  # fmt: skip
    pieces = [piece.content for piece in chat.stream("What is 40 + 2?")]
    assert "".join(str(p) for p in pieces) == "Adding them up gives 42. The answer is 42."


async def test_concurrent_requests_are_separate_runs(server: BackgroundServer, run_db: str) -> None:
    async with openai.AsyncOpenAI(base_url=server.url, api_key="x", max_retries=0) as client:
        replies = await asyncio.gather(*(
            client.chat.completions.create(
                model="ponder-self-consistency",
                messages=user(f"What is {i} + 42 - {i}?"),
                stream=i % 2 == 1,
            )
            for i in range(8)
        ))  # fmt: skip
        ids = []
        for reply in replies:
            if isinstance(reply, openai.AsyncStream):
                async for part in reply:
                    if part.model_extra and part.model_extra.get("ponder", {}).get("run_id"):
                        ids.append(ponder_of(part)["run_id"])
                        break
                await reply.close()
            else:
                ids.append(ponder_of(reply)["run_id"])
    assert len(set(ids)) == 8


def test_the_api_key_is_checked(scripted: ScriptedChatModel, run_db: str) -> None:
    with BackgroundServer(model=scripted, db=run_db, api_key="sk-local-secret") as server:
        for key in ("wrong", "sk-local-secre", "sk-local-secret-"):
            with openai.OpenAI(base_url=server.url, api_key=key, max_retries=0) as client:
                with pytest.raises(openai.AuthenticationError) as refused:
                    client.chat.completions.create(model="ponder-refine", messages=QUESTION)
                assert refused.value.code == "invalid_api_key"
        assert httpx.get(f"{server.url}/models").status_code == 401
        with openai.OpenAI(base_url=server.url, api_key="sk-local-secret") as client:
            reply = client.chat.completions.create(model="ponder-refine", messages=QUESTION)
            assert ponder_of(reply)["status"] == "done"


@pytest.mark.parametrize(
    ("request_", "status", "code"),
    [
        ({"model": "gpt-4o"}, 404, "model_not_found"),
        ({"model": "ponder-nope"}, 404, "model_not_found"),
        ({"model": "ponder-refine/openai:gpt-4o"}, 404, "model_not_found"),
        ({"messages": []}, 400, "invalid_request"),
        ({"messages": [{"role": "assistant", "content": "4"}]}, 400, "invalid_request"),
        ({"messages": [{"role": "user", "content": "  "}]}, 400, "invalid_request"),
        ({"ponder": {"budget": {"tokens": -5}}}, 400, "invalid_request"),
        ({"ponder": {"budget": {"tokenz": 5}}}, 400, "invalid_request"),
        ({"ponder": {"budget": "lots"}}, 400, "invalid_request"),
        ({"ponder": {"options": {"max_samplez": 5}}}, 400, "invalid_request"),
        ({"ponder": {"options": {"max_samples": -1}}}, 400, "invalid_request"),
        ({"ponder": {"colour": "red"}}, 400, "invalid_request"),
        ({"ponder": {"verifier": {"exec": "rm -rf /"}}}, 400, "invalid_request"),
        ({"ponder": {"top_up": {"tokens": 5}}}, 400, "invalid_request"),
        ({"ponder": {"run_id": "nope"}}, 404, "run_not_found"),
        ({"model": "ponder-best-of-n"}, 400, "invalid_request"),
        ({"max_tokens": 0}, 400, "invalid_request"),
        ({"n": 3}, 400, "invalid_request"),
        ({"stream": True, "ponder": {"budget": {"tokens": 0}}}, 400, "invalid_request"),
        ({"stream": True, "model": "ponder-x"}, 404, "model_not_found"),
    ],
)
def test_bad_requests_get_openai_errors(
    client: openai.OpenAI, request_: dict[str, Any], status: int, code: str
) -> None:
    body = {"model": "ponder-self-consistency", "messages": QUESTION, **request_}
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(
            model=body.pop("model"), messages=body.pop("messages"), extra_body=body
        )
    assert refused.value.status_code == status
    assert refused.value.code == code
    assert "Traceback" not in refused.value.message


def test_malformed_bodies_and_routes(server: BackgroundServer) -> None:
    url = f"{server.url}/chat/completions"
    cases = [
        (httpx.post(url, content=b"{not json", headers={"content-type": "application/json"}),
         400),
        (httpx.post(url, content=b"[]", headers={"content-type": "application/json"}), 400),
        (httpx.post(url, content=b"{}", headers={"content-type": "application/json"}), 400),
        (httpx.post(url, content=b'{"model": 1}', headers={"content-type": "text/plain"}), 415),
        (httpx.post(url, content=b"x" * (1 << 21), headers={"content-type": "application/json"}),
         413),
        (httpx.get(url), 405),
        (httpx.get(f"{server.url}/nothing"), 404),
        (httpx.get(f"{server.url}/models", headers={"host": "evil.example"}), 403),
    ]  # fmt: skip
    for response, status in cases:
        assert response.status_code == status, response.text
        error = response.json()["error"]
        assert error["message"] and error["type"]


def test_an_upstream_failure_is_502_and_the_run_is_kept(client: openai.OpenAI, run_db: str) -> None:
    for stream in (False, True):
        with pytest.raises(openai.APIStatusError) as failed:
            client.chat.completions.create(
                model="ponder-self-consistency", stream=stream,
                messages=user("fail please"),
            )  # fmt: skip
        assert failed.value.status_code == 502
        assert failed.value.code == "model_error"
        body = failed.value.body
        assert isinstance(body, dict)
        assert "upstream went away" in body["message"]
        run_id = body["run_id"]
        assert failed.value.response.headers[RUN_ID_HEADER] == run_id
        [record] = [r for r in runs.list_runs(db=run_db) if r["run_id"] == run_id]
        assert record["status"] == "failed"


def test_a_client_cannot_name_a_policy_file_on_the_server(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="allocation is not accepted over HTTP"):
        client.chat.completions.create(
            model="ponder-adaptive", messages=QUESTION,
            extra_body={"ponder": {"options": {"allocation": "/etc/passwd"}}},
        )  # fmt: skip


def test_over_budget_is_length_and_a_top_up_continues_the_run(
    client: openai.OpenAI, run_db: str
) -> None:
    paused = client.chat.completions.create(
        model="ponder-self-consistency", messages=QUESTION,
        extra_body={"ponder": {"budget": {"calls": 2}}},
    )  # fmt: skip
    first = ponder_of(paused)
    assert paused.choices[0].finish_reason == "length"
    assert first["status"] == "paused" and first["stop_reason"] == "budget"
    assert first["candidates"], first
    assert paused.choices[0].message.content  # the provisional answer's text
    run_id = first["run_id"]
    with pytest.raises(openai.BadRequestError, match="add_tokens"):
        client.chat.completions.create(
            model="ponder-self-consistency", messages=QUESTION,
            extra_body={"ponder": {"run_id": run_id}},
        )  # fmt: skip
    with pytest.raises(openai.BadRequestError, match="self-consistency run"):
        client.chat.completions.create(
            model="ponder-refine", messages=QUESTION,
            extra_body={"ponder": {"run_id": run_id, "top_up": {"calls": 10}}},
        )  # fmt: skip
    stream = client.chat.completions.create(
        model="ponder-self-consistency", messages=QUESTION, stream=True,
        stream_options={"include_usage": True},
        extra_body={"ponder": {"run_id": run_id, "top_up": {"calls": 10}}},
    )  # fmt: skip
    parts = list(stream)
    end = ponder_of(parts[-2])
    assert end["run_id"] == run_id and end["continued"] and end["status"] == "done"
    assert parts[-2].choices[0].finish_reason == "stop"
    usage = parts[-1].usage
    assert usage is not None and paused.usage is not None
    # this request's usage is what it spent; the run's is in ponder.run_usage
    assert usage.total_tokens + paused.usage.total_tokens == end["run_usage"]["total_tokens"]
    [record] = [r for r in runs.list_runs(db=run_db) if r["run_id"] == run_id]
    assert record["status"] == "done"
    assert record["tokens"] == end["run_usage"]["total_tokens"]


def test_max_tokens_is_the_output_budget(client: openai.OpenAI, run_db: str) -> None:
    reply = client.chat.completions.create(
        model="ponder-self-consistency", messages=QUESTION, max_tokens=20,
    )  # fmt: skip
    extra = ponder_of(reply)
    assert reply.usage is not None and reply.usage.completion_tokens <= 20
    assert reply.choices[0].finish_reason == "length"
    [record] = [r for r in runs.list_runs(db=run_db) if r["run_id"] == extra["run_id"]]
    assert record["budget"]["output_tokens"] == 20
    assert record["budget"]["tokens"] == 4000  # the default budget, tightened


def test_a_verifier_by_value_serves_best_of_n(client: openai.OpenAI) -> None:
    reply = client.chat.completions.create(
        model="ponder-best-of-n", messages=QUESTION,
        extra_body={"ponder": {"verifier": {"expected": "42"}}},
    )  # fmt: skip
    extra = ponder_of(reply)
    assert extra["stop_reason"] == "verified" and extra["answer"] == "42"


@pytest.mark.parametrize("stream", [False, True])
def test_a_client_that_goes_away_cancels_its_run_which_can_be_resumed(
    run_db: str, stream: bool
) -> None:
    # split votes: the run needs several steps, and is cut off after its first
    slow = ScriptedChatModel(replies=["The answer is 42.", "The answer is 41."], delay=0.5)
    with BackgroundServer(model=slow, db=run_db) as server:
        body = {"model": "ponder-self-consistency", "messages": QUESTION, "stream": stream}
        url = f"{server.url}/chat/completions"
        if stream:  # read the first chunks (a candidate came), then hang up
            with httpx.stream("POST", url, json=body, timeout=30) as response:
                assert response.status_code == 200
                lines = response.iter_lines()
                assert '"event":"run"' in next(lines)
        else:
            with pytest.raises(httpx.ReadTimeout):
                httpx.post(url, json=body, timeout=0.5)
        for _ in range(100):  # the server notices the disconnect, cancels, lets go
            [record] = runs.list_runs(db=run_db)
            if record["status"] == "interrupted":
                break
            time.sleep(0.1)
        assert record["status"] == "interrupted"
        calls_when_cancelled = len(slow.calls)
        with openai.OpenAI(base_url=server.url, api_key="x", max_retries=0) as client:
            reply = client.chat.completions.create(
                model="ponder-self-consistency", messages=QUESTION,
                extra_body={"ponder": {"run_id": record["run_id"]}},
            )  # fmt: skip
    extra = ponder_of(reply)
    assert extra["status"] == "done" and extra["continued"]
    assert len(slow.calls) > calls_when_cancelled
    # only the calls in flight at the hang-up (one step: at most 3) are made again
    assert 0 <= len(slow.calls) - len(extra["candidates"]) <= 3


def test_a_non_loopback_host_is_warned_about(
    scripted: ScriptedChatModel, run_db: str, caplog
) -> None:
    with caplog.at_level("WARNING", logger="ponder.serve.server"):
        server = BackgroundServer(model=scripted, db=run_db, host="0.0.0.0")
        server.stop()
    assert "not a loopback address" in caplog.text
    assert "no API key" in caplog.text


def test_the_command_refuses_a_missing_key_variable(capsys, monkeypatch) -> None:
    monkeypatch.delenv("PONDER_TEST_KEY", raising=False)
    assert main(["serve", "--api-key-env", "PONDER_TEST_KEY"]) == 2
    assert "PONDER_TEST_KEY" in capsys.readouterr().err


def test_the_command_says_which_extra_is_missing(capsys, monkeypatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "ponder.serve", None)  # as if starlette were missing
    assert main(["serve"]) == 2
    assert "pip install 'ponder[serve]'" in capsys.readouterr().err


def test_a_run_waiting_for_approval_is_continued_with_the_answer(run_db: str) -> None:
    split = ScriptedChatModel(replies=["The answer is 1.", "The answer is 2.", "The answer is 3."])
    with BackgroundServer(model=split, db=run_db) as server:
        with openai.OpenAI(base_url=server.url, api_key="x", max_retries=0) as client:
            waiting = client.chat.completions.create(
                model="ponder-adaptive", messages=QUESTION,
                extra_body={"ponder": {"options": {"confirm_before": ["refine", "search"]}}},
            )  # fmt: skip
            first = ponder_of(waiting)
            assert (first["status"], first["stop_reason"]) == ("paused", "approval")
            assert waiting.choices[0].finish_reason == "stop"
            with pytest.raises(openai.BadRequestError, match="approve"):
                client.chat.completions.create(
                    model="ponder-adaptive", messages=QUESTION,
                    extra_body={"ponder": {"run_id": first["run_id"]}},
                )  # fmt: skip
            declined = client.chat.completions.create(
                model="ponder-adaptive", messages=QUESTION,
                extra_body={"ponder": {"run_id": first["run_id"], "approve": False}},
            )  # fmt: skip
    assert ponder_of(declined)["status"] == "done"
    assert declined.usage is not None and declined.usage.total_tokens == 0  # nothing more spent
