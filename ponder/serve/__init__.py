"""``ponder serve``: OpenAI's chat-completion API in front of ponder's strategies.

Any OpenAI client gets more compute per question by changing its base URL: the request's
``model`` names the strategy (``ponder-self-consistency``, ``ponder-adaptive``, ...), the
extra body field ``ponder`` carries the budget and options, and the reply is a normal chat
completion whose ``usage`` counts every token the run spent. Every run is kept in the
server's store, so ``ponder runs``, ``ponder show`` and ``ponder resume`` find it by the run
id the reply carries, and a request carrying that id continues a paused run.

Needs the ``serve`` extra (``pip install 'ponder[serve]'``: starlette and uvicorn).

Modules: `ponder.serve.app` (the ASGI application), `ponder.serve.schemas` (what is read
and written), `ponder.serve.chat` (a request as a run), `ponder.serve.responses` (replies,
streamed or not), `ponder.serve.streaming` (the SSE chunks), `ponder.serve.auth` (API key,
loopback), `ponder.serve.api_errors` (error bodies), `ponder.serve.server` (uvicorn).
"""

from ponder.serve.app import build_model, create_app
from ponder.serve.responses import RUN_ID_HEADER
from ponder.serve.server import BackgroundServer, serve

__all__ = ("RUN_ID_HEADER", "BackgroundServer", "build_model", "create_app", "serve")
