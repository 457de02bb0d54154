"""The run viewer's data: a run's reasoning tree and its history, built from its checkpoints.

`build_view` is a pure function from a run's record and its checkpoints (every namespace:
nested strategies checkpoint on their own) to one JSON-ready `RunView`:

- ``nodes``: the problem (id ``root``) and every candidate and reasoning step, with its
  text, extracted answer, score, verdict, critique, the strategy that drew it and its tokens;
- ``edges``: parent-to-child links (a candidate whose parent is unknown hangs off the root);
- ``frames``: one per checkpoint, in the order they were taken, with the tokens, calls and
  cost spent by then; each node carries ``born``, the first frame it exists in, and
  ``judged``, the first frame its verdict or score is known in, so the viewer can show the
  tree as it stood at any checkpoint (candidates are only ever added, never removed);
- ``votes``, ``answer``, ``winner`` and ``winning_path`` (root first).

`aload_view` reads a stored run and builds its view (`load_view` is its sync twin).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any, TypedDict, cast

from langgraph.checkpoint.base import CheckpointTuple

from ponder._sync import run_sync
from ponder.api import DEFAULT_DB
from ponder.budget import BudgetLimits
from ponder.errors import ConfigurationError
from ponder.persistence.runs import RunRecord
from ponder.state import ROOT_ID, Candidate, RunError
from ponder.stores import Db

__all__ = (
    "VIEW_FORMAT",
    "RunView",
    "ViewFrame",
    "ViewNode",
    "ViewRun",
    "aload_view",
    "build_view",
    "load_view",
    "nested_strategies",
    "winning_node",
)

VIEW_FORMAT = "ponder-run-view/1"
"""The version tag of the `RunView` layout."""


class ViewNode(TypedDict):
    """One node of the reasoning tree: the problem, a candidate, or a reasoning step."""

    id: str
    """The candidate's id, or ``root`` for the problem."""
    parent: str | None
    """The parent's id; ``None`` for the root."""
    kind: str
    """``problem`` for the root, else the candidate's kind (``attempt``, ``step``, ...)."""
    strategy: str
    """The strategy that drew it: ``adaptive``, or ``adaptive > beam-search`` when nested."""
    node: str
    """The graph node that made it."""
    prompt: str
    """The prompt template's name."""
    text: str
    """The full text (the problem, for the root)."""
    answer: str | None
    """The extracted answer."""
    score: float | None
    """The verifier's score."""
    verdict: str | None
    """``accepted``, ``rejected``, ``unverified``, or ``None`` when no verifier ran."""
    reason: str | None
    """The verifier's explanation."""
    critique: str | None
    """The critique made of it, if any."""
    tokens_in: int
    """Prompt tokens of its model call."""
    tokens_out: int
    """Generated tokens of its model call."""
    latency_s: float
    """Seconds its call took."""
    temperature: float | None
    """Sampling temperature of its call."""
    seed: int | None
    """Sampling seed of its call."""
    finish_reason: str | None
    """How its call ended."""
    depth: int
    """Edges from the root."""
    born: int
    """Index of the first frame it exists in."""
    judged: int | None
    """Index of the first frame its verdict or score is known in; ``None`` if never."""
    on_path: bool
    """Whether it is on the winning path."""
    votes_for_answer: bool
    """Whether its answer is the run's answer."""


class ViewFrame(TypedDict):
    """The run as it stood at one checkpoint."""

    checkpoint_id: str
    """The checkpoint's id."""
    namespace: str
    """The strategy whose checkpoint it is (``adaptive > refine`` for a nested one)."""
    step: int
    """The LangGraph step of that (sub)graph."""
    seconds: float
    """Seconds since the run's first checkpoint."""
    tokens: int
    """Tokens spent by then (in + out)."""
    calls: int
    """Model calls made by then."""
    cost: float
    """Money spent by then."""
    nodes: int
    """Tree nodes that exist by then, the root included."""


class ViewRun(TypedDict):
    """What the run registry knows about the run."""

    run_id: str
    """The run's id."""
    strategy: str
    """The strategy's name."""
    problem: str
    """The problem."""
    options: dict[str, Any]
    """The strategy's options."""
    model: str | None
    """The model spec (``None`` for the default embedded model)."""
    status: str
    """``running``, ``paused``, ``done`` or ``failed``."""
    stop_reason: str | None
    """Why the strategy stopped."""
    answer: str | None
    """The run's (provisional) answer."""
    budget: BudgetLimits
    """The run's limits."""
    tokens: int
    """Tokens spent."""
    calls: int
    """Model calls made."""
    seconds: float
    """Wall seconds spent."""
    created_at: float
    """When the run started (Unix time)."""
    updated_at: float
    """When its record last changed (Unix time)."""


class RunView(TypedDict):
    """Everything the viewer shows of one run (plain JSON data)."""

    format: str
    """`VIEW_FORMAT`."""
    run: ViewRun
    """The run's record."""
    nodes: list[ViewNode]
    """The tree's nodes, root first, then candidates in the order drawn."""
    edges: list[tuple[str, str]]
    """Parent-to-child links."""
    frames: list[ViewFrame]
    """One per checkpoint, oldest first."""
    votes: dict[str, float]
    """Answer -> votes, as the run's last checkpoint has them."""
    answer: str | None
    """The run's answer."""
    winner: str | None
    """The id of the candidate that carries the answer, if any."""
    winning_path: list[str]
    """Ids from the root to the winner (empty without a winner)."""
    errors: list[RunError]
    """Failures recorded during the run."""


def winning_node(nodes: Iterable[ViewNode], answer: str | None) -> ViewNode | None:
    """Return the node that carries ``answer``: the best-scored one, else the first drawn.

    As the ``best_score`` selection does, a node scored 0 never wins on its score.

    Example:
        >>> nodes = [
        ...     {"id": "c0", "kind": "attempt", "answer": "4", "score": None},
        ...     {"id": "c1", "kind": "attempt", "answer": "4", "score": 0.9},
        ... ]
        >>> winning_node(nodes, "4")["id"]
        'c1'
    """
    if answer is None:
        return None
    carrying = [n for n in nodes if n["kind"] != "problem" and n["answer"] == answer]
    scored = [n for n in carrying if n["score"] is not None and n["score"] > 0]
    if scored:
        return max(scored, key=lambda n: cast(float, n["score"]))  # max keeps the first on ties
    return carrying[0] if carrying else None


def nested_strategies(strategy: str, options: Mapping[str, Any]) -> dict[str, str]:
    """Return the strategy nested under each node of ``strategy``'s graph (node -> name).

    Example:
        >>> nested_strategies("adaptive", {})
        {'refine': 'refine', 'search': 'beam-search'}
    """
    from ponder.graphs.registry import compiled, make_config, strategy_spec

    spec = strategy_spec(strategy)
    graph = compiled(spec.name, make_config(spec, options))
    return {name: str(sub.name) for name, sub in graph.get_subgraphs()}


def _namespace_label(strategy: str, namespace: str, nested: Mapping[str, str]) -> str:
    if not namespace:
        return strategy
    parts = [part.split(":", 1)[0] for part in namespace.split("|")]
    return " > ".join([strategy, *(nested.get(part, part) for part in parts)])


def _seconds(ts: str, start: datetime | None) -> tuple[float, datetime | None]:
    try:
        moment = datetime.fromisoformat(ts)
    except (TypeError, ValueError):
        return 0.0, start
    if start is None:
        return 0.0, moment
    return max(0.0, (moment - start).total_seconds()), start


def _root(problem: str) -> ViewNode:
    return ViewNode(
        id=ROOT_ID, parent=None, kind="problem", strategy="", node="", prompt="", text=problem,
        answer=None, score=None, verdict=None, reason=None, critique=None, tokens_in=0,
        tokens_out=0, latency_s=0.0, temperature=None, seed=None, finish_reason=None, depth=0,
        born=0, judged=None, on_path=False, votes_for_answer=False,
    )  # fmt: skip


def _node(candidate: Candidate, strategy: str, born: int) -> ViewNode:
    return ViewNode(
        id=candidate["id"], parent=candidate["parent_id"], kind=candidate["kind"],
        strategy=strategy, node=candidate["node"], prompt=candidate["prompt"],
        text=candidate["text"], answer=candidate["answer"], score=candidate["score"],
        verdict=candidate["verdict"], reason=candidate["reason"],
        critique=candidate["critique"], tokens_in=candidate["tokens_in"],
        tokens_out=candidate["tokens_out"], latency_s=candidate["latency_s"],
        temperature=candidate["temperature"], seed=candidate["seed"],
        finish_reason=candidate["finish_reason"], depth=0, born=born,
        judged=born if _is_judged(candidate) else None, on_path=False, votes_for_answer=False,
    )  # fmt: skip


def _is_judged(candidate: Candidate) -> bool:
    return candidate["verdict"] is not None or candidate["score"] is not None


def _link(nodes: dict[str, ViewNode]) -> list[tuple[str, str]]:
    """Fix parents (unknown -> root, cycles broken at the root), set depths, list the edges."""
    for node in nodes.values():
        if node["id"] != ROOT_ID and node["parent"] not in nodes:
            node["parent"] = ROOT_ID
    depth: dict[str, int] = {ROOT_ID: 0}

    def depth_of(node_id: str) -> int:
        chain: list[str] = []
        while node_id not in depth:
            if node_id in chain:  # a malformed tree with a cycle: cut it at the root
                nodes[node_id]["parent"] = ROOT_ID
                depth[node_id] = 1
                break
            chain.append(node_id)
            node_id = cast(str, nodes[node_id]["parent"])
        base = depth[node_id]
        for offset, ancestor in enumerate(reversed(chain), start=1):
            depth[ancestor] = base + offset
        return depth[chain[0]] if chain else depth[node_id]

    edges: list[tuple[str, str]] = []
    for node in nodes.values():
        node["depth"] = depth_of(node["id"])
        if node["parent"] is not None:
            edges.append((node["parent"], node["id"]))
    return edges


def _ordered(checkpoints: Iterable[CheckpointTuple]) -> list[CheckpointTuple]:
    # Checkpoint ids are time-ordered (uuid6) across namespaces, as LangGraph sorts them.
    return sorted(checkpoints, key=lambda item: item.checkpoint["id"])


def build_view(record: RunRecord, checkpoints: Iterable[CheckpointTuple]) -> RunView:
    """Build the viewer's data for one run from its record and its checkpoints.

    Args:
        record: The run's registry record.
        checkpoints: Its checkpoints, in any order, from every namespace (nested strategies
            included).
    """
    try:
        nested = nested_strategies(record["strategy"], record["options"])
    except ConfigurationError:  # a run of a strategy or option this ponder no longer has
        nested = {}
    nodes: dict[str, ViewNode] = {ROOT_ID: _root(record["problem"])}
    seen: dict[str, Candidate] = {}
    frames: list[ViewFrame] = []
    last: Mapping[str, Any] = {}
    start: datetime | None = None
    spent = {"tokens": 0, "calls": 0, "cost": 0.0}
    for index, item in enumerate(_ordered(checkpoints)):
        values = item.checkpoint["channel_values"]
        namespace = str(item.config["configurable"].get("checkpoint_ns", ""))
        label = _namespace_label(record["strategy"], namespace, nested)
        for candidate in cast(list[Candidate], values.get("candidates", [])):
            if seen.get(candidate["id"]) == candidate:
                continue  # unchanged since the checkpoint before (most are)
            seen[candidate["id"]] = candidate
            known = nodes.get(candidate["id"])
            if known is None:
                nodes[candidate["id"]] = _node(candidate, label, index)
                continue
            judged = known["judged"]
            known.update(_node(candidate, known["strategy"], known["born"]))  # newest wins
            known["judged"] = judged
            if judged is None and _is_judged(candidate):
                known["judged"] = index
        ledger = cast(list[dict[str, Any]], values.get("ledger", []))
        spent["tokens"] = max(
            spent["tokens"], sum(e["tokens_in"] + e["tokens_out"] for e in ledger)
        )
        spent["calls"] = max(spent["calls"], len(ledger))
        spent["cost"] = max(spent["cost"], sum(float(e.get("cost", 0.0)) for e in ledger))
        seconds, start = _seconds(item.checkpoint["ts"], start)
        frames.append(
            ViewFrame(
                checkpoint_id=item.checkpoint["id"],
                namespace=label,
                step=int(item.metadata.get("step", -1)),
                seconds=round(seconds, 3),
                tokens=int(spent["tokens"]),
                calls=int(spent["calls"]),
                cost=float(spent["cost"]),
                nodes=len(nodes),
            )
        )
        if not namespace:
            last = values
    edges = _link(nodes)
    answer = cast("str | None", last.get("answer")) or record["answer"]
    winner = winning_node(nodes.values(), answer)
    path: list[str] = []
    if winner is not None and winner["id"] in nodes:
        node_id: str | None = winner["id"]
        while node_id is not None:
            path.append(node_id)
            nodes[node_id]["on_path"] = True
            node_id = nodes[node_id]["parent"]
        path.reverse()
    for node in nodes.values():
        node["votes_for_answer"] = answer is not None and node["answer"] == answer
    return RunView(
        format=VIEW_FORMAT,
        run=ViewRun(
            run_id=record["run_id"],
            strategy=record["strategy"],
            problem=record["problem"],
            options=dict(record["options"]),
            model=record["model"],
            status=record["status"],
            stop_reason=record["stop_reason"],
            answer=record["answer"],
            budget=record["budget"],
            tokens=record["tokens"],
            calls=record["calls"],
            seconds=record["seconds"],
            created_at=record["created_at"],
            updated_at=record["updated_at"],
        ),
        nodes=list(nodes.values()),
        edges=edges,
        frames=frames,
        votes=dict(cast(dict[str, float], last.get("votes", {}))),
        answer=answer,
        winner=None if winner is None else winner["id"],
        winning_path=path,
        errors=list(cast(list[RunError], last.get("errors", []))),
    )


async def aload_view(run_id: str, *, db: Db = DEFAULT_DB) -> RunView:
    """Read run ``run_id`` from ``db`` and build its view.

    ``db`` is a database URL, a LangGraph saver URL or a saver object (see
    `ponder.stores`); for a thread of a user's own graph, the view is of the ponder
    strategy inside it (its latest).

    Raises:
        ConfigurationError: There is no such run.
        CheckpointError: Its record or a checkpoint is damaged.
    """
    from ponder.setup import check_state, get_record, open_store

    async with open_store(db) as store:
        record = await get_record(store, run_id)
        checkpoints = await store.acheckpoints(record)
    for item in checkpoints:
        check_state(item.checkpoint["channel_values"], f"run {run_id!r}")
    return build_view(record, checkpoints)


def load_view(run_id: str, *, db: Db = DEFAULT_DB) -> RunView:
    """Sync twin of `aload_view`."""
    return run_sync(aload_view(run_id, db=db), name="load_view")
