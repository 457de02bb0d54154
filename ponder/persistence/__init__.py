"""Checkpoint persistence: the strict serializer and ponder's SQL checkpointer.

Example:
    >>> from ponder.persistence import SqlCheckpointer
    >>> saver = SqlCheckpointer.from_url("sqlite+aiosqlite:///run.db")  # opens nothing yet
    >>> saver.close()
"""

from ponder.persistence.runs import RunRecord, RunSettings, RunStatus
from ponder.persistence.schema import SCHEMA_VERSION
from ponder.persistence.serde import ALLOWED_TYPE_TAGS, StrictSerializer
from ponder.persistence.sqlalchemy import PRUNE_STRATEGIES, SqlCheckpointer
from ponder.persistence.url import parse_db_url

__all__ = (
    "ALLOWED_TYPE_TAGS",
    "PRUNE_STRATEGIES",
    "RunRecord",
    "RunSettings",
    "RunStatus",
    "SCHEMA_VERSION",
    "SqlCheckpointer",
    "StrictSerializer",
    "parse_db_url",
)
