"""Write the API reference pages of the docs site (docs/reference/), one per public module.

A package's page renders its facade (the names its ``__init__`` exports) and then each public
submodule with the names it exports that the facade does not, so every public name appears
once. A top-level module's page renders the module. ``--check`` writes nothing and fails
when a page is not what this script would write (the tests run it: a new public module or
name shows up as a failure until the pages are regenerated).

Run:  .venv/bin/python scripts/docs_reference.py [--check]
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "docs" / "reference"

PACKAGES = (
    "graphs", "nodes", "models", "verify", "persistence", "eval", "distributed", "serve", "viz",
)  # fmt: skip
"""Subpackages of ponder, each a page."""
MODULES = (
    "runs", "stores", "events", "context", "budget", "state", "result", "errors", "prompts",
    "runner", "setup", "testing", "hosted", "cli",
)  # fmt: skip
"""Top-level modules of ponder with a page of their own (``ponder.api`` is on ponder's)."""


def public_names(module: ModuleType) -> tuple[str, ...]:
    """Return what ``module`` exports (its ``__all__``)."""
    return tuple(getattr(module, "__all__", ()))


def block(name: str, *, members: tuple[str, ...] | None, root_heading: bool) -> str:
    """Return the mkdocstrings directive rendering module ``name``."""
    lines = [f"::: {name}", "    options:"]
    lines.append(f"      show_root_heading: {str(root_heading).lower()}")
    if root_heading:
        lines.append("      heading_level: 3")
    if members is not None:
        listed = ", ".join(members)
        lines.append(f"      members: [{listed}]" if members else "      members: false")
    return "\n".join(lines) + "\n"


def package_page(package: str, extra: tuple[str, ...] = ()) -> str:
    """Return the page of ``package``: its facade, then its public submodules."""
    module = importlib.import_module(package)
    exported = set(public_names(module))
    parts = [f"# {package}\n", block(package, members=None, root_heading=False)]
    submodules = [f"{package}.{info.name}" for info in pkgutil.iter_modules(module.__path__)]
    submodules = sorted(name for name in submodules if not name.rsplit(".", 1)[1].startswith("_"))
    submodules = [*extra, *submodules]
    if submodules:
        parts.append("## Modules\n")
        parts.append(
            "Each module's names that the package does not export itself (the others are above).\n"
        )
    for name in submodules:
        own = tuple(n for n in public_names(importlib.import_module(name)) if n not in exported)
        parts.append(block(name, members=own, root_heading=True))
    return "\n".join(parts)


def module_page(name: str) -> str:
    """Return the page of the top-level module ``name``."""
    return f"# {name}\n\n" + block(name, members=None, root_heading=False)


def unlisted() -> list[str]:
    """Return ponder's public top-level modules and packages that have no page."""
    ponder = importlib.import_module("ponder")
    names = {info.name for info in pkgutil.iter_modules(ponder.__path__)}
    listed = {*PACKAGES, *MODULES, "api", "__main__"}
    return sorted(n for n in names if not n.startswith("_") and n not in listed)


def pages() -> dict[str, str]:
    """Return every reference page, by file name."""
    missing = unlisted()
    if missing:
        raise SystemExit(
            f"public modules without a reference page: {', '.join(missing)}; add them to "
            "PACKAGES or MODULES in scripts/docs_reference.py"
        )
    found = {"ponder.md": package_page("ponder", extra=("ponder.api",)).split("## Modules")[0]}
    api = importlib.import_module("ponder.api")
    top = set(public_names(importlib.import_module("ponder")))
    own = tuple(n for n in public_names(api) if n not in top)
    found["ponder.md"] += "## Modules\n\n" + block("ponder.api", members=own, root_heading=True)
    for package in PACKAGES:
        found[f"{package}.md"] = package_page(f"ponder.{package}")
    for name in MODULES:
        found[f"{name}.md"] = module_page(f"ponder.{name}")
    return found


def main(argv: list[str]) -> int:
    """Write the pages, or with ``--check`` report the ones that differ."""
    check = "--check" in argv
    stale = []
    for file, text in pages().items():
        path = REFERENCE / file
        if check:
            if not path.exists() or path.read_text() != text:
                stale.append(file)
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    if stale:
        print(f"stale reference pages: {', '.join(stale)}; run scripts/docs_reference.py")
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    raise SystemExit(main(sys.argv[1:]))
