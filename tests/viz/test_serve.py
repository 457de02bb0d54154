"""``ponder show --serve``: loopback only, the page, the polled JSON and its tags."""

from __future__ import annotations

import asyncio
import http.client
import json
from typing import Any

import pytest

import ponder
from ponder.errors import ConfigurationError
from ponder.testing import ScriptedChatModel
from ponder.viz import ViewerServer


def fetch(
    port: int, path: str, *, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


async def get(port: int, path: str, **kwargs: Any) -> tuple[int, dict[str, str], bytes]:
    return await asyncio.to_thread(fetch, port, path, **kwargs)


@pytest.fixture
async def run_db(db: str) -> str:
    model = ScriptedChatModel(replies=["The answer is 4.", "It is 5."])
    await ponder.asolve(
        "2 + 2?", model=model, db=db, run_id="r", budget=ponder.Budget(calls=2),
        max_samples=4, agreement=1.0,
    )  # fmt: skip
    return db


async def test_page_and_json_with_tags(run_db: str) -> None:
    async with ViewerServer("r", db=run_db, port=0) as server:
        assert server.url == f"http://127.0.0.1:{server.port}/" and server.port > 0
        status, headers, body = await get(server.port, "/")
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        assert b'"poll": "run.json"' in body and headers["Cache-Control"] == "no-store"
        status, headers, body = await get(server.port, "/run.json")
        assert status == 200 and headers["Content-Type"] == "application/json"
        view = json.loads(body)
        assert view["run"]["run_id"] == "r" and len(view["nodes"]) == 3
        tag = headers["ETag"]
        status, _, body = await get(server.port, "/run.json", headers={"If-None-Match": tag})
        assert (status, body) == (304, b"")
        # The run goes on: a new tag and a larger tree.
        await ponder.runs.aresume(
            "r", db=run_db, add_calls=2, model=ScriptedChatModel(replies=["4"])
        )
        status, headers, body = await get(server.port, "/run.json", headers={"If-None-Match": tag})
        assert status == 200 and headers["ETag"] != tag
        assert len(json.loads(body)["nodes"]) == 5
        status, headers, body = await get(server.port, "/", method="HEAD")
        assert status == 200 and body == b"" and int(headers["Content-Length"]) > 1000


async def test_refuses_what_it_should(run_db: str) -> None:
    async with ViewerServer("r", db=run_db, port=0) as server:
        assert (await get(server.port, "/nothing"))[0] == 404
        assert (await get(server.port, "/", method="POST"))[0] == 405
        # A page elsewhere reaching it through DNS rebinding sends its own host name.
        status, _, _ = await get(server.port, "/run.json", headers={"Host": "evil.example"})
        assert status == 403
        ok = await get(server.port, "/run.json", headers={"Host": f"localhost:{server.port}"})
        assert ok[0] == 200


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
async def test_binds_loopback_only(run_db: str, host: str) -> None:
    with pytest.raises(ConfigurationError, match="loopback"):
        ViewerServer("r", db=run_db, host=host)


async def test_unknown_run_and_bad_port(run_db: str) -> None:
    with pytest.raises(ConfigurationError, match="no run 'nope'"):
        async with ViewerServer("nope", db=run_db, port=0):
            pass
    with pytest.raises(ConfigurationError, match="port"):
        ViewerServer("r", db=run_db, port=70000)


async def test_a_failing_store_answers_500_and_an_idle_client_400(
    run_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with ViewerServer("r", db=run_db, port=0) as server:

        async def broken() -> tuple[str, bytes]:
            raise RuntimeError("database disk image is malformed")

        monkeypatch.setattr(server, "view_json", broken)
        status, _, body = await get(server.port, "/run.json")
        assert status == 500 and b"malformed" in body
        # A client that connects and sends half a request is answered, not left hanging.
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET / HTTP/1.1\r\n")
        writer.write_eof()
        answer = await asyncio.wait_for(reader.read(), timeout=10)
        writer.close()
        assert answer.startswith(b"HTTP/1.1 400")
