"""A griffe extension for the docs site: ``Example:`` sections render as examples.

ponder's docstrings title their doctests ``Example:`` (Google style, as ruff's pydocstyle
accepts); griffe reads only ``Examples:`` as an examples section and renders ``Example:`` as
an admonition of plain text, which loses the code formatting. This extension renames the
section title as docstrings are loaded, so the sources stay as they are.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_TITLE = re.compile(r"^(\s*)Example:[ \t]*$", re.MULTILINE)


class ExampleSections(griffe.Extension):
    """Rename ``Example:`` section titles to ``Examples:`` in every loaded docstring."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring as it is created."""
        if obj.docstring is not None:
            obj.docstring.value = _TITLE.sub(r"\1Examples:", obj.docstring.value)
