"""The ``key=value`` strategy options of the command line (``-o n=8``), shared by commands."""

from __future__ import annotations

import argparse
from typing import Any

__all__ = ("parse_option",)


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
