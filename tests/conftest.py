from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ponder.models import EmbeddedChatModel
from tests.persistence.conftest import drop_schemas


@pytest.fixture(autouse=True)
def _no_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Tests never reach the network: only loopback connections are allowed."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and not (
            host.startswith("127.") or host in ("localhost", "::1") or host.startswith("/")
        ):
            raise RuntimeError(f"tests may not reach the network ({host})")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    yield


@pytest.fixture(scope="session")
def smollm2() -> EmbeddedChatModel:
    """The real embedded default model (loaded once per test session)."""
    return EmbeddedChatModel.from_name("smollm2")


@pytest.fixture(params=["sqlite", "postgres"])
def db(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A run database, once on SQLite and once on the real PostgreSQL server (a fresh
    schema, dropped afterwards); modules with a ``db`` fixture of their own use theirs."""
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'runs.db'}"
        return
    schema = f"ponder_test_{uuid.uuid4().hex[:16]}"
    try:
        yield f"postgresql+asyncpg://postgres@127.0.0.1:5432/test?schema={schema}"
    finally:
        drop_schemas([schema])
