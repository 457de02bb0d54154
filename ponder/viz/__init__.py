"""Seeing strategies and runs: graph diagrams and the run viewer.

- `draw` (``ponder graph``): a strategy's graph as Mermaid, ASCII, DOT or PNG.
- `load_view` + `render_html` (``ponder show``): a run's reasoning tree and history as one
  self-contained HTML page; `serve` (``ponder show --serve``) serves it on a loopback
  address and follows the run live.
"""

from ponder.viz.graph import (
    DiagramFormat,
    draw,
    render_png,
    strategy_graph,
    to_ascii,
    to_dot,
    to_mermaid,
)
from ponder.viz.html import embed_json, render_html
from ponder.viz.serve import ViewerServer, aserve, serve
from ponder.viz.viewer import RunView, ViewFrame, ViewNode, aload_view, build_view, load_view

__all__ = (
    "DiagramFormat",
    "RunView",
    "ViewFrame",
    "ViewNode",
    "ViewerServer",
    "aload_view",
    "aserve",
    "build_view",
    "draw",
    "embed_json",
    "load_view",
    "render_html",
    "render_png",
    "serve",
    "strategy_graph",
    "to_ascii",
    "to_dot",
    "to_mermaid",
)
