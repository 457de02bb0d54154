"""Database URLs: the one parser every ponder store goes through.

A ponder database URL is a SQLAlchemy URL for SQLite or PostgreSQL, optionally with a
``?schema=NAME`` query naming the PostgreSQL schema that holds ponder's tables. The run
store (`ponder.runs.open_store`), `SqlCheckpointer` and the bench store all read it with
`parse_db_url`, so each accepts the same URLs and refuses the same ones, with the same
message.

Example:
    >>> url, schema = parse_db_url("postgresql://postgres@127.0.0.1/test?schema=ponder")
    >>> url.render_as_string(), schema
    ('postgresql+asyncpg://postgres@127.0.0.1/test', 'ponder')
    >>> parse_db_url("sqlite:///ponder.db")[0].drivername
    'sqlite+aiosqlite'
    >>> conn_string_url("runs/ponder.db").render_as_string()
    'sqlite+aiosqlite:///runs/ponder.db'
"""

from __future__ import annotations

import os
import re

from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from ponder.errors import ConfigurationError

__all__ = ("DRIVERS", "MEMORY", "conn_string_url", "parse_db_url")

DRIVERS = {"sqlite": "aiosqlite", "postgresql": "asyncpg"}
"""The async driver ponder uses for each supported backend."""

MEMORY = ":memory:"
"""The connection string of a throwaway store (`SqlCheckpointer.from_conn_string`)."""

# libpq's "host=... dbname=..." form, which psycopg (the official PostgreSQL saver) accepts.
_KEYWORDS = re.compile(r"^\s*[A-Za-z_]+\s*=")
_EXAMPLES = "'sqlite+aiosqlite:///ponder.db' or 'postgresql+asyncpg://user@host/db?schema=ponder'"


def parse_db_url(db: str | URL) -> tuple[URL, str | None]:
    """Parse a database URL: return the URL to connect to and the schema it names.

    ``sqlite:///run.db`` becomes ``sqlite+aiosqlite:///run.db`` and ``postgresql://...``
    becomes ``postgresql+asyncpg://...``; URLs naming those drivers are kept as they are. A
    ``?schema=NAME`` query is taken out of the URL and returned beside it (``None`` when
    there is none).

    Raises:
        ConfigurationError: The URL is malformed, names another backend or driver, an
            in-memory SQLite database (use LangGraph's ``InMemorySaver`` for that), several
            schemas or an empty one.
    """
    try:
        parsed = make_url(db)
    except (ArgumentError, ValueError, TypeError) as exc:
        raise ConfigurationError(
            f"not a database URL: {db!r} ({exc}); use a URL such as {_EXAMPLES}"
        ) from exc
    backend, _, driver = parsed.drivername.partition("+")
    expected = DRIVERS.get(backend)
    if expected is None:
        raise ConfigurationError(
            f"ponder supports SQLite and PostgreSQL, not {backend!r}; use a URL such as {_EXAMPLES}"
        )
    if driver and driver != expected:
        raise ConfigurationError(
            f"ponder needs the async driver {expected} for {backend}, not {driver}; "
            f"use '{backend}+{expected}://...'"
        )
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ConfigurationError(
            "ponder needs a SQLite file (sqlite+aiosqlite:///path/run.db); for a throwaway "
            "store use SqlCheckpointer.from_conn_string(':memory:') (a temporary file) or "
            "langgraph.checkpoint.memory.InMemorySaver"
        )
    schema = parsed.query.get("schema")
    if isinstance(schema, tuple):
        raise ConfigurationError(
            f"the database URL names several schemas ({', '.join(schema)}): give one"
        )
    if schema is not None and not schema:
        raise ConfigurationError("the database URL's ?schema= is empty: name a schema")
    parsed = parsed.set(drivername=f"{backend}+{expected}")
    return parsed.difference_update_query(["schema"]), schema


def conn_string_url(conn_string: str | os.PathLike[str] | URL) -> str | URL:
    """Read a connection string as LangGraph's savers take it: a URL, or a SQLite file path.

    A string with ``://`` (or a `URL`) is a database URL, returned as it is for
    `parse_db_url`; anything else is the path of a SQLite file (relative to the working
    directory, or absolute), returned as a ``sqlite+aiosqlite`` URL. `MEMORY` is not read
    here: `SqlCheckpointer.from_conn_string` turns it into a temporary file.

    Raises:
        ConfigurationError: The string is empty, or libpq's ``key=value`` form.
    """
    if isinstance(conn_string, URL):
        return conn_string
    text = os.fspath(conn_string)
    if not isinstance(text, str):
        raise ConfigurationError(f"a connection string must be text, not {type(text).__name__}")
    if "://" in text:
        return text
    if not text.strip():
        raise ConfigurationError(f"an empty connection string; use a file path or {_EXAMPLES}")
    if _KEYWORDS.match(text):
        raise ConfigurationError(
            f"libpq key=value connection strings are not supported ({text.split('=')[0]}=...); "
            "use a URL such as 'postgresql://user@host:5432/db'"
        )
    return URL.create("sqlite+aiosqlite", database=text)
