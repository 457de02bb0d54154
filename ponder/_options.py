"""What ponder's commands share: ``key=value`` options, ``--json``, and database checks.

- `parse_option` reads a strategy option (``-O n=8``, ``--option n=8``);
- `add_json_flag` and `print_json`: every command that prints data takes ``--json``;
- `existing_db` refuses a SQLite file that is not there, for the commands that only read or
  change what is stored (``ponder runs``, ``resume``, ``show``, ...), so that a mistyped
  ``--db`` is an error rather than a new, empty database; `readable_db` also opens a file
  this process may not write read-only, so that it can still be listed.
"""

from __future__ import annotations

import argparse
import json
import os
import urllib.parse
from pathlib import Path
from typing import Any

from ponder.errors import ConfigurationError
from ponder.persistence.savers import is_saver_url, sqlite_path
from ponder.persistence.url import parse_db_url

__all__ = ("add_json_flag", "existing_db", "parse_option", "print_json", "readable_db")


def parse_option(text: str) -> tuple[str, Any]:
    """Parse ``key=value`` into ``(key, value)``.

    Numbers become int or float; dashes in the key become underscores.

    Example:
        >>> parse_option("max-samples=8")
        ('max_samples', 8)
    """
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"options look like key=value, got {text!r}")
    value: Any = raw
    for cast in (int, float):
        try:
            value = cast(raw)
            break
        except ValueError:
            continue
    return key.replace("-", "_"), value


def add_json_flag(command: argparse.ArgumentParser, what: str = "the result") -> None:
    """Give ``command`` the ``--json`` flag (errors then come as JSON too, on stderr)."""
    command.add_argument("--json", action="store_true", help=f"print {what} as JSON")


def print_json(data: Any) -> None:
    """Print ``data`` as indented JSON on stdout."""
    print(json.dumps(data, indent=2))


def _sqlite_file(db: str) -> Path | None:
    """The file a SQLite URL names; ``None`` for PostgreSQL or a ``file:`` URI.

    A ``langgraph+sqlite:///path`` URL (LangGraph's own SQLite saver) names ``path``.
    """
    if is_saver_url(db):
        path = sqlite_path(db)
        return Path(path) if path else None  # no file named: the saver says so
    url, _ = parse_db_url(db)
    if url.get_backend_name() != "sqlite" or url.query.get("uri"):
        return None
    return Path(str(url.database))


def existing_db(db: str) -> str:
    """Return ``db`` when it names a database that exists (always, for PostgreSQL).

    Raises:
        ConfigurationError: ``db`` is not a database URL, or names a SQLite file that does
            not exist (nothing is created).

    Example:
        >>> existing_db("sqlite:///no/such/dir/runs.db")
        Traceback (most recent call last):
        ...
        ponder.errors.ConfigurationError: no database at no/such/dir/runs.db: check --db (`ponder solve` creates one)
    """  # noqa: E501
    path = _sqlite_file(db)
    if path is not None and not path.is_file():
        raise ConfigurationError(f"no database at {path}: check --db (`ponder solve` creates one)")
    return db


def readable_db(db: str) -> str:
    """Return the URL to read ``db`` by: ``db`` itself, or a read-only one.

    A SQLite file this process may not write (or that sits in a folder it may not write,
    where SQLite could not make its ``-wal`` and ``-shm`` files) is opened read-only and
    immutable: SQLite then reads the file as it is, whatever its journal mode, and writes
    nothing beside it. A listing made while another process writes it may miss that write.

    Raises:
        ConfigurationError: As `existing_db`.
    """
    path = _sqlite_file(existing_db(db))
    if path is None or _writable(path) or is_saver_url(db):
        return db
    url, _ = parse_db_url(db)
    uri = "file:" + urllib.parse.quote(str(path.resolve()))
    query = {"mode": "ro", "immutable": "1", "uri": "true"}
    return url.set(database=uri, query=query).render_as_string(hide_password=False)


def _writable(path: Path) -> bool:
    folder = path.parent if str(path.parent) else Path(".")
    return os.access(path, os.W_OK) and os.access(folder, os.W_OK | os.X_OK)
