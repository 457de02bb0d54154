"""Engine creation for `SqlCheckpointer`: the engine and SQLite connection settings.

URLs are parsed, and drivers picked, by `ponder.persistence.url.parse_db_url`.

SQLite needs four things from every connection, set in engine events:

- a busy timeout, so that a writer waits for another instead of failing with
  "database is locked";
- WAL journal mode, so that readers never block the writer (set only once the store is known
  to be ponder's: switching a foreign database to WAL would rewrite its header);
- ponder, not the ``sqlite3`` module, deciding how a transaction begins (`BEGIN_OPTION`): the
  module's legacy mode begins one only before ``INSERT``/``UPDATE``/``DELETE``, never before a
  read or DDL. Reads begin with ``BEGIN`` (one snapshot for all their queries). Writes take the
  write lock up front with ``BEGIN IMMEDIATE``: a deferred transaction that reads and then
  writes can fail with "database is locked" at once, whatever the busy timeout, when another
  connection wrote in between. A write whose first statement is an ``INSERT`` or ``DELETE``
  lets the module send that same ``BEGIN IMMEDIATE`` itself, in the call that runs the
  statement (`BEGIN_OPTION` ``None``), which saves a round trip to aiosqlite's thread;
- a cancelled call (``asyncio`` cancellation) leaving its connection in use, rolled back, not
  closed: see ``_on_error``.

Each round trip to aiosqlite's thread costs a thread switch each way, so ``BEGIN`` is sent
straight to the driver: one trip, where a SQLAlchemy cursor takes three (open, execute, close).
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Mapping
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, AdaptedConnection, ExceptionContext
from sqlalchemy.exc import ArgumentError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from ponder.errors import ConfigurationError

__all__ = ("BEGIN_OPTION", "create_engine", "describe")

BEGIN_OPTION = "ponder_sqlite_begin"
"""Execution option naming the statement that opens a SQLite transaction: ``"BEGIN"`` (the
default) or ``"BEGIN IMMEDIATE"``; or ``None``: ponder sends none, and the ``sqlite3`` module
sends ``BEGIN IMMEDIATE`` itself just before the first ``INSERT``/``UPDATE``/``DELETE``, in the
same call. ``None`` suits statements that need no transaction (``PRAGMA``) and writes whose
first statement changes data; never a transaction that reads first (its reads would run
outside it)."""

# Constant statements: PRAGMA takes no bound parameters, and these carry no values from outside.
_BUSY_TIMEOUT = "PRAGMA busy_timeout = 30000"
_WAL = "PRAGMA journal_mode = WAL"
_BEGIN_STATEMENTS = frozenset({"BEGIN", "BEGIN IMMEDIATE"})
# The sqlite3 module's legacy transaction control sends "BEGIN IMMEDIATE" before a statement
# that changes data when no transaction is open; the explicit BEGINs are sent by _on_begin.
_IMPLICIT_ISOLATION = "IMMEDIATE"


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
        url: A URL from `ponder.persistence.url.parse_db_url`.
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
        dbapi_connection.isolation_level = _IMPLICIT_ISOLATION  # for BEGIN_OPTION None
        cast(AdaptedConnection, dbapi_connection).run_async(
            lambda driver: _configure(driver, wal=wal_allowed())
        )

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        statement = connection.get_execution_options().get(BEGIN_OPTION, "BEGIN")
        if statement is None:
            return
        if statement not in _BEGIN_STATEMENTS:  # pragma: no cover - internal option
            raise ConfigurationError(f"unknown SQLite begin statement {statement!r}")
        # Straight to aiosqlite: one trip to its thread, where a SQLAlchemy cursor takes three
        # (open, execute, close). A constant statement, with no values.
        adapted = cast(AdaptedConnection, connection.connection.dbapi_connection)
        try:
            adapted.run_async(lambda driver: driver.execute_fetchall(statement))
        except (sqlite3.Error, ValueError) as exc:  # ValueError: aiosqlite's closed connection
            error = exc if isinstance(exc, sqlite3.Error) else sqlite3.OperationalError(str(exc))
            raise sa.exc.DBAPIError.instance(statement, None, error, sqlite3.Error) from exc

    @event.listens_for(engine.sync_engine, "handle_error")
    def _on_error(context: ExceptionContext) -> None:
        # SQLAlchemy drops a connection whose call was cancelled, as the protocol state of a
        # network driver is then unknown. An aiosqlite connection is sound: the statement runs
        # to its end in aiosqlite's thread and what follows queues behind it, so the rollback
        # that comes next ends the transaction. Dropped instead, it would be closed with its
        # statements still referenced by the cancelled call's frames, and SQLite keeps such
        # a connection, with its transaction and its locks, until they are garbage collected:
        # meanwhile every writer waits, then fails with "database is locked".
        if isinstance(context.original_exception, asyncio.CancelledError):
            context.is_disconnect = False


async def _configure(driver: Any, *, wal: bool) -> None:
    """Set up a new connection; each statement runs whole in one trip to aiosqlite's thread."""
    await driver.execute_fetchall(_BUSY_TIMEOUT)
    if wal:
        # Setup switched the file to WAL, which persists; this re-asserts it, and when another
        # writer holds the file the mode simply stays what setup made it.
        with contextlib.suppress(sqlite3.OperationalError):
            await driver.execute_fetchall(_WAL)
