"""The SQL schema of `SqlCheckpointer`: its tables, its version, and its migrations.

Six tables, all prefixed ``ponder_``:

- ``ponder_schema_version``: one row per applied migration; the highest is the schema
  version of the store.
- ``ponder_checkpoints``: one row per checkpoint, keyed by ``(thread_id, checkpoint_ns,
  checkpoint_id)``; the serialized checkpoint *without* its channel values, the serialized
  metadata, the parent checkpoint id and the run id (copied out of the metadata so that
  `SqlCheckpointer.adelete_for_runs` can use an index). Its only other index is that one
  (schema version 3 dropped two listing indexes, see `MIGRATIONS`).
- ``ponder_checkpoint_blobs``: channel values, stored once per ``(thread_id, checkpoint_ns,
  version, channel)``. A checkpoint names the version of each of its channels, so a long run
  writes a channel again only when its version changes.
- ``ponder_checkpoint_writes``: the pending writes of each checkpoint, keyed by task and index.
- ``ponder_runs``: the run registry: one row per ponder run (its thread), with the strategy,
  its options, the problem, the status and what it spent (schema version 2), and the
  settings its context was built with (schema version 4).
- ``ponder_run_leases``: which process owns each run that is being worked on (schema version
  5): one row per leased run, with the owner's id, host and process id and when it last
  renewed the lease (see `ponder.persistence.leases`).

Before it creates or migrates anything, `read_schema_version` looks at what is there and
refuses, with `CheckpointError`, a store that is not ponder's (tables but no
``ponder_schema_version``), one written by a newer ponder, or one that is damaged. Such a store
is never written to.

Example:
    >>> SCHEMA_VERSION
    5
    >>> for name in sorted(TABLE_NAMES):
    ...     print(name)
    ponder_checkpoint_blobs
    ponder_checkpoint_writes
    ponder_checkpoints
    ponder_run_leases
    ponder_runs
    ponder_schema_version
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from ponder.errors import CheckpointError

__all__ = (
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "TABLE_NAMES",
    "blobs",
    "checkpoints",
    "leases",
    "metadata",
    "migrate",
    "read_schema_version",
    "runs",
    "schema_version",
    "writes",
)

# Keys compare byte by byte on every backend: ``ORDER BY checkpoint_id`` and ``before=``
# must agree with Python's string order whatever the PostgreSQL database's collation is.
_KEY = sa.Text().with_variant(postgresql.TEXT(collation="C"), "postgresql")

metadata = sa.MetaData()
"""The `MetaData` holding ponder's tables (schema-less: a PostgreSQL schema is applied with
``schema_translate_map``)."""

schema_version = sa.Table(
    "ponder_schema_version",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
)
"""One row per applied migration; the store's schema version is the highest."""

checkpoints = sa.Table(
    "ponder_checkpoints",
    metadata,
    sa.Column("thread_id", _KEY, primary_key=True),
    sa.Column("checkpoint_ns", _KEY, primary_key=True),
    sa.Column("checkpoint_id", _KEY, primary_key=True),
    sa.Column("parent_checkpoint_id", _KEY, nullable=True),
    sa.Column("run_id", _KEY, nullable=True),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("checkpoint", sa.LargeBinary, nullable=False),
    sa.Column("metadata_type", sa.Text, nullable=False),
    sa.Column("metadata", sa.LargeBinary, nullable=False),
    # Deleting runs. Lookups and listings of a namespace use the primary key.
    sa.Index("ponder_checkpoints_run_id", "run_id"),
)
"""Checkpoints without their channel values, with their metadata and parent."""

_BLOB_COLUMNS = (
    ("thread_id", _KEY),
    ("checkpoint_ns", _KEY),
    ("channel", _KEY),
    ("version", _KEY),
    ("type", sa.Text),
    ("blob", sa.LargeBinary),
)
# The version before the channel: LangGraph gives every channel written in a step the same new
# version, so a put's values are neighbours in the key, and a commit writes one page of it
# where the (channel, version) order wrote one per channel (schema version 3).
_BLOB_KEY = ("thread_id", "checkpoint_ns", "version", "channel")


def _blobs_table(name: str, owner: sa.MetaData) -> sa.Table:
    return sa.Table(
        name,
        owner,
        *(sa.Column(column, kind, nullable=False) for column, kind in _BLOB_COLUMNS),
        sa.PrimaryKeyConstraint(*_BLOB_KEY),
    )


blobs = _blobs_table("ponder_checkpoint_blobs", metadata)
"""Channel values, once per (thread, namespace, version, channel)."""

writes = sa.Table(
    "ponder_checkpoint_writes",
    metadata,
    sa.Column("thread_id", _KEY, primary_key=True),
    sa.Column("checkpoint_ns", _KEY, primary_key=True),
    sa.Column("checkpoint_id", _KEY, primary_key=True),
    sa.Column("task_id", _KEY, primary_key=True),
    sa.Column("idx", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("task_path", _KEY, nullable=False, server_default=""),
    sa.Column("channel", _KEY, nullable=False),
    sa.Column("type", sa.Text, nullable=False),
    sa.Column("blob", sa.LargeBinary, nullable=False),
)
"""Pending writes, per checkpoint, task and index."""


def _run_columns() -> list[sa.Column[Any]]:
    """The columns of ``ponder_runs`` as schema version 2 created it (fresh objects)."""
    return [
        sa.Column("run_id", _KEY, primary_key=True),
        sa.Column("strategy", sa.Text, nullable=False),
        sa.Column("problem", sa.Text, nullable=False),
        sa.Column("options", sa.Text, nullable=False),
        sa.Column("model", sa.Text, nullable=True),
        sa.Column("verifier", sa.Text, nullable=True),
        sa.Column("budget", sa.Text, nullable=False),
        sa.Column("seed", sa.Integer, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("stop_reason", sa.Text, nullable=True),
        sa.Column("answer", sa.Text, nullable=True),
        sa.Column("tokens", sa.Integer, nullable=False),
        sa.Column("calls", sa.Integer, nullable=False),
        sa.Column("seconds", sa.Float, nullable=False),
        sa.Column("parent_run_id", _KEY, nullable=True),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    ]


runs = sa.Table(
    "ponder_runs",
    metadata,
    *_run_columns(),
    sa.Column("settings", sa.Text, nullable=True),  # schema version 4
    sa.Index("ponder_runs_created_at", "created_at"),
)
"""The run registry: one row per run; options, budget, verifier and settings are JSON text
(settings ``NULL`` for a run recorded before schema version 4)."""

leases = sa.Table(
    "ponder_run_leases",
    metadata,
    sa.Column("run_id", _KEY, primary_key=True),
    sa.Column("owner", sa.Text, nullable=False),
    sa.Column("host", sa.Text, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("acquired_at", sa.Float, nullable=False),
    sa.Column("renewed_at", sa.Float, nullable=False),
)
"""Run leases (schema version 5): the process working on a run, and when it last said so."""

TABLE_NAMES = frozenset(table.name for table in metadata.sorted_tables)
"""The names of every table ponder creates."""

Migration = Callable[[sa.Connection], None]
"""A schema migration: DDL run inside the migrating transaction."""


def _create_tables(connection: sa.Connection) -> None:
    metadata.create_all(connection, tables=[checkpoints, blobs, writes], checkfirst=False)


def _create_runs(connection: sa.Connection) -> None:
    # The table as version 2 made it, on a detached copy: version 4 adds its settings column.
    v2_runs = sa.Table(
        runs.name, sa.MetaData(), *_run_columns(), sa.Index("ponder_runs_created_at", "created_at")
    )
    v2_runs.create(connection)


# The indexes schema version 3 drops, as version 1 created them: on a detached copy of the
# table's columns, so that the live `checkpoints` table does not get them back.
_V1_CHECKPOINTS = sa.Table(
    checkpoints.name, sa.MetaData(), sa.Column("thread_id", _KEY), sa.Column("checkpoint_id", _KEY)
)
_V1_LISTING_INDEXES = (
    sa.Index(
        "ponder_checkpoints_thread_id_checkpoint_id",
        _V1_CHECKPOINTS.c.thread_id,
        _V1_CHECKPOINTS.c.checkpoint_id,
    ),
    sa.Index("ponder_checkpoints_checkpoint_id", _V1_CHECKPOINTS.c.checkpoint_id),
)


def _lighten_writes(connection: sa.Connection) -> None:
    """Schema version 3: fewer pages written per put, for faster commits and a smaller store.

    - Drop the two listing indexes of ``ponder_checkpoints``: every put updated them, for
      listings across namespaces or threads only (rare: LangGraph lists one namespace, by the
      primary key); such listings now sort. ``IF EXISTS``: a store created since never had them.
    - Rebuild ``ponder_checkpoint_blobs`` keyed by (thread, namespace, version, channel):
      copy the values into a new table, drop the old one, give the new one its name.
    """
    for index in _V1_LISTING_INDEXES:
        connection.execute(sa.schema.DropIndex(index, if_exists=True))
    rebuilt = _blobs_table(f"{blobs.name}_v3", sa.MetaData())
    rebuilt.create(connection)
    names = [name for name, _ in _BLOB_COLUMNS]
    connection.execute(
        sa.insert(rebuilt).from_select(names, sa.select(*(blobs.c[name] for name in names)))
    )
    blobs.drop(connection)
    # No SQLAlchemy construct renames a table; the names are ponder's constants, quoted.
    preparer = connection.dialect.identifier_preparer
    connection.exec_driver_sql(
        f"ALTER TABLE {_qualified(connection, rebuilt.name)} RENAME TO {preparer.quote(blobs.name)}"
    )


def _add_run_settings(connection: sa.Connection) -> None:
    """Schema version 4: ``ponder_runs.settings``, what a resumed run's context is built from.

    A nullable column: the rows of runs recorded before keep ``NULL``, read as the defaults
    (see `ponder.persistence.RunRecord.settings`).
    """
    # No SQLAlchemy construct adds a column; the names and the type are ponder's constants.
    column = runs.c.settings
    name = connection.dialect.identifier_preparer.quote(column.name)
    kind = column.type.compile(dialect=connection.dialect)
    connection.exec_driver_sql(
        f"ALTER TABLE {_qualified(connection, runs.name)} ADD COLUMN {name} {kind}"
    )


def _create_leases(connection: sa.Connection) -> None:
    """Schema version 5: ``ponder_run_leases``, one owner at a time for each run."""
    metadata.create_all(connection, tables=[leases], checkfirst=False)


def _qualified(connection: sa.Connection, table: str) -> str:
    """The quoted name of ``table``, in the schema the connection translates to, if any."""
    preparer = connection.dialect.identifier_preparer
    schema = (connection.get_execution_options().get("schema_translate_map") or {}).get(None)
    name = preparer.quote(table)
    return name if schema is None else f"{preparer.quote_schema(schema)}.{name}"


MIGRATIONS: tuple[Migration, ...] = (
    _create_tables,
    _create_runs,
    _lighten_writes,
    _add_run_settings,
    _create_leases,
)
"""Migration ``n`` (1-based) brings a store from version ``n - 1`` to ``n``. Append only: a
released migration is never edited, a change of schema is a new migration (``ALTER TABLE``).

1. the checkpoint tables; 2. the run registry; 3. fewer pages written per put
(`_lighten_writes`); 4. the settings of each run (`_add_run_settings`); 5. run leases
(`_create_leases`)."""

SCHEMA_VERSION = len(MIGRATIONS)
"""The schema version this ponder writes, and the newest it reads."""


def read_schema_version(connection: sa.Connection, *, schema: str | None, where: str) -> int:
    """Return the schema version of the store, ``0`` when it is empty; read only.

    Args:
        connection: A connection to the store.
        schema: The PostgreSQL schema holding the tables, or ``None`` for the default.
        where: How to name the store in error messages.

    Raises:
        CheckpointError: The store is not ponder's, is from a newer ponder, or is damaged.
    """
    inspector = sa.inspect(connection)
    names = set(inspector.get_table_names(schema=schema))
    names |= set(inspector.get_view_names(schema=schema))
    if not names:
        return 0
    if schema_version.name not in names:
        shown = ", ".join(sorted(names)[:5]) + (", ..." if len(names) > 5 else "")
        raise CheckpointError(
            f"{where} is not a ponder checkpoint store: it holds other tables ({shown}) and "
            f"no {schema_version.name} table. ponder left it untouched; point the "
            "checkpointer at a new SQLite file, or at an empty PostgreSQL schema (schema=...)"
        )
    if connection.dialect.name == "sqlite":
        _quick_check(connection, where=where)
    versions = connection.execute(sa.select(schema_version.c.version)).scalars().all()
    if not versions or not all(isinstance(v, int) and v > 0 for v in versions):
        raise _damaged(where, f"{schema_version.name} holds {versions!r}")
    version = int(max(versions))
    if version > SCHEMA_VERSION:
        raise CheckpointError(
            f"{where} was written by a newer ponder (schema version {version}; this ponder "
            f"reads up to {SCHEMA_VERSION}). ponder left it untouched; upgrade ponder to use it"
        )
    if version == SCHEMA_VERSION:
        for table in (checkpoints, blobs, writes, runs, leases):
            if table.name not in names:
                raise _damaged(where, f"table {table.name} is missing")
            columns = {column["name"] for column in inspector.get_columns(table.name, schema)}
            if missing := {column.name for column in table.columns} - columns:
                raise _damaged(where, f"{table.name} lacks columns {sorted(missing)}")
    return version


def migrate(connection: sa.Connection, *, schema: str | None, current: int) -> None:
    """Bring the store from schema version ``current`` to `SCHEMA_VERSION`.

    Runs inside the caller's transaction, so a failed migration leaves nothing behind.

    Args:
        connection: A connection in a write transaction.
        schema: The PostgreSQL schema to create the tables in, or ``None`` for the default.
        current: The version `read_schema_version` returned inside the same transaction.
    """
    if current == 0:
        if schema is not None:
            connection.execute(sa.schema.CreateSchema(schema, if_not_exists=True))
        metadata.create_all(connection, tables=[schema_version], checkfirst=False)
    for version in range(current + 1, SCHEMA_VERSION + 1):
        MIGRATIONS[version - 1](connection)
        connection.execute(sa.insert(schema_version).values(version=version))


def _quick_check(connection: sa.Connection, *, where: str) -> None:
    # A constant statement with no values; reads every page once, writes nothing.
    problems = connection.exec_driver_sql("PRAGMA quick_check").scalars().all()
    if problems != ["ok"]:
        raise _damaged(where, "; ".join(str(problem) for problem in problems[:3]))


def _damaged(where: str, detail: str) -> CheckpointError:
    return CheckpointError(
        f"{where} is damaged ({detail}). ponder left it untouched; restore it from a backup "
        "or point the checkpointer at a new store"
    )
