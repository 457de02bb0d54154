"""The strict checkpoint serializer: no pickle, safe types only, whatever the environment says.

LangGraph's `JsonPlusSerializer` can fall back to pickle and, unless
``LANGGRAPH_STRICT_MSGPACK`` is set, revives any class named in the data. ponder's run state
is plain data, so it needs neither: `StrictSerializer` accepts only the ``null``, ``bytes``,
``bytearray`` and ``msgpack`` type tags, decodes msgpack with LangGraph's built-in allow-list
of safe types (no user classes), and refuses everything else with `CheckpointError`.

Example:
    >>> serde = StrictSerializer()
    >>> serde.loads_typed(serde.dumps_typed({"answer": "42", "votes": {"42": 3}}))
    {'answer': '42', 'votes': {'42': 3}}
"""

from __future__ import annotations

from typing import Any

from langgraph.checkpoint.serde.base import SerializerProtocol
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer

from ponder.errors import CheckpointError

__all__ = ("ALLOWED_TYPE_TAGS", "StrictSerializer")

ALLOWED_TYPE_TAGS = frozenset({"null", "bytes", "bytearray", "msgpack"})
"""The only serialization type tags `StrictSerializer` writes or reads."""


class StrictSerializer(SerializerProtocol):
    """Serialize checkpoint values without pickle, reviving only LangGraph's safe types."""

    def __init__(self) -> None:
        self._inner = JsonPlusSerializer(
            pickle_fallback=False, allowed_json_modules=None, allowed_msgpack_modules=None
        )

    def dumps_typed(self, obj: Any) -> tuple[str, bytes]:
        """Serialize ``obj``; raise `CheckpointError` for a value msgpack cannot encode."""
        try:
            type_, data = self._inner.dumps_typed(obj)
        except Exception as exc:
            raise CheckpointError(
                f"cannot store a value of type {type(obj).__name__} in a checkpoint: {exc}; "
                "run state must be plain data"
            ) from exc
        if type_ not in ALLOWED_TYPE_TAGS:  # pragma: no cover - the inner serializer's choice
            raise CheckpointError(f"refusing to write a checkpoint value of type tag {type_!r}")
        return type_, data

    def loads_typed(self, data: tuple[str, bytes]) -> Any:
        """Deserialize ``data``; raise `CheckpointError` for an unknown or unsafe type tag."""
        type_, _ = data
        if type_ not in ALLOWED_TYPE_TAGS:
            raise CheckpointError(
                f"refusing to load a checkpoint value of type tag {type_!r}: only "
                f"{', '.join(sorted(ALLOWED_TYPE_TAGS))} are read (never pickle)"
            )
        try:
            return self._inner.loads_typed(data)
        except Exception as exc:
            raise CheckpointError(f"a checkpoint value could not be decoded: {exc}") from exc
