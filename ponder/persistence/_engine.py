"""Engine creation for `SqlCheckpointer`: URL checks, drivers, SQLite connection settings.

SQLite needs three things from every connection, set in engine events:

- a busy timeout, so that a writer waits for another instead of failing with
  "database is locked";
- WAL journal mode, so that readers never block the writer (set only once the store is known
  to be ponder's: switching a foreign database to WAL would rewrite its header);
- SQLAlchemy, not the ``sqlite3`` module, emitting ``BEGIN``: the module's legacy mode skips it
  for reads and DDL. Writes begin with ``BEGIN IMMEDIATE``, taking the write lock up front: a
  deferred transaction that reads and then writes can fail with "database is locked" at once,
  whatever the busy timeout, when another connection wrote in between.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ponder.errors import ConfigurationError

__all__ = ("BEGIN_OPTION", "async_url", "create_engine", "describe")

DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
"""The async driver ponder uses for each supported backend."""

BEGIN_OPTION = "ponder_sqlite_begin"
"""Execution option naming the statement that opens a SQLite transaction (``None``: none)."""

# Constant statements: PRAGMA takes no bound parameters, and these carry no values from outside.
_BUSY_TIMEOUT = "PRAGMA busy_timeout = 30000"
_WAL = "PRAGMA journal_mode = WAL"
_BEGIN_STATEMENTS = frozenset({"BEGIN", "BEGIN IMMEDIATE"})


def async_url(url: str | URL) -> URL:
    """Parse ``url`` and pick ponder's async driver for it.

    ``sqlite:///run.db`` becomes ``sqlite+aiosqlite:///run.db`` and ``postgresql://...``
    becomes ``postgresql+asyncpg://...``; URLs naming those drivers are kept as they are.

    Raises:
        ConfigurationError: The URL is malformed, names another backend or driver, or an
            in-memory SQLite database (use LangGraph's ``InMemorySaver`` for that).
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as exc:
        raise ConfigurationError(f"not a database URL: {url!r} ({exc})") from exc
    backend, _, driver = parsed.drivername.partition("+")
    expected = DRIVERS.get(backend)
    if expected is None:
        raise ConfigurationError(
            f"SqlCheckpointer supports SQLite and PostgreSQL, not {backend!r}; use a URL such "
            "as 'sqlite+aiosqlite:///run.db' or 'postgresql+asyncpg://user@host/db'"
        )
    if driver and driver != expected:
        raise ConfigurationError(
            f"SqlCheckpointer needs the async driver {expected} for {backend}, not {driver}; "
            f"use '{backend}+{expected}://...'"
        )
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigurationError(
            "SqlCheckpointer needs a SQLite file (sqlite+aiosqlite:///path/run.db); for a "
            "throwaway in-memory store use langgraph.checkpoint.memory.InMemorySaver"
        )
    return parsed.set(drivername=f"{backend}+{expected}")


def describe(url: URL, schema: str | None) -> str:
    """Name the store in messages, without its password."""
    where = f"the checkpoint store {url.render_as_string(hide_password=True)}"
    return f"{where} (schema {schema!r})" if schema else where


def create_engine(
    url: URL,
    *,
    schema: str | None,
    options: Mapping[str, Any] | None,
    wal_allowed: Callable[[], bool],
) -> AsyncEngine:
    """Create the async engine for ``url`` (no connection is opened yet).

    Args:
        url: A URL from `async_url`.
        schema: The PostgreSQL schema holding the tables, or ``None``.
        options: Extra keyword arguments for `create_async_engine` (pool size, echo, ...).
        wal_allowed: Whether new SQLite connections may switch the file to WAL, i.e. whether
            the store has been checked to be ponder's.

    Raises:
        ConfigurationError: ``schema`` was given for SQLite, or ``options`` are invalid.
    """
    backend = url.get_backend_name()
    if schema is not None and backend != "postgresql":
        raise ConfigurationError("schema= is for PostgreSQL; a SQLite store is one file")
    if schema is not None and not schema:
        raise ConfigurationError("schema= must be a non-empty schema name, or None")
    try:
        engine = create_async_engine(url, **dict(options or {}))
    except (ArgumentError, TypeError) as exc:
        raise ConfigurationError(f"invalid engine options {dict(options or {})}: {exc}") from exc
    if backend == "sqlite":
        _install_sqlite_events(engine, wal_allowed)
    if schema is not None:
        engine = engine.execution_options(schema_translate_map={None: schema})
    return engine


def _install_sqlite_events(engine: AsyncEngine, wal_allowed: Callable[[], bool]) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # SQLAlchemy emits BEGIN, see _on_begin
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(_BUSY_TIMEOUT)
            if wal_allowed():
                # Setup switched the file to WAL, which persists; this re-asserts it, and when
                # another writer holds the file the mode simply stays what setup made it.
                with contextlib.suppress(sqlite3.OperationalError):
                    cursor.execute(_WAL)
        finally:
            cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        statement = connection.get_execution_options().get(BEGIN_OPTION, "BEGIN")
        if statement is not None:
            if statement not in _BEGIN_STATEMENTS:  # pragma: no cover - internal option
                raise ConfigurationError(f"unknown SQLite begin statement {statement!r}")
            connection.exec_driver_sql(statement)
