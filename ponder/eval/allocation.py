"""Compute-optimal allocation: fit the adaptive strategy's policy on stored samples.

The adaptive strategy (`ponder.graphs.adaptive`) probes a problem with a few cheap samples,
reads a difficulty *bin* off them (`ponder.nodes.plan.bin_of`: how many probes agree with
the greedy answer, and whether the greedy answer was confident) and spends what the bin's
`ponder.nodes.plan.Action` says: more samples, program-aided checks, a selection rule. This
module fits that table, as Snell et al. fit theirs, on *stored* samples, so every action is
scored on the same samples (paired):

1. `adraw_pool` draws, per held-in problem, the greedy answer, ``samples`` more at the
   strategy's temperature and ``programs`` program-aided answers (the first greedy), each
   with its answer, its correctness, its tokens and the model's confidence (a *pool*).
2. `simulate` replays an action on a pool row exactly as the strategy would run it
   (programs only when the samples disagree), giving its answer's correctness and tokens.
3. `fit_policy` chooses, per bin, the action that maximizes ``right - penalty x tokens``
   on the tune split, for a range of penalties (a curve of policies), and keeps the most
   accurate one within ``max_ratio`` times greedy's tokens.

The fitted policy is a JSON file (`ponder.nodes.plan.AllocationPolicy`); the one ponder
ships was fitted by ``ponder fit-policy`` on SmolLM2's tune splits and is reported on the
report splits by ``benchmarks/allocation.py``.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from langchain_core.language_models import BaseChatModel

from ponder.errors import ConfigurationError
from ponder.eval.datasets import Problem, load_dataset, split_of
from ponder.eval.scorers import SCORERS, score
from ponder.models.confidence import confidence_of
from ponder.models.traits import traits_of
from ponder.nodes.metered import program_code
from ponder.nodes.plan import Action, AllocationPolicy, bin_of
from ponder.nodes.select import ConfidenceVote, choose, programs_can_move
from ponder.prompts import FEW_SHOT, PROGRAM
from ponder.verify.sandbox import run_python

__all__ = (
    "ACTIONS",
    "Outcome",
    "PoolRow",
    "acomplete_pool",
    "adraw_pool",
    "candidates_of",
    "fit_policy",
    "held_in",
    "is_right",
    "play",
    "pool_of",
    "simulate",
)

PoolRow = dict[str, Any]
"""One problem's stored pool: ``dataset``, ``id``, ``split``, ``greedy`` (a draw),
``samples`` and ``programs`` (lists of draws); a draw holds ``answer``, ``correct``,
``tokens_in``, ``tokens_out`` and ``confidence``."""

ACTIONS: tuple[Action, ...] = (
    Action(samples=1, programs=0, select="anchored"),
    Action(samples=3, programs=0, select="majority"),
    Action(samples=3, programs=4, select="anchored"),
    Action(samples=3, programs=0, select="confidence"),
    Action(samples=5, programs=0, select="majority"),
    Action(samples=5, programs=4, select="anchored"),
    Action(samples=5, programs=0, select="confidence"),
    Action(samples=9, programs=0, select="majority"),
    Action(samples=9, programs=4, select="anchored"),
    Action(samples=9, programs=0, select="confidence"),
    Action(samples=3, programs=4, select="ranked"),
    Action(samples=5, programs=4, select="ranked"),
    Action(samples=9, programs=4, select="ranked"),
)
"""The actions fitted over: the greedy answer alone; 3, 5 or 9 chain-of-thought answers
(the greedy one first) chosen by majority, by confidence, anchored on greedy with four
programs as evidence, or by the fitted answer ranker with four programs
(`ponder.nodes.rank`)."""


def held_in(problems: Iterable[Problem], per_split: int) -> list[tuple[str, Problem]]:
    """The first ``per_split`` problems of each held-in split, with their split's name."""
    chosen: list[tuple[str, Problem]] = []
    counts = {"tune": 0, "report": 0}
    for problem in problems:
        part = split_of(problem.question)
        if counts[part] < per_split:
            counts[part] += 1
            chosen.append((part, problem))
        if min(counts.values()) >= per_split:
            break
    return chosen


async def _draw(problem: Problem, message: Any, answer: str | None) -> dict[str, Any]:
    usage = message.usage_metadata or {}
    return {
        "answer": answer,
        "correct": await score(problem, answer),
        "tokens_in": int(usage.get("input_tokens", 0)),
        "tokens_out": int(usage.get("output_tokens", 0)),
        "confidence": confidence_of(message.response_metadata),
        "text": message.text,
    }


async def adraw_pool(
    model: BaseChatModel,
    problems: Sequence[tuple[str, Problem]],
    *,
    dataset: str,
    samples: int = 8,
    programs: int = 4,
    temperature: float = 0.7,
    max_tokens: int = 256,
    progress: Callable[[int, int], None] | None = None,
) -> list[PoolRow]:
    """Draw the pool of each problem (see the module docstring), one problem at a time.

    Samples use ponder's few-shot prompt with seeds ``1..samples`` (the greedy answer seed
    0), programs the ``program`` prompt, run in ponder's sandbox; answers are read by each
    problem's scorer's extractor (for numbers ponder's default, which repairs stated
    arithmetic).
    """
    style = traits_of(model).prompt_style
    generate_n = getattr(model, "agenerate_n", None)

    async def several(prompt: Any, messages: Any, n: int, seeds: list[int]) -> list[Any]:
        options = {"max_tokens": max_tokens, "temperature": temperature,
                   "stop": prompt.stop(style)}  # fmt: skip
        if n == 0:
            return []
        if generate_n is not None:  # one batched decode on the embedded model
            return list(await generate_n(messages, n, seeds=seeds, **options))
        return list(await asyncio.gather(*(model.ainvoke(messages, seed=s, **options)
                                           for s in seeds)))  # fmt: skip

    async def greedy(prompt: Any, messages: Any) -> Any:
        return await model.ainvoke(messages, max_tokens=max_tokens, temperature=0.0, seed=0,
                                   stop=prompt.stop(style))  # fmt: skip

    async def program_draws(messages: Any) -> list[Any]:
        if not programs:
            return []
        first, more = await asyncio.gather(
            greedy(PROGRAM, messages),
            several(PROGRAM, messages, programs - 1, list(range(1, programs))),
        )
        return [first, *more]

    rows: list[PoolRow] = []
    for done, (part, problem) in enumerate(problems, 1):
        extract = SCORERS[problem.scorer].extract
        thought = FEW_SHOT.render(style, problem=problem.question)
        code = PROGRAM.render(style, problem=problem.question)
        first, rest, codes = await asyncio.gather(
            greedy(FEW_SHOT, thought),
            several(FEW_SHOT, thought, samples, list(range(1, samples + 1))),
            program_draws(code),
        )  # fmt: skip
        drawn = [first, *rest, *codes]
        thoughts = [await _draw(problem, m, extract(m.text)) for m in drawn[: samples + 1]]
        printed = []
        for message in drawn[samples + 1 :]:
            run = await run_python(program_code(message.text))
            printed.append(await _draw(problem, message, extract(run.stdout) if run.ok else None))
        rows.append({
            "dataset": dataset, "id": problem.id, "split": part, "expected": problem.answer,
            "greedy": thoughts[0], "samples": thoughts[1:], "programs": printed,
        })  # fmt: skip
        if progress is not None:
            progress(done, len(problems))
    return rows


async def acomplete_pool(
    model: BaseChatModel,
    datasets: Sequence[str],
    store: str | Path,
    *,
    per_split: int,
    splits: Sequence[str] = ("tune", "report"),
) -> list[PoolRow]:
    """Draw the pools ``store`` lacks, write it every ten problems, return every stored row.

    The pools are those of the first ``per_split`` problems of each of ``splits`` of each
    of ``datasets``. A corrupt ``store`` is a `ConfigurationError`; progress goes to stderr.
    """
    path = Path(store)
    try:
        rows: list[PoolRow] = json.loads(path.read_text()) if path.exists() else []
        if not isinstance(rows, list):
            raise ValueError("not a list of pool rows")
    except (OSError, ValueError) as exc:
        raise ConfigurationError(f"cannot read the pool {path}: {exc}") from exc
    loaded = {name: load_dataset(name) for name in datasets}  # a bad name fails before a call
    have = {(r.get("dataset"), r.get("id")) for r in rows}
    for name, dataset in loaded.items():
        todo = [
            item for item in held_in(dataset.problems, per_split)
            if item[0] in splits and (name, item[1].id) not in have
        ]  # fmt: skip
        total = len(todo)
        for start in range(0, total, 10):

            def progress(
                done: int, _: int, start: int = start, name: str = name, total: int = total
            ) -> None:
                print(f"\r{name}: {start + done}/{total} problems", end="", file=sys.stderr,
                      flush=True)  # fmt: skip

            chunk = todo[start : start + 10]
            rows += await adraw_pool(model, chunk, dataset=name, progress=progress)
            path.write_text(json.dumps(rows))
        if todo:
            print(file=sys.stderr)
    return rows


def candidates_of(row: PoolRow, samples: int, *, programs: int = 0) -> list[dict[str, Any]]:
    """The candidate-shaped dicts of a row's greedy answer, its next samples and programs."""

    def shaped(draw: dict[str, Any], kind: str, temperature: float) -> dict[str, Any]:
        return {"kind": kind, "answer": draw["answer"], "temperature": temperature,
                "confidence": draw.get("confidence"), "score": None, "verdict": None}  # fmt: skip

    pool = [shaped(row["greedy"], "probe", 0.0)]
    pool += [shaped(d, "probe", 0.7) for d in row["samples"][: samples - 1]]
    pool += [shaped(d, "program", 0.7) for d in row["programs"][:programs]]
    return pool


def pool_of(row: PoolRow, samples: int, *, programs: int = 0) -> list[dict[str, Any]]:
    """The candidates of ``row`` after ``samples`` answers, as the strategies draw them.

    With ``programs`` only when they could move the answer
    (`ponder.nodes.select.programs_can_move`).
    """
    pool = candidates_of(row, samples)
    if programs and programs_can_move(pool):  # type: ignore[arg-type]
        pool = candidates_of(row, samples, programs=programs)
    return pool


def is_right(row: PoolRow, answer: str | None) -> bool:
    """Whether ``answer`` is right for ``row``, by the stored scores of its draws."""
    draws = [row["greedy"], *row["samples"], *row["programs"]]
    return answer is not None and any(d["answer"] == answer and d["correct"] for d in draws)


def _tokens(draws: Iterable[dict[str, Any]]) -> int:
    return sum(d["tokens_in"] + d["tokens_out"] for d in draws)


@dataclass(frozen=True, slots=True)
class Outcome:
    """What an action did on one pool row."""

    right: bool
    """Whether its answer is right."""
    tokens: int
    """Tokens it spent (prompts and outputs), probes included."""


def simulate(row: PoolRow, action: Action, *, probes: int = 3) -> Outcome:
    """Replay ``action`` on a stored pool row as the adaptive strategy runs it.

    The ``probes`` are always paid for (they decide the bin) and vote, as every candidate
    does at the strategy's select; the action's samples beyond them next; its programs only
    when they could move the answer (`ponder.nodes.select.programs_can_move`).
    """
    thoughts = max(probes, action.samples)
    pool = pool_of(row, thoughts, programs=action.programs)
    drawn = sum(c["kind"] == "program" for c in pool)
    paid = [row["greedy"], *row["samples"][: thoughts - 1], *row["programs"][:drawn]]
    answer, _ = choose(action.select, pool, ConfidenceVote())  # type: ignore[arg-type]
    return Outcome(right=is_right(row, answer), tokens=_tokens(paid))


def _fit_bins(outcomes: dict[str, list[list[Outcome]]], penalty: float) -> dict[str, int]:
    """Per bin, the index of the action with the most ``right - penalty x tokens``."""
    chosen = {}
    for name, per_action in outcomes.items():
        gains = [sum(o.right - penalty * o.tokens for o in rows) for rows in per_action]
        chosen[name] = max(range(len(gains)), key=lambda i: (round(gains[i], 9), -i))
    return chosen


def fit_policy(
    rows: Sequence[PoolRow],
    *,
    actions: Sequence[Action] = ACTIONS,
    probes: int = 3,
    max_ratio: float = 4.0,
    model: str = "",
    fitted_on: dict[str, Any] | None = None,
) -> tuple[AllocationPolicy, list[dict[str, Any]]]:
    """Fit the allocation policy on ``rows`` (the tune split's pools).

    Returns the policy kept (the most accurate within ``max_ratio`` times the tokens of the
    greedy answer alone, on ``rows``) and the curve of every distinct policy tried (its
    penalty, mean tokens and accuracy on ``rows``).
    """
    if not rows:
        raise ValueError("fit_policy needs at least one pool row")
    greedy_conf = sorted(value for r in rows if (value := _mean_logprob(r["greedy"])) is not None)
    threshold = greedy_conf[len(greedy_conf) // 2] if greedy_conf else None
    # Every action's outcome on every row, once; a row adds it to each bin it belongs to.
    index_of = {action: i for i, action in enumerate(actions)}
    probe_pools = [candidates_of(row, probes) for row in rows]
    per_row = [[simulate(row, action, probes=probes) for action in actions] for row in rows]
    outcomes: dict[str, list[list[Outcome]]] = {}
    for pool, played in zip(probe_pools, per_row, strict=True):
        for name in {bin_of(pool, threshold), bin_of(pool, None), "*"}:
            per_action = outcomes.setdefault(name, [[] for _ in actions])
            for index, outcome in enumerate(played):
                per_action[index].append(outcome)
    greedy_tokens = sum(_tokens([r["greedy"]]) for r in rows) / len(rows)
    curve: list[dict[str, Any]] = []
    seen: set[tuple[tuple[str, int], ...]] = set()
    for step in range(0, 61):
        penalty = 0.0 if step == 0 else 10 ** (-6 + step / 10)
        chosen = _fit_bins(outcomes, penalty)
        key = tuple(sorted(chosen.items()))
        if key in seen:
            continue
        seen.add(key)
        policy = AllocationPolicy(
            probes=probes, threshold=threshold, bins={b: actions[i] for b, i in chosen.items()},
            model=model, penalty=penalty, fitted_on=fitted_on or {"problems": len(rows)},
        )  # fmt: skip
        # What `play` gives, read off the outcomes above (every row's bin is in the table).
        played = [
            outcomes_of[index_of[policy.action_for(pool)]]
            for pool, outcomes_of in zip(probe_pools, per_row, strict=True)
        ]
        curve.append({
            "penalty": penalty, "policy": policy,
            "tokens": sum(o.tokens for o in played) / len(rows),
            "accuracy": sum(o.right for o in played) / len(rows),
        })  # fmt: skip
    within = [c for c in curve if c["tokens"] <= max_ratio * greedy_tokens] or curve[-1:]
    best = max(within, key=lambda c: (c["accuracy"], -c["tokens"]))
    return best["policy"], curve


def play(policy: AllocationPolicy, row: PoolRow) -> Outcome:
    """Run ``policy`` on one stored pool row: its bin's action, simulated."""
    action = policy.action_for(candidates_of(row, policy.probes))
    return simulate(row, action, probes=policy.probes)


def _mean_logprob(draw: dict[str, Any]) -> float | None:
    value = (draw.get("confidence") or {}).get("mean_logprob")
    return float(value) if isinstance(value, (int, float)) else None
