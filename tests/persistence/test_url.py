"""Database URLs: one parser, the same answers and the same refusals in every store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ponder.errors import ConfigurationError
from ponder.eval.store import BenchStore
from ponder.persistence import SqlCheckpointer, parse_db_url
from ponder.runs import open_store


@pytest.mark.parametrize(
    ("db", "url", "schema"),
    [
        ("sqlite:///ponder.db", "sqlite+aiosqlite:///ponder.db", None),
        ("sqlite+aiosqlite:////tmp/x.db", "sqlite+aiosqlite:////tmp/x.db", None),
        ("postgresql://u@h/db", "postgresql+asyncpg://u@h/db", None),
        ("postgresql+asyncpg://u@h:5432/db?schema=s1", "postgresql+asyncpg://u@h:5432/db", "s1"),
        (
            "postgresql://u@h/db?schema=s1&ssl=require",
            "postgresql+asyncpg://u@h/db?ssl=require",
            "s1",
        ),
    ],
)
def test_urls_are_parsed_with_their_schema(db: str, url: str, schema: str | None) -> None:
    parsed, named = parse_db_url(db)
    assert (parsed.render_as_string(hide_password=False), named) == (url, schema)


BAD_URLS = [
    ("not a url", "not a database URL"),
    ("postgresql://u@h:port/db", "not a database URL"),
    ("mysql+aiomysql://u@h/db", "supports SQLite and PostgreSQL"),
    ("postgresql+psycopg://u@h/db", "async driver asyncpg"),
    ("sqlite+aiosqlite://", "InMemorySaver"),
    ("postgresql://u@h/db?schema=a&schema=b", "several schemas"),
]

OPENERS: dict[str, Callable[[str], Any]] = {
    "parse_db_url": parse_db_url,
    "SqlCheckpointer": SqlCheckpointer.from_url,
    "open_store": open_store,
    "BenchStore": BenchStore.from_url,
}


@pytest.mark.parametrize("opener", OPENERS.values(), ids=list(OPENERS))
@pytest.mark.parametrize(("db", "message"), BAD_URLS, ids=[db for db, _ in BAD_URLS])
def test_every_store_refuses_bad_urls_with_a_configuration_error(
    opener: Callable[[str], Any], db: str, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        opener(db)


def test_the_schema_is_given_once(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
    with pytest.raises(ConfigurationError, match="give one"):
        SqlCheckpointer.from_url(f"{url}?schema=a", schema="b")
    saver = SqlCheckpointer.from_url(f"{url}?schema=a", schema="a")
    assert repr(saver) == f"SqlCheckpointer({url!r}, schema='a')"
    saver.close()
    with pytest.raises(ConfigurationError, match="schema= is for PostgreSQL"):
        SqlCheckpointer.from_url(f"sqlite:///{tmp_path}/x.db?schema=a")
