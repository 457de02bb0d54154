"""LangGraph's own savers as run stores: named by URL, and the sync ones made usable.

ponder keeps runs in any LangGraph `BaseCheckpointSaver` (see `ponder.stores`). This module
holds what that needs on the saver side:

- `SAVER_SCHEMES`: the URL schemes that name one of LangGraph's official savers, for the
  command line (``--db``) and anywhere a database URL is taken:

  - ``langgraph+sqlite:///path/run.db`` opens ``AsyncSqliteSaver`` (package
    ``langgraph-checkpoint-sqlite``) on that file;
  - ``langgraph+postgres://user@host:5432/db`` (or ``langgraph+postgresql://``) opens
    ``AsyncPostgresSaver`` (package ``langgraph-checkpoint-postgres``) and runs its
    ``setup()``.

  `open_saver` opens one; `is_saver_url` tells such a URL from one of ponder's own
  `SqlCheckpointer` (``sqlite+aiosqlite://``, ``postgresql+asyncpg://``).
- `async_saver`: a saver given as an object is used as it is when it has async methods;
  one that has only sync methods (``SqliteSaver``, ``PostgresSaver``) is wrapped in
  `SyncSaver`, which calls them in the event loop's thread (they are quick, local calls;
  a ``sqlite3`` connection may only be used in the thread that made it).

Example:
    >>> is_saver_url("langgraph+sqlite:///runs.db"), is_saver_url("sqlite:///runs.db")
    (True, False)
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
)

from ponder.errors import ConfigurationError

__all__ = ("SAVER_SCHEMES", "SyncSaver", "async_saver", "is_saver_url", "open_saver")

SAVER_SCHEMES = {
    "langgraph+sqlite": "langgraph-checkpoint-sqlite",
    "langgraph+postgres": "langgraph-checkpoint-postgres",
    "langgraph+postgresql": "langgraph-checkpoint-postgres",
}
"""The URL schemes naming an official LangGraph saver, and the package each needs."""


def _scheme(url: str) -> str:
    return url.partition("://")[0].lower() if "://" in url else ""


def is_saver_url(url: object) -> bool:
    """Whether ``url`` names one of LangGraph's official savers (see `SAVER_SCHEMES`)."""
    return isinstance(url, str) and _scheme(url) in SAVER_SCHEMES


def sqlite_path(url: str) -> str | None:
    """The file a ``langgraph+sqlite:///path`` URL names (``None`` for another URL).

    Example:
        >>> sqlite_path("langgraph+sqlite:///runs/ponder.db")
        'runs/ponder.db'
    """
    if _scheme(url) != "langgraph+sqlite":
        return None
    return url.partition("://")[2].removeprefix("/")


def _module(name: str, package: str) -> Any:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigurationError(
            f"this URL needs LangGraph's saver from {package}: pip install {package} "
            f"(or ponder[savers]) ({exc})"
        ) from exc


@contextlib.asynccontextmanager
async def open_saver(url: str) -> AsyncIterator[BaseCheckpointSaver[Any]]:
    """Open the official LangGraph saver ``url`` names (see `SAVER_SCHEMES`); closed after.

    Raises:
        ConfigurationError: Not such a URL, no file or database in it, or the saver's
            package is not installed.
    """
    scheme = _scheme(url)
    package = SAVER_SCHEMES.get(scheme)
    if package is None:
        raise ConfigurationError(
            f"not a LangGraph saver URL: {url!r}; use langgraph+sqlite:///path.db or "
            "langgraph+postgres://user@host/db"
        )
    rest = url.partition("://")[2]
    if scheme == "langgraph+sqlite":
        path = rest.removeprefix("/")
        if not path:
            raise ConfigurationError(f"{url!r} names no file: langgraph+sqlite:///path/run.db")
        aio = _module("langgraph.checkpoint.sqlite.aio", package)
        async with aio.AsyncSqliteSaver.from_conn_string(path) as sqlite_saver:
            await sqlite_saver.setup()
            yield sqlite_saver
        return
    if not rest.strip("/"):
        raise ConfigurationError(f"{url!r} names no database: langgraph+postgres://user@host/db")
    aio = _module("langgraph.checkpoint.postgres.aio", package)
    try:
        opened = aio.AsyncPostgresSaver.from_conn_string(f"postgresql://{rest}")
        pg_saver = await opened.__aenter__()
    except Exception as exc:  # psycopg's errors: an unreachable or refused database
        raise ConfigurationError(f"cannot open {url!r}: {type(exc).__name__}: {exc}") from exc
    try:
        await pg_saver.setup()
        yield pg_saver
    finally:
        await opened.__aexit__(None, None, None)


def _sync_only(saver: BaseCheckpointSaver[Any]) -> bool:
    """Whether ``saver`` lacks async methods (LangGraph's sync savers refuse them)."""
    if type(saver).aget_tuple is BaseCheckpointSaver.aget_tuple:
        return True
    try:
        sqlite = importlib.import_module("langgraph.checkpoint.sqlite")
    except ImportError:
        return False
    return isinstance(saver, sqlite.SqliteSaver)


def async_saver(saver: BaseCheckpointSaver[Any]) -> BaseCheckpointSaver[Any]:
    """``saver`` itself when it has async methods, else ``saver`` wrapped in `SyncSaver`.

    Raises:
        ConfigurationError: ``saver`` is not a LangGraph checkpoint saver.
    """
    if not isinstance(saver, BaseCheckpointSaver):
        raise ConfigurationError(
            "db must be a database URL or a LangGraph checkpoint saver (InMemorySaver, "
            f"AsyncSqliteSaver, AsyncPostgresSaver, ...), not {type(saver).__name__}"
        )
    return SyncSaver(saver) if _sync_only(saver) else saver


class SyncSaver(BaseCheckpointSaver[Any]):
    """A sync-only LangGraph saver (``SqliteSaver``, ``PostgresSaver``) with async methods.

    Each async method calls the sync one in the event loop's thread, so a ``sqlite3``
    connection made in that thread stays usable, and a run started with ``ponder.solve``
    (which runs its loop in the caller's thread) can use the caller's saver.

    Example:
        >>> from langgraph.checkpoint.memory import InMemorySaver
        >>> SyncSaver(InMemorySaver()).saver.__class__.__name__
        'InMemorySaver'
    """

    def __init__(self, saver: BaseCheckpointSaver[Any]) -> None:
        """Wrap ``saver``."""
        super().__init__(serde=saver.serde)
        self.saver = saver
        """The wrapped saver."""

    def get_next_version(self, current: Any, channel: None) -> Any:
        """The wrapped saver's next channel version."""
        return self.saver.get_next_version(current, channel)

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The wrapped saver's `get_tuple`."""
        return self.saver.get_tuple(config)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """The wrapped saver's `list`."""
        return self.saver.list(config, filter=filter, before=before, limit=limit)

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """The wrapped saver's `put`."""
        return self.saver.put(config, checkpoint, metadata, new_versions)

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """The wrapped saver's `put_writes`."""
        self.saver.put_writes(config, writes, task_id, task_path)

    def delete_thread(self, thread_id: str) -> None:
        """The wrapped saver's `delete_thread`."""
        self.saver.delete_thread(thread_id)

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """`get_tuple`, called in the loop's thread."""
        return self.saver.get_tuple(config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        """`list`, called in the loop's thread."""
        for item in self.saver.list(config, filter=filter, before=before, limit=limit):
            yield item

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """`put`, called in the loop's thread."""
        return self.saver.put(config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """`put_writes`, called in the loop's thread."""
        self.saver.put_writes(config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        """`delete_thread`, called in the loop's thread."""
        self.saver.delete_thread(thread_id)
