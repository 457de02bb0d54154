"""Sampling benchmark: N samples of one prompt, batched against one at a time, on the
embedded model (SmolLM2-135M, llama.cpp, CPU).

1. Throughput: wall time and generated tokens per second for N = 1, 2, 4, 8, 16 samples of
   the same few-shot prompt (temperature 0.7, seeds 0..N-1, output cap 64), drawn
   - one at a time through llama-cpp-python's high-level API (``batched=False``, the path
     before batching: every call decodes its whole prompt);
   - in one batched decode with an empty prompt cache (``generate_n``, the prompt decoded
     once for all N; "cold");
   - the same with the prompt's few-shot prefix already in the cache from the previous
     repeat ("warm": only the problem's own tokens are decoded).
   The three run interleaved in the same process; each cell is the median of the repeats.
2. Decoding alone: a short prompt (a request for a long story) and up to 96 tokens per
   sample, so the prompt's cost is negligible both ways: the tokens per second
   of the decode steps themselves, one sequence at a time against N together.
3. End to end: best-of-N (N = 8, a verifier that scores without accepting, so all eight are
   drawn) through ``ponder.asolve``: with ``batched=False`` (before), with the batched model
   (after: the strategy draws one candidate per step, so it gains from prefix reuse only),
   and the strategy drawing its eight candidates in one step (``per_step=8``: the samples
   are then decoded together).

Other processes share the 2 cores: the load average at start and end is in the table header.

Run:  .venv/bin/python benchmarks/sampling.py [--repeats 3] [--ns 1,2,4,8,16]
          [--decode-tokens 96] [--decode-repeats 2] [--no-decode] [--no-end-to-end]
Writes benchmarks/results/sampling.json and sampling.md, and prints the table.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import sys
import time
from typing import Any

from _common import RESULTS, write_report
from langchain_core.messages import BaseMessage, HumanMessage

import ponder
from ponder.models import EmbeddedChatModel
from ponder.prompts import FEW_SHOT
from ponder.verify import Verdict, answers_match

PROBLEMS = [
    "A farmer has 17 cows and buys 25 more. How many cows does he have now?",
    "Tom reads 12 pages a day for 6 days. How many pages does he read?",
    "A box holds 48 apples. 19 are eaten. How many apples are left?",
    "There are 9 rows of 7 chairs. How many chairs are there?",
    "Sara had 120 stickers and gave away 45. How many stickers does she have?",
]
"""Each repeat uses the next problem: same few-shot prefix, a different question."""
ANSWERS = ["42", "72", "29", "63", "75"]


def load_average() -> float:
    return os.getloadavg()[0]


def messages_for(problem: str) -> list[BaseMessage]:
    return FEW_SHOT.render("chat", problem=problem)


def draw(
    model: EmbeddedChatModel, problem: str, n: int, max_tokens: int, *, raw: bool = False
) -> tuple[float, int]:
    messages = [HumanMessage(problem)] if raw else messages_for(problem)
    started = time.perf_counter()
    samples = model.generate_n(
        messages, n, seeds=list(range(n)), max_tokens=max_tokens, temperature=0.7
    )
    wall = time.perf_counter() - started
    tokens = sum(s.usage_metadata["output_tokens"] for s in samples if s.usage_metadata)
    return wall, tokens


def throughput(ns: list[int], repeats: int, max_tokens: int) -> list[dict[str, Any]]:
    sequential = EmbeddedChatModel.from_name("smollm2", batched=False)
    batched = EmbeddedChatModel.from_name("smollm2")
    engine = batched._batcher()
    draw(sequential, PROBLEMS[0], 1, 8)  # load the model and warm both paths up
    draw(batched, PROBLEMS[0], 1, 8)
    rows = []
    for n in ns:
        cells: dict[str, list[tuple[float, int]]] = {"sequential": [], "cold": [], "warm": []}
        for repeat in range(repeats):
            problem = PROBLEMS[repeat % len(PROBLEMS)]
            cells["sequential"].append(draw(sequential, problem, n, max_tokens))
            engine.clear_cache()
            cells["cold"].append(draw(batched, problem, n, max_tokens))
            # Warm: the few-shot prefix is cached (a previous problem's prompt, not this one).
            other = PROBLEMS[(repeat + 1) % len(PROBLEMS)]
            engine.clear_cache()
            draw(batched, other, 1, 1)
            cells["warm"].append(draw(batched, problem, n, max_tokens))
        row: dict[str, Any] = {"n": n}
        for name, runs in cells.items():
            walls = [w for w, _ in runs]
            rates = [t / w for w, t in runs]
            row[name] = {
                "wall_s": statistics.median(walls),
                "tokens": statistics.median(t for _, t in runs),
                "tokens_per_s": statistics.median(rates),
                "runs": [{"wall_s": w, "tokens": t} for w, t in runs],
            }
        rows.append(row)
        print(
            f"N={n}: sequential {row['sequential']['tokens_per_s']:.1f} tok/s, "
            f"batched {row['cold']['tokens_per_s']:.1f} (cold) "
            f"{row['warm']['tokens_per_s']:.1f} (warm)",
            file=sys.stderr,
        )
    return rows


STORY = "Tell me a long story about a lighthouse keeper."


def decode_only(ns: list[int], repeats: int, max_tokens: int) -> list[dict[str, Any]]:
    sequential = EmbeddedChatModel.from_name("smollm2", batched=False)
    batched = EmbeddedChatModel.from_name("smollm2")
    rows = []
    for n in ns:
        cells: dict[str, list[tuple[float, int]]] = {"sequential": [], "batched": []}
        for _ in range(repeats):
            cells["sequential"].append(draw(sequential, STORY, n, max_tokens, raw=True))
            cells["batched"].append(draw(batched, STORY, n, max_tokens, raw=True))
        row: dict[str, Any] = {"n": n}
        for name, runs in cells.items():
            row[name] = {
                "wall_s": statistics.median(w for w, _ in runs),
                "tokens": statistics.median(t for _, t in runs),
                "tokens_per_s": statistics.median(t / w for w, t in runs),
            }
        rows.append(row)
        print(
            f"decode N={n}: sequential {row['sequential']['tokens_per_s']:.1f} tok/s, "
            f"batched {row['batched']['tokens_per_s']:.1f}",
            file=sys.stderr,
        )
    return rows


def scorer(expected: str) -> Any:
    """Score 0.9 for the right answer, 0.1 otherwise: never accepts, so all N are drawn."""

    def score(problem: str, candidate: Any) -> Verdict:
        right = answers_match(candidate["answer"], expected)
        return Verdict(score=0.9 if right else 0.1, reason="scored, not accepted")

    return score


async def end_to_end(repeats: int, max_tokens: int) -> dict[str, Any]:
    budget = ponder.Budget(tokens=20_000)
    sequential = EmbeddedChatModel.from_name("smollm2", batched=False)
    batched = EmbeddedChatModel.from_name("smollm2")
    runs: dict[str, list[dict[str, Any]]] = {"before": [], "after": [], "after_one_step": []}
    for repeat in range(repeats):
        problem, expected = PROBLEMS[repeat % len(PROBLEMS)], ANSWERS[repeat % len(ANSWERS)]
        verifier = scorer(expected)
        batched._batcher().clear_cache()
        for name, model in (("before", sequential), ("after", batched)):
            result = await ponder.asolve(
                problem, "best-of-n", model=model, budget=budget, verifier=verifier,
                n=8, max_tokens=max_tokens,
            )  # fmt: skip
            runs[name].append(summary(result, expected))
        batched._batcher().clear_cache()
        result = await ponder.asolve(
            problem, "best-of-n", model=batched, budget=budget, verifier=verifier,
            n=8, max_tokens=max_tokens, per_step=8,
        )  # fmt: skip
        runs["after_one_step"].append(summary(result, expected))
        print(f"best-of-N repeat {repeat}: " + ", ".join(
            f"{k} {v[-1]['wall_s']:.1f} s" for k, v in runs.items()
        ), file=sys.stderr)  # fmt: skip
    return {
        name: {
            "wall_s": statistics.median(r["wall_s"] for r in rows),
            "tokens_out": statistics.median(r["tokens_out"] for r in rows),
            "tokens": statistics.median(r["tokens"] for r in rows),
            "candidates": statistics.median(r["candidates"] for r in rows),
            "correct": sum(r["correct"] for r in rows),
            "runs": rows,
        }
        for name, rows in runs.items()
    }


def summary(result: ponder.RunResult, expected: str) -> dict[str, Any]:
    return {
        "wall_s": result.wall_seconds,
        "tokens": result.usage.tokens,
        "tokens_out": result.usage.tokens_out,
        "candidates": len(result.candidates),
        "status": result.status,
        "correct": answers_match(result.answer, expected),
    }


def table(report: dict[str, Any]) -> str:
    lines = [
        f"Machine: {platform.machine()}, {os.cpu_count()} cores, shared with other work; "
        f"Python {platform.python_version()}; llama-cpp-python {report['llama_cpp']}; "
        f"load average {report['load_start']:.2f} at start, {report['load_end']:.2f} at end.",
        "",
        f"N samples of one few-shot prompt ({report['prompt_tokens']} tokens), temperature "
        f"0.7, output cap {report['max_tokens']}; median of {report['repeats']} repeats. "
        "Sequential: one call after another through llama-cpp-python's high-level API. "
        "Batched: one `generate_n` call, the N sequences decoded together (cold: empty "
        "prompt cache; warm: the few-shot prefix cached by an earlier call).",
        "",
        "| N | sequential s | sequential tok/s | batched cold s | batched cold tok/s | "
        "cold / sequential | batched warm s | batched warm tok/s | warm / sequential |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["throughput"]:
        seq, cold, warm = row["sequential"], row["cold"], row["warm"]
        lines.append(
            f"| {row['n']} | {seq['wall_s']:.2f} | {seq['tokens_per_s']:.1f} | "
            f"{cold['wall_s']:.2f} | {cold['tokens_per_s']:.1f} | "
            f"{cold['tokens_per_s'] / seq['tokens_per_s']:.2f}x | {warm['wall_s']:.2f} | "
            f"{warm['tokens_per_s']:.1f} | {warm['tokens_per_s'] / seq['tokens_per_s']:.2f}x |"
        )
    if report.get("decode"):
        lines += [
            "",
            f"Decoding alone: {report['story_prompt_tokens']}-token prompt, up to "
            f"{report['decode_max_tokens']} tokens per sample, temperature 0.7; median of "
            f"{report['decode_repeats']} repeats.",
            "",
            "| N | sequential tok/s | batched tok/s | batched / sequential |",
            "|---|---|---|---|",
        ]
        for row in report["decode"]:
            seq, bat = row["sequential"]["tokens_per_s"], row["batched"]["tokens_per_s"]
            lines.append(f"| {row['n']} | {seq:.1f} | {bat:.1f} | {bat / seq:.2f}x |")
    e2e = report["end_to_end"]
    if e2e:
        before = e2e["before"]["wall_s"]
        lines += [
            "",
            f"Best-of-N end to end (N = 8, output cap {report['max_tokens']}, all eight drawn); "
            f"median of {report['repeats']} runs.",
            "",
            "| run | wall s | speed-up | output tokens | tokens in all | right answer among |",
            "|---|---|---|---|---|---|",
        ]
        names = {
            "before": "`batched=False` (before)",
            "after": "batched model, one candidate per step",
            "after_one_step": "batched model, eight candidates in one step",
        }
        for key, label in names.items():
            cell = e2e[key]
            lines.append(
                f"| {label} | {cell['wall_s']:.1f} | {before / cell['wall_s']:.2f}x | "
                f"{cell['tokens_out']:.0f} | {cell['tokens']:.0f} | "
                f"{cell['correct']}/{len(cell['runs'])} runs |"
            )
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ns", default="1,2,4,8,16")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--no-end-to-end", action="store_true")
    parser.add_argument("--decode-tokens", type=int, default=96)
    parser.add_argument("--decode-repeats", type=int, default=2)
    parser.add_argument("--no-decode", action="store_true")
    args = parser.parse_args()
    from importlib.metadata import version

    load_start = load_average()
    ns = [int(n) for n in args.ns.split(",")]
    rows = throughput(ns, args.repeats, args.max_tokens)
    decode = [] if args.no_decode else decode_only(ns, args.decode_repeats, args.decode_tokens)
    e2e = {} if args.no_end_to_end else asyncio.run(end_to_end(args.repeats, args.max_tokens))
    probe = EmbeddedChatModel.from_name("smollm2")
    report = {
        "llama_cpp": version("llama-cpp-python"),
        "load_start": load_start,
        "load_end": load_average(),
        "repeats": args.repeats,
        "max_tokens": args.max_tokens,
        "prompt_tokens": probe.count_prompt_tokens(messages_for(PROBLEMS[0])),
        "throughput": rows,
        "decode": decode,
        "decode_max_tokens": args.decode_tokens,
        "decode_repeats": args.decode_repeats,
        "story_prompt_tokens": probe.count_prompt_tokens([HumanMessage(STORY)]),
        "end_to_end": e2e,
    }
    write_report(report, table(report), RESULTS / "sampling.json")


if __name__ == "__main__":
    main()
