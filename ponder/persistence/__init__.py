"""Checkpoint persistence: the strict serializer that every ponder checkpointer uses."""

from ponder.persistence.serde import ALLOWED_TYPE_TAGS, StrictSerializer

__all__ = ("ALLOWED_TYPE_TAGS", "StrictSerializer")
