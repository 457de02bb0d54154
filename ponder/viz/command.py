"""The ``ponder graph`` and ``ponder show`` commands (parsed here, run by `ponder.cli`).

- ``ponder graph STRATEGY [--format mermaid|ascii|dot|png] [-o FILE]``: draw a strategy's
  graph; text goes to stdout unless ``-o``; PNG goes to ``STRATEGY.png`` unless ``-o``.
- ``ponder show RUN [-o FILE] [--serve [--port N]] [--db URL]``: write the run viewer, one
  self-contained HTML file (``ponder-RUN.html`` unless ``-o``; ``-o -`` for stdout), or
  serve it on 127.0.0.1 and follow the run as it goes.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, get_args

from ponder._options import parse_option
from ponder.api import DEFAULT_DB
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
        "--option", type=parse_option, action="append", default=[], metavar="KEY=VALUE",
        help="a strategy option, e.g. --option max_depth=3 (repeatable)",
    )  # fmt: skip


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


def graph_command(args: argparse.Namespace) -> int:
    """Run ``ponder graph``."""
    drawing = draw(args.strategy, args.format, **dict(args.option))
    if isinstance(drawing, bytes):
        out = Path(args.output or f"{args.strategy}.png")
        out.write_bytes(drawing)
        print(f"wrote {out}", file=sys.stderr)
    elif args.output:
        Path(args.output).write_text(drawing, encoding="utf-8")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(drawing)
    return 0


def show_command(args: argparse.Namespace) -> int:
    """Run ``ponder show``."""
    if args.serve:

        def ready(url: str) -> None:
            print(f"ponder: serving run {args.run} at {url} (Ctrl-C stops)", file=sys.stderr)

        serve(args.run, db=args.db, host=args.host, port=args.port, on_ready=ready)
        return 0
    page = render_html(load_view(args.run, db=args.db))
    if args.output == "-":
        sys.stdout.write(page)
        return 0
    out = Path(args.output or f"ponder-{args.run}.html")
    out.write_text(page, encoding="utf-8")
    print(f"wrote {out}: open it in a browser", file=sys.stderr)
    return 0
