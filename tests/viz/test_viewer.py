"""The viewer's data, built from the checkpoints of real runs (scripted and embedded models)."""

from __future__ import annotations

import pytest

import ponder
from ponder import runs
from ponder.errors import ConfigurationError
from ponder.state import ROOT_ID
from ponder.testing import ScriptedChatModel
from ponder.viz import RunView, aload_view
from tests.viz.conftest import tree_model


def check_consistent(view: RunView, result: ponder.RunResult) -> None:
    """What every view must satisfy against the run it shows."""
    nodes = {n["id"]: n for n in view["nodes"]}
    assert view["nodes"][0]["id"] == ROOT_ID and view["nodes"][0]["kind"] == "problem"
    assert set(nodes) == {ROOT_ID} | {c["id"] for c in result.candidates}
    for candidate in result.candidates:
        node = nodes[candidate["id"]]
        assert (node["text"], node["answer"], node["score"], node["verdict"]) == (
            candidate["text"], candidate["answer"], candidate["score"], candidate["verdict"]
        )  # fmt: skip
        assert node["tokens_in"] + node["tokens_out"] == (
            candidate["tokens_in"] + candidate["tokens_out"]
        )
        assert node["critique"] == candidate["critique"]
    # Edges are the parent links, and depths follow them.
    assert sorted(view["edges"]) == sorted(
        (n["parent"], n["id"]) for n in view["nodes"] if n["parent"] is not None
    )
    for node in view["nodes"][1:]:
        assert node["depth"] == nodes[node["parent"]]["depth"] + 1  # type: ignore[index]
    # Time travel: the nodes of each frame are those born by then, never fewer later on.
    frames = view["frames"]
    assert frames, "a persisted run has checkpoints"
    counts = [f["nodes"] for f in frames]
    assert counts == sorted(counts)
    for index, frame in enumerate(frames):
        assert frame["nodes"] == sum(n["born"] <= index for n in view["nodes"])
    for node in view["nodes"]:
        assert node["judged"] is None or node["judged"] >= node["born"]
    spent = [f["tokens"] for f in frames]
    assert spent == sorted(spent) and spent[-1] == result.usage.tokens
    assert frames[-1]["calls"] == result.usage.calls
    # The answer, the votes and the winning path.
    assert view["answer"] == result.answer
    assert view["votes"] == result.votes
    if result.answer is None:
        assert view["winner"] is None and view["winning_path"] == []
        return
    path = view["winning_path"]
    assert path[0] == ROOT_ID and path[-1] == view["winner"]
    assert nodes[path[-1]]["answer"] == result.answer
    for parent, child in zip(path, path[1:], strict=False):
        assert nodes[child]["parent"] == parent
    assert {n["id"] for n in view["nodes"] if n["on_path"]} == set(path)


async def test_self_consistency_view(db: str) -> None:
    model = ScriptedChatModel(replies=["The answer is 4.", "It is 5.", "The answer is 4."])
    result = await ponder.asolve(
        "2 + 2?", model=model, db=db, run_id="sc", max_samples=5, min_samples=1, agreement=1.0
    )
    view = await aload_view("sc", db=db)
    check_consistent(view, result)
    assert view["run"]["strategy"] == "self-consistency" and view["run"]["status"] == "done"
    assert {n["strategy"] for n in view["nodes"][1:]} == {"self-consistency"}
    # With min_samples=1 the vote may stop after any sample, so one is drawn per step and
    # each is born in a later frame than the one before.
    borns = [n["born"] for n in view["nodes"][1:]]
    assert borns == sorted(borns) and len(set(borns)) == len(borns)
    assert view["winning_path"] == ["root", "c0"]  # the first candidate giving the answer
    assert sum(n["votes_for_answer"] for n in view["nodes"]) == view["votes"]["4"]


async def test_refine_view_has_chains_and_critiques(db: str) -> None:
    model = ScriptedChatModel(
        replies=["The answer is 5.", "Wrong: 2 + 2 is 4.", "The answer is 4.", "No errors."]
    )
    result = await ponder.asolve("2 + 2?", "refine", model=model, db=db, run_id="rf")
    view = await aload_view("rf", db=db)
    check_consistent(view, result)
    nodes = {n["id"]: n for n in view["nodes"]}
    assert nodes["c1"]["parent"] == "c0" and nodes["c1"]["kind"] == "refine"
    assert nodes["c0"]["critique"] == "Wrong: 2 + 2 is 4."
    assert view["winning_path"] == ["root", "c0", "c1"]


async def test_beam_search_view_is_a_tree(db: str) -> None:
    result = await ponder.asolve(
        "3 + 4?", "beam-search", model=tree_model(), db=db, run_id="bs",
        beam_width=2, branching=3, max_depth=2,
    )  # fmt: skip
    view = await aload_view("bs", db=db)
    check_consistent(view, result)
    depths = [n["depth"] for n in view["nodes"]]
    assert depths.count(1) == 3 and depths.count(2) == 6
    # Steps are scored after they are drawn: judged in a later frame than born.
    assert all(n["judged"] is not None and n["judged"] > n["born"] for n in view["nodes"][1:])
    assert len(view["winning_path"]) == 3


async def test_nested_strategies_are_labelled(db: str) -> None:
    result = await ponder.asolve(
        "3 + 4?", "adaptive", model=tree_model(), db=db, run_id="ad",
        budget=ponder.Budget(tokens=200_000), tokens_per_difficulty=20_000, escalate=True,
    )  # fmt: skip
    view = await aload_view("ad", db=db)
    check_consistent(view, result)
    labels = {n["strategy"] for n in view["nodes"][1:]}
    assert {"adaptive", "adaptive > refine", "adaptive > beam-search"} <= labels
    namespaces = {f["namespace"] for f in view["frames"]}
    assert {"adaptive", "adaptive > refine", "adaptive > beam-search"} <= namespaces


async def test_paused_then_resumed_run(db: str) -> None:
    model = ScriptedChatModel(replies=["The answer is 4.", "It is 5."])
    await ponder.asolve(
        "2 + 2?", model=model, db=db, run_id="pz", budget=ponder.Budget(calls=2),
        max_samples=4, agreement=1.0,
    )  # fmt: skip
    paused = await aload_view("pz", db=db)
    assert paused["run"]["status"] == "paused" and len(paused["nodes"]) == 3
    result = await runs.aresume("pz", db=db, add_calls=2, model=model)
    view = await aload_view("pz", db=db)
    check_consistent(view, result)
    assert len(view["frames"]) > len(paused["frames"]) and len(view["nodes"]) == 5


async def test_unknown_run(db: str) -> None:
    await ponder.asolve("2 + 2?", model=ScriptedChatModel(replies=["4"]), db=db, run_id="x")
    with pytest.raises(ConfigurationError, match="no run 'nope'"):
        await aload_view("nope", db=db)


@pytest.mark.embedded
async def test_view_of_an_embedded_model_run(embedded_run: tuple[str, ponder.RunResult]) -> None:
    db, result = embedded_run
    view = await aload_view("emb", db=db)
    check_consistent(view, result)
    assert len(view["nodes"]) >= 3 and max(n["depth"] for n in view["nodes"]) >= 1
