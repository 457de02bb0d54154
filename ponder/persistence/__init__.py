"""Checkpoint persistence: the strict serializer, ponder's SQL checkpointer, LangGraph's savers.

LangGraph's own savers are named by URL in `ponder.persistence.savers`; runs in any saver
are `ponder.stores`'.

Example:
    >>> from ponder.persistence import SqlCheckpointer
    >>> saver = SqlCheckpointer.from_url("sqlite+aiosqlite:///run.db")  # opens nothing yet
    >>> saver.close()
"""

from ponder.persistence.runs import RunRecord, RunSettings, RunStatus
from ponder.persistence.savers import SAVER_SCHEMES, SyncSaver, open_saver
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
    "SAVER_SCHEMES",
    "SCHEMA_VERSION",
    "SqlCheckpointer",
    "StrictSerializer",
    "SyncSaver",
    "open_saver",
    "parse_db_url",
)
