from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from ponder.models import EmbeddedChatModel


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
