"""What `ponder serve` costs: concurrent clients over HTTP against the same calls in-process.

``--clients`` concurrent clients (8 and 32 by default) each ask ``--requests`` questions in
turn (a closed loop: the next when the last is answered), all ``ponder-self-consistency``
on the embedded SmolLM2 (llama.cpp, CPU), with the same options, budget and seed. Two ways,
taking turns in one run (``--repeats`` times, the order swapped each time):

- ``server``: ``ponder serve`` started as a user starts it (``python -m ponder.cli serve``,
  its own process, one model object shared by every request, runs kept in SQLite), the
  clients the official ``openai`` client (``AsyncOpenAI``) in this process;
- ``in-process``: the same clients calling ``ponder.asolve`` in this process, on one shared
  embedded model built as the server builds it (``reproducible=False``: concurrent runs'
  calls decode in one batch), runs kept in SQLite too.

Per cell: requests/s (requests over the round's wall time, median of the repeats), latency
p50/p95 (over every request of every repeat), total tokens/s (every token of every run,
over the wall time, median of the repeats), and the server's wall time over in-process's
(median of the per-repeat ratios, measured side by side), also per generated token.
Target: under 1.05 at 8 clients.

The same, on a scripted model (instant replies), isolates what the server itself costs per
request: HTTP, JSON, the ASGI app, the client.

Run:  flock /tmp/ponder-measure.lock .venv/bin/python benchmarks/serve.py
          [--clients 8,32] [--requests 2,1] [--repeats 5] [--max-samples 3] [--max-tokens 96]
          [--scripted-requests 8] [--scripted-repeats 5]
Writes benchmarks/results/serve.json and serve.md, and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import openai
from _common import RESULTS, write_report

import ponder
from ponder.serve import build_model
from ponder.testing import ScriptedChatModel

PROBLEMS = [
    "A farmer has 17 cows and buys 25 more. How many cows does he have now?",
    "Tom reads 12 pages a day for 6 days. How many pages does he read?",
    "A box holds 48 apples. 19 are eaten. How many apples are left?",
    "There are 9 rows of 7 chairs. How many chairs are there?",
    "Sara has 35 stickers and gives away 8. How many does she keep?",
    "A bus carries 23 people and 14 more get on. How many are on the bus?",
    "Each bag holds 6 oranges. How many oranges are in 8 bags?",
    "A rope is 90 cm long and 27 cm is cut off. How long is it now?",
]
"""Client c's request r asks problem (c + r) mod 8."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


SCRIPTED_REPLY = "Adding the numbers step by step gives 42. The answer is 42."
"""What the scripted model answers every call (no model time: the server's own cost)."""


def scripted_model() -> ScriptedChatModel:
    return ScriptedChatModel(replies=[SCRIPTED_REPLY])


class Server:
    """``ponder serve`` in its own process (on a scripted model: `ponder.serve.serve`)."""

    def __init__(self, db: str, *, scripted: bool = False) -> None:
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}/v1"
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
        command = [sys.executable, "-m", "ponder.cli", "serve", "--port", str(self.port)]
        if scripted:
            command = [sys.executable, __file__, "--scripted-server", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--db", db], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=env,
        )  # fmt: skip
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{self.url}/models", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("ponder serve did not start")
            time.sleep(0.2)

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


async def _round(
    mode: str, clients: int, requests: int, args: argparse.Namespace, ctx: dict[str, Any]
) -> dict[str, Any]:
    """One round: ``clients`` concurrent closed-loop clients, ``requests`` each."""
    options = {"max_samples": args.max_samples, "min_samples": args.max_samples,
               "max_tokens": args.max_tokens}  # fmt: skip
    budget = {"tokens": args.budget}
    latencies: list[float] = []
    spent = {"tokens": 0, "output_tokens": 0}

    async def ask(question: str) -> tuple[int, int]:
        if mode == "server":
            reply = await ctx["client"].chat.completions.create(
                model="ponder-self-consistency",
                messages=[{"role": "user", "content": question}],
                extra_body={"ponder": {"options": options, "budget": budget}},
            )
            assert reply.model_extra["ponder"]["status"] == "done", reply.model_extra
            return reply.usage.total_tokens, reply.usage.completion_tokens
        result = await ponder.asolve(
            question, "self-consistency", budget=budget, model=ctx["model"], db=ctx["db"],
            **options,
        )  # fmt: skip
        assert result.status == "done", result.error
        return result.usage.tokens, result.usage.tokens_out

    async def client(number: int) -> None:
        for r in range(requests):
            started = time.perf_counter()
            tokens, output = await ask(PROBLEMS[(number + r) % len(PROBLEMS)])
            latencies.append(time.perf_counter() - started)
            spent["tokens"] += tokens
            spent["output_tokens"] += output

    started = time.perf_counter()
    await asyncio.gather(*(client(c) for c in range(clients)))
    wall = time.perf_counter() - started
    return {"wall_s": wall, "latencies_s": latencies, **spent}


async def _measure(
    args: argparse.Namespace, folder: Path, *, scripted: bool
) -> dict[str, list[dict[str, Any]]]:
    """Every round of one model, the two ways taking turns."""
    kind = "scripted" if scripted else "embedded"
    server = Server(f"sqlite+aiosqlite:///{folder / f'{kind}-served.db'}", scripted=scripted)
    model = scripted_model() if scripted else build_model("smollm2")
    ctx: dict[str, Any] = {
        "model": model, "db": f"sqlite+aiosqlite:///{folder / f'{kind}-inproc.db'}"
    }  # fmt: skip
    plan = list(zip(args.clients, args.requests, strict=True))
    if scripted:
        plan = [(8, args.scripted_requests)]
    repeats = args.scripted_repeats if scripted else args.repeats
    rounds: dict[str, list[dict[str, Any]]] = {}
    try:
        limits = httpx.Limits(max_connections=max(c for c, _ in plan) + 4)
        async with openai.AsyncOpenAI(
            base_url=server.url, api_key="x", max_retries=0, timeout=600,
            http_client=openai.DefaultAsyncHttpxClient(limits=limits),
        ) as client:  # fmt: skip
            ctx["client"] = client
            for mode in MODES:  # warm up: model loaded, graphs compiled, stores created
                await _round(mode, 2, 1, args, ctx)
            for repeat in range(repeats):
                for clients, requests in plan:
                    for mode in MODES if repeat % 2 == 0 else reversed(MODES):
                        measured = await _round(mode, clients, requests, args, ctx)
                        measured["requests"] = clients * requests
                        rounds.setdefault(f"{mode}/{clients}", []).append(measured)
                        print(
                            f"{kind} repeat {repeat} {mode:<10} {clients:>2} clients: "
                            f"{measured['wall_s']:.2f} s", flush=True,
                        )  # fmt: skip
    finally:
        server.close()
    return rounds


MODES = ("server", "in-process")


def _cells(rounds: dict[str, list[dict[str, Any]]], plan: list[int]) -> list[dict[str, Any]]:
    cells = []
    for clients in plan:
        for mode in ("in-process", "server"):
            measured = rounds[f"{mode}/{clients}"]
            latencies = [x for m in measured for x in m["latencies_s"]]
            count = measured[0]["requests"]
            cells.append({
                "mode": mode, "clients": clients, "requests_per_round": count,
                "requests_per_s": statistics.median(count / m["wall_s"] for m in measured),
                "latency_p50_s": _percentile(latencies, 0.50),
                "latency_p95_s": _percentile(latencies, 0.95),
                "tokens_per_s": statistics.median(m["tokens"] / m["wall_s"] for m in measured),
                "tokens_per_request": statistics.median(m["tokens"] / count for m in measured),
                "wall_s": [m["wall_s"] for m in measured],
            })  # fmt: skip
        server, inproc = rounds[f"server/{clients}"], rounds[f"in-process/{clients}"]
        pairs = list(zip(server, inproc, strict=True))
        ratios = [s["wall_s"] / i["wall_s"] for s, i in pairs]
        per_token = [
            (s["wall_s"] / max(1, s["output_tokens"])) / (i["wall_s"] / max(1, i["output_tokens"]))
            for s, i in pairs
        ]
        cells[-1].update(
            wall_ratio=statistics.median(ratios), wall_ratios=ratios,
            per_token_ratio=statistics.median(per_token), per_token_ratios=per_token,
            added_ms_per_request=1000 * statistics.median(
                (s["wall_s"] - i["wall_s"]) / s["requests"] for s, i in pairs
            ),
        )  # fmt: skip
    return cells


def _rows(cells: list[dict[str, Any]], model: str, unit: float, digits: int) -> list[str]:
    rows = []
    for cell in cells:
        ratio = per_token = ""
        if "wall_ratio" in cell:
            ratio = f"**{cell['wall_ratio']:.3f}**"
            per_token = f"{cell['per_token_ratio']:.3f}"
        scale = "ms" if unit == 1000 else "s"
        rows.append(
            f"| {model} | {cell['clients']} | {cell['mode']} | {cell['requests_per_s']:.2f} | "
            f"{cell['latency_p50_s'] * unit:.{digits}f} {scale} | "
            f"{cell['latency_p95_s'] * unit:.{digits}f} {scale} | "
            f"{cell['tokens_per_s']:.0f} | {cell['tokens_per_request']:.0f} | {ratio} | "
            f"{per_token} |"
        )
    return rows


def _table(embedded: list[dict[str, Any]], scripted: list[dict[str, Any]],
           args: argparse.Namespace) -> str:  # fmt: skip
    plan = ", ".join(f"{c} clients x {r}" for c, r in zip(args.clients, args.requests, strict=True))
    lines = [
        "# `ponder serve` against the same clients in-process",
        "",
        f"ponder-self-consistency ({args.max_samples} samples of at most {args.max_tokens} "
        f"tokens per question, budget {args.budget} tokens); closed-loop clients, each asking "
        f"its questions in turn ({plan} on SmolLM2; 8 x {args.scripted_requests} on the "
        f"scripted model); {args.repeats} repeats on SmolLM2, {args.scripted_repeats} on the "
        "scripted model, the two ways taking turns (order swapped every repeat). Server: "
        "`ponder serve` in its own process (the scripted one through `ponder.serve.serve`), "
        "`openai.AsyncOpenAI` clients in the benchmark's process. In-process: the same "
        "clients calling `ponder.asolve` on one shared model built as the server builds it. "
        "Both keep every run in SQLite.",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores (shared with other jobs), "
        f"Python {platform.python_version()}. Target: the server adds under 5% to the wall "
        "time at 8 clients.",
        "",
        "| model | clients | way | requests/s | p50 latency | p95 latency | tokens/s "
        "| tokens/request | server wall / in-process | per output token |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|",
        *_rows(embedded, "SmolLM2", 1, 1),
        *_rows(scripted, "scripted", 1000, 1),
        "",
        "Ratios are medians of the per-repeat ratios, each from two rounds run one after the "
        "other: wall time, and wall time per generated token (SmolLM2's samples are not "
        "identical between the two ways, since concurrent runs share decode batches whose "
        "layout follows timing, so the tokens a round generates differ a little). Per repeat: "
        + "; ".join(
            f"{c['clients']} clients {', '.join(f'{r:.3f}' for r in c['wall_ratios'])}"
            for c in embedded
            if "wall_ratios" in c
        )
        + ". On the scripted model (no model time) the server adds "
        + ", ".join(f"{c['added_ms_per_request']:.1f} ms" for c in scripted if "wall_ratios" in c)
        + " of wall time per request.",
        "",
    ]
    return "\n".join(lines)


def _scripted_server(port: int, db: str) -> None:
    from ponder.serve import serve

    serve(port=port, model=scripted_model(), db=db)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=lambda s: [int(x) for x in s.split(",")],
                        default=[8, 32])  # fmt: skip
    parser.add_argument(
        "--requests",
        type=lambda s: [int(x) for x in s.split(",")],
        default=[2, 1],
        help="questions per client, per client count",
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--scripted-requests", type=int, default=8)
    parser.add_argument("--scripted-repeats", type=int, default=5)
    parser.add_argument("--scripted-server", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--db", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--max-samples", type=int, default=3)
    parser.add_argument("--max-tokens", type=int, default=96)
    parser.add_argument("--budget", type=int, default=3000)
    args = parser.parse_args()
    if args.scripted_server is not None:
        _scripted_server(args.scripted_server, args.db)
        return
    with tempfile.TemporaryDirectory() as folder:
        scripted = asyncio.run(_measure(args, Path(folder), scripted=True))
        embedded = asyncio.run(_measure(args, Path(folder), scripted=False))
    cells = {"embedded": _cells(embedded, args.clients), "scripted": _cells(scripted, [8])}
    report = {"settings": vars(args), "cells": cells, "rounds": {
        "embedded": embedded, "scripted": scripted}}  # fmt: skip
    write_report(report, _table(cells["embedded"], cells["scripted"], args), RESULTS / "serve")


if __name__ == "__main__":
    main()
