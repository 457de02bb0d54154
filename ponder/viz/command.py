"""The ``ponder graph`` and ``ponder show`` commands (parsed here, run by `ponder.cli`).

- ``ponder graph STRATEGY [--format mermaid|ascii|dot|png] [-o FILE] [--json]``: draw a
  strategy's graph; text goes to stdout unless ``-o``; PNG goes to ``STRATEGY.png`` unless
  ``-o``. ``--json`` prints ``{"strategy", "format", "diagram"}`` (text formats) or
  ``{"strategy", "format", "path"}`` (PNG, written to its file).
- ``ponder show RUN [-o FILE] [--serve [--port N]] [--db URL] [--json]``: write the run
  viewer, one self-contained HTML file (``ponder-RUN.html`` unless ``-o``, with any
  character of the run id that cannot be in a file name made ``_``; ``-o -`` for stdout),
  or serve it on 127.0.0.1 and follow the run as it goes. ``--json`` prints the viewer's
  data (`ponder.viz.RunView`) instead.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any, get_args

from ponder._options import add_json_flag, existing_db, parse_option, print_json, readable_db
from ponder.api import DEFAULT_DB
from ponder.errors import ConfigurationError
from ponder.graphs.registry import StrategyName
from ponder.viz.graph import DiagramFormat, draw
from ponder.viz.html import render_html
from ponder.viz.serve import serve
from ponder.viz.viewer import load_view

__all__ = ("add_graph_parser", "add_show_parser", "graph_command", "show_command")


def add_graph_parser(commands: Any) -> None:
    """Add the ``graph`` command to the ``ponder`` subcommands."""
    graph_cmd = commands.add_parser("graph", help="draw a strategy's graph")
    graph_cmd.add_argument("strategy", choices=get_args(StrategyName))
    graph_cmd.add_argument(
        "--format", "-f", default="mermaid", choices=get_args(DiagramFormat),
        help="mermaid, ascii or dot text, or a png image (needs Graphviz's dot)",
    )  # fmt: skip
    graph_cmd.add_argument("-o", "--output", default=None, help="the file to write")
    graph_cmd.add_argument(
        "--option", "-O", type=parse_option, action="append", default=[], metavar="KEY=VALUE",
        help="a strategy option, e.g. -O max_depth=3 (repeatable)",
    )  # fmt: skip
    add_json_flag(graph_cmd, "the diagram")


def add_show_parser(commands: Any) -> None:
    """Add the ``show`` command to the ``ponder`` subcommands."""
    show_cmd = commands.add_parser("show", help="the run viewer: one HTML file, or served live")
    show_cmd.add_argument("run")
    show_cmd.add_argument(
        "-o", "--output", default=None, help="the HTML file (default ponder-RUN.html; - for stdout)"
    )
    show_cmd.add_argument(
        "--serve", action="store_true", help="serve it on 127.0.0.1 and follow the run live"
    )
    show_cmd.add_argument("--port", type=int, default=8765, help="port for --serve (0: any)")
    show_cmd.add_argument(
        "--host", default="127.0.0.1", help="loopback address for --serve (127.0.0.1 or ::1)"
    )
    show_cmd.add_argument(
        "--db", default=DEFAULT_DB, help=f"where runs are kept (default {DEFAULT_DB})"
    )
    add_json_flag(show_cmd, "the viewer's data (not the page)")


def graph_command(args: argparse.Namespace) -> int:
    """Run ``ponder graph``."""
    drawing = draw(args.strategy, args.format, **dict(args.option))
    if isinstance(drawing, bytes):
        out = Path(args.output or f"{args.strategy}.png")
        _write(out, drawing)
        if args.json:
            print_json({"strategy": args.strategy, "format": args.format, "path": str(out)})
        else:
            print(f"wrote {out}", file=sys.stderr)
    elif args.json:
        data = {"strategy": args.strategy, "format": args.format, "diagram": drawing}
        if args.output:
            _write(Path(args.output), drawing)
            data["path"] = args.output
        print_json(data)
    elif args.output:
        _write(Path(args.output), drawing)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(drawing)
    return 0


def show_command(args: argparse.Namespace) -> int:
    """Run ``ponder show``."""
    if args.serve:
        if args.json:
            raise ConfigurationError("--json prints the view once: it does not go with --serve")

        def ready(url: str) -> None:
            print(f"ponder: serving run {args.run} at {url} (Ctrl-C stops)", file=sys.stderr)

        serve(args.run, db=existing_db(args.db), host=args.host, port=args.port, on_ready=ready)
        return 0
    view = load_view(args.run, db=readable_db(args.db))
    if args.json:
        print_json(view)
        return 0
    page = render_html(view)
    if args.output == "-":
        sys.stdout.write(page)
        return 0
    out = Path(args.output or f"ponder-{_file_safe(args.run)}.html")
    _write(out, page)
    print(f"wrote {out}: open it in a browser", file=sys.stderr)
    return 0


def _file_safe(run_id: str) -> str:
    """``run_id`` as part of a file name: a ``/`` (or anything unusual) becomes ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id)


def _write(path: Path, content: str | bytes) -> None:
    """Write ``content`` to ``path``; a path that cannot be written is a usage error."""
    try:
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    except OSError as exc:
        raise ConfigurationError(
            f"cannot write {path}: {exc.strerror or exc}; pick another file with -o"
        ) from exc
