"""SqlCheckpointer behaviour the conformance suite does not cover, on both backends."""

from __future__ import annotations

import asyncio
import gc
import threading
import warnings
from typing import Any

import pytest
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    BaseCheckpointSaver,
    ChannelVersions,
    CheckpointTuple,
    writes_sort_key,
)
from langgraph.checkpoint.conformance.test_utils import (
    generate_checkpoint,
    generate_config,
    generate_metadata,
)
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.serde.jsonplus import JsonPlusSerializer
from langgraph.checkpoint.serde.types import ERROR, INTERRUPT

from ponder.errors import CheckpointError, ConfigurationError
from ponder.persistence import SqlCheckpointer, StrictSerializer
from tests.persistence.conftest import StoreSpec


async def put(
    saver: BaseCheckpointSaver[Any],
    thread_id: str,
    *,
    checkpoint_ns: str = "",
    parent: RunnableConfig | None = None,
    values: dict[str, Any] | None = None,
    new_versions: ChannelVersions | None = None,
    meta: dict[str, Any] | None = None,
    **metadata: Any,
) -> RunnableConfig:
    values = values or {}
    versions: ChannelVersions = {channel: 1 for channel in values}
    config = generate_config(thread_id, checkpoint_ns=checkpoint_ns)
    if parent is not None:
        config["configurable"]["checkpoint_id"] = parent["configurable"]["checkpoint_id"]
    checkpoint = generate_checkpoint(channel_values=values, channel_versions=versions)
    return await saver.aput(
        config,
        checkpoint,
        generate_metadata(**(meta or {}), **metadata),
        versions if new_versions is None else new_versions,
    )


async def listed(saver: BaseCheckpointSaver[Any], *args: Any, **kwargs: Any) -> list[str]:
    return [item.checkpoint["id"] async for item in saver.alist(*args, **kwargs)]


# -- listing ----------------------------------------------------------------------------------


async def test_list_across_threads_and_namespaces(saver: SqlCheckpointer) -> None:
    stored = []
    for thread_id in ("t-a", "t-b", "t-c"):
        parent = await put(saver, thread_id, step=0, owner=thread_id)
        stored += [parent, await put(saver, thread_id, parent=parent, step=1, owner=thread_id)]
    stored.append(await put(saver, "t-a", checkpoint_ns="child:1", step=0, owner="t-a"))
    ids = [config["configurable"]["checkpoint_id"] for config in stored]

    assert await listed(saver, None) == sorted(ids, reverse=True)
    assert await listed(saver, None, limit=3) == sorted(ids, reverse=True)[:3]
    assert len(await listed(saver, None, filter={"step": 1})) == 3
    assert len(await listed(saver, None, filter={"owner": "t-a"})) == 3
    assert len(await listed(saver, None, filter={"owner": "t-a"}, limit=2)) == 2
    # No checkpoint_ns in the config: every namespace of the thread.
    assert len(await listed(saver, {"configurable": {"thread_id": "t-a"}})) == 3
    assert len(await listed(saver, generate_config("t-a", checkpoint_ns=""))) == 2
    assert len(await listed(saver, generate_config("t-a", checkpoint_ns="child:1"))) == 1
    before = {"configurable": {"thread_id": "t-b", "checkpoint_id": max(ids)}}
    assert await listed(saver, None, before=before) == sorted(ids, reverse=True)[1:]
    assert await listed(saver, None, limit=0) == []


async def test_list_pages_through_many_checkpoints(saver: SqlCheckpointer) -> None:
    parent = None
    ids = []
    for step in range(230):  # more than two pages of 100
        parent = await put(saver, "long", parent=parent, step=step, parity=step % 2)
        ids.append(parent["configurable"]["checkpoint_id"])
    assert await listed(saver, generate_config("long")) == ids[::-1]
    assert await listed(saver, generate_config("long"), filter={"parity": 1}) == ids[::-2]
    assert (
        await listed(saver, generate_config("long"), filter={"parity": 0}, limit=101)
        == (ids[-2::-2][:101])
    )


async def test_config_without_checkpoint_ns(saver: SqlCheckpointer) -> None:
    bare: RunnableConfig = {"configurable": {"thread_id": "bare"}}
    checkpoint = generate_checkpoint(channel_values={"x": 1}, channel_versions={"x": 1})
    stored = await saver.aput(bare, checkpoint, generate_metadata(), {"x": 1})
    assert stored["configurable"]["checkpoint_ns"] == ""
    await saver.aput_writes(
        {"configurable": {"thread_id": "bare", "checkpoint_id": checkpoint["id"]}},
        [("x", 2)],
        "task",
    )
    found = await saver.aget_tuple(bare)
    assert found is not None
    assert found.config == stored
    assert found.checkpoint["channel_values"] == {"x": 1}
    assert found.pending_writes == [("task", "x", 2)]
    assert await listed(saver, bare) == [checkpoint["id"]]


async def test_config_without_thread_id_is_refused(saver: SqlCheckpointer) -> None:
    with pytest.raises(ConfigurationError, match="thread_id"):
        await saver.aget_tuple({"configurable": {}})
    with pytest.raises(ConfigurationError, match="thread_id"):
        await saver.aput({"configurable": {}}, generate_checkpoint(), generate_metadata(), {})


# -- pending writes ---------------------------------------------------------------------------


async def test_pending_writes_come_in_writes_sort_key_order(saver: SqlCheckpointer) -> None:
    memory = InMemorySaver()
    calls: list[tuple[str, str, list[tuple[str, Any]]]] = [
        ("task-b", "~2", [("a", 1), ("b", 2), ("c", 3)]),
        ("task-a", "~2", [("a", 4), (ERROR, "boom")]),
        ("task-c", "", [("a", 5)]),  # graph input / update_state: no task path, sorts first
        ("task-z", "~0", [("z", 6), ("y", 7)]),
        ("task-m", "~10", [("m", 8)]),
    ]
    for target in (saver, memory):
        stored = await put(target, "order")
        for task_id, task_path, pending in calls:
            await target.aput_writes(stored, pending, task_id, task_path)
    found = await saver.aget_tuple(generate_config("order"))
    expected = await memory.aget_tuple(generate_config("order"))
    assert found is not None and expected is not None
    assert found.pending_writes == expected.pending_writes
    paths = {task_id: path for task_id, path, _ in calls}
    keys = [
        writes_sort_key(paths[task_id], task_id, index)
        for index, (task_id, _, _) in enumerate(found.pending_writes or [])
    ]
    assert [key[:2] for key in keys] == sorted(key[:2] for key in keys)
    listed_tuple = [item async for item in saver.alist(generate_config("order"))][0]
    assert listed_tuple.pending_writes == expected.pending_writes


async def test_repeated_writes_keep_the_first_but_special_channels_the_last(
    saver: SqlCheckpointer,
) -> None:
    stored = await put(saver, "repeat")
    await saver.aput_writes(stored, [("ch", "first")], "task")
    await saver.aput_writes(stored, [("ch", "second")], "task")
    await saver.aput_writes(stored, [(INTERRUPT, "first")], "task")
    await saver.aput_writes(stored, [(INTERRUPT, "second")], "task")
    found = await saver.aget_tuple(stored)
    assert found is not None
    assert sorted(found.pending_writes or []) == [
        ("task", INTERRUPT, "second"),
        ("task", "ch", "first"),
    ]


# -- values -----------------------------------------------------------------------------------

ODD_TEXT = (
    "NUL:\x00 emoji:😀👩‍👩‍👧‍👦 flag:🇫🇷 astral:𝔘𝔫𝔦 RTL:\u202eעברית العربية\u202c "
    "combining:e\u0301 BOM:\ufeff separators:\u2028\u2029 nbsp:\u00a0 "
    "quotes:' \" ` ; -- $ . [0]"
)

VALUES: dict[str, Any] = {
    "bytes": b"\x00\x01\xff binary",
    "empty-bytes": b"",
    "bytearray": bytearray(b"\x00mutable"),
    "none": None,
    "large-bytes": bytes(range(256)) * 4096,  # 1 MiB
    "large-text": "x" * (1 << 20),
    "odd-text": ODD_TEXT,
    "nested": {ODD_TEXT: [ODD_TEXT, None, b"\x00", 1.5, True, {"": ""}], "": -(2**63)},
    "empty-string": "",
    "zero": 0,
}


@pytest.mark.parametrize("name", sorted(VALUES))
async def test_values_round_trip_exactly(saver: SqlCheckpointer, name: str) -> None:
    value = VALUES[name]
    stored = await put(saver, f"value-{name}", values={"channel": value})
    await saver.aput_writes(stored, [("channel", value)], "task")
    found = await saver.aget_tuple(stored)
    assert found is not None
    loaded = found.checkpoint["channel_values"]["channel"]
    assert loaded == value
    assert type(loaded) is type(value)
    assert found.pending_writes == [("task", "channel", value)]


async def test_odd_text_in_keys_and_metadata(saver: SqlCheckpointer) -> None:
    keys = ODD_TEXT.replace("\x00", "")  # NUL is refused in keys, see below
    stored = await put(
        saver,
        keys,
        checkpoint_ns=keys,
        values={keys: keys},
        meta={keys: keys},
    )
    found = await saver.aget_tuple(stored)
    assert found is not None
    assert found.config["configurable"]["thread_id"] == keys
    assert found.config["configurable"]["checkpoint_ns"] == keys
    assert found.checkpoint["channel_values"] == {keys: keys}
    assert found.metadata[keys] == keys  # type: ignore[literal-required]
    assert await listed(saver, None, filter={keys: keys}) == [found.checkpoint["id"]]


async def test_lone_surrogates_are_stored_as_every_langgraph_saver_stores_them(
    saver: SqlCheckpointer,
) -> None:
    # A lone surrogate is not encodable text; LangGraph's serializer writes it as "?" in every
    # saver (msgpack OPT_REPLACE_SURROGATES). ponder matches InMemorySaver exactly.
    memory = InMemorySaver()
    value = {"text": "a\ud800b\udfffc", "pair": "\ud83d\ude00"}
    results = []
    for target in (saver, memory):
        stored = await put(target, "surrogates", values={"channel": value})
        found = await target.aget_tuple(stored)
        assert found is not None
        results.append(found.checkpoint["channel_values"]["channel"])
    assert results[0] == results[1] == {"text": "a?b?c", "pair": "?" * 2}


@pytest.mark.parametrize("bad", ["nul\x00inside", "lone\ud800surrogate"])
async def test_keys_must_be_text_without_nul(saver: SqlCheckpointer, bad: str) -> None:
    with pytest.raises(ConfigurationError, match="thread_id"):
        await put(saver, bad)
    with pytest.raises(ConfigurationError, match="checkpoint_ns"):
        await put(saver, "ok", checkpoint_ns=bad)
    stored = await put(saver, "ok")
    with pytest.raises(ConfigurationError, match="channel"):
        await saver.aput_writes(stored, [(bad, 1)], "task")
    assert await listed(saver, None) == [stored["configurable"]["checkpoint_id"]]


async def test_unchanged_channels_are_stored_once(saver: SqlCheckpointer, store: StoreSpec) -> None:
    big = "y" * 100_000
    parent = await put(saver, "blobs", values={"big": big, "step": 0})
    for step in range(1, 6):
        config = generate_config("blobs")
        config["configurable"]["checkpoint_id"] = parent["configurable"]["checkpoint_id"]
        checkpoint = generate_checkpoint(
            channel_values={"big": big, "step": step},
            channel_versions={"big": 1, "step": step + 1},
        )
        parent = await saver.aput(config, checkpoint, generate_metadata(), {"step": step + 1})
    rows = store.query(
        "SELECT channel, count(*) FROM ponder_checkpoint_blobs GROUP BY channel ORDER BY channel"
    )
    assert rows == [("big", 1), ("step", 6)]
    found = await saver.aget_tuple(parent)
    assert found is not None
    assert found.checkpoint["channel_values"] == {"big": big, "step": 5}


# -- metadata filters -------------------------------------------------------------------------

HOSTILE_KEYS = [
    "it's",
    'say "hi"',
    "$.source",
    "$",
    "a.b",
    "a[0]",
    "]['x",
    "-- comment",
    "x'); DROP TABLE ponder_checkpoints; --",
    '$."a"',
    "\\",
    "%_",
    "",
]


async def test_hostile_metadata_filter_keys(saver: SqlCheckpointer, store: StoreSpec) -> None:
    hostile = {name: f"value of {name}" for name in HOSTILE_KEYS}
    target = await put(saver, "hostile", meta=hostile)
    decoy = await put(saver, "hostile", meta={name: "decoy" for name in HOSTILE_KEYS})
    assert target != decoy
    for name, value in hostile.items():
        found = [item async for item in saver.alist(None, filter={name: value})]
        assert [item.config for item in found] == [target], name
        assert found[0].metadata[name] == value  # type: ignore[literal-required]
        assert await listed(saver, None, filter={name: "no such value"}) == []
        assert await listed(saver, None, filter={value: name}) == []
    assert len(await listed(saver, None, filter=hostile)) == 1
    assert store.query("SELECT count(*) FROM ponder_checkpoints") == [(2,)]


async def test_metadata_filters_compare_types(saver: SqlCheckpointer) -> None:
    await put(saver, "types", flag=True, count=1, pair=[1, 2], nested={"a": [1]})
    assert len(await listed(saver, None, filter={"flag": True})) == 1
    assert await listed(saver, None, filter={"flag": 1}) == []
    assert await listed(saver, None, filter={"count": True}) == []
    assert len(await listed(saver, None, filter={"count": 1.0})) == 1
    assert len(await listed(saver, None, filter={"pair": (1, 2)})) == 1
    assert len(await listed(saver, None, filter={"nested": {"a": [1]}})) == 1
    # As in InMemorySaver, a missing key equals None.
    assert len(await listed(saver, None, filter={"missing": None})) == 1


# -- serialization ----------------------------------------------------------------------------


async def test_serializer_is_always_strict(saver: SqlCheckpointer, store: StoreSpec) -> None:
    assert isinstance(saver.serde, StrictSerializer)
    with pytest.raises(ConfigurationError, match="StrictSerializer"):
        saver.serde = JsonPlusSerializer(pickle_fallback=True)
    assert saver.with_allowlist([("os", "system")]) is saver
    assert isinstance(saver.serde, StrictSerializer)

    class Opaque:
        pass

    with pytest.raises(CheckpointError, match="plain data"):
        await put(saver, "strict", values={"channel": Opaque()})
    stored = await put(saver, "strict", values={"channel": [1]})
    await saver.aput_writes(stored, [("channel", 2)], "task")
    tags = store.query(
        "SELECT type FROM ponder_checkpoints UNION SELECT metadata_type FROM ponder_checkpoints "
        "UNION SELECT type FROM ponder_checkpoint_blobs "
        "UNION SELECT type FROM ponder_checkpoint_writes"
    )
    assert {tag for (tag,) in tags} == {"msgpack"}


@pytest.mark.parametrize("table", ["ponder_checkpoint_blobs", "ponder_checkpoint_writes"])
async def test_unknown_type_tags_are_refused(
    saver: SqlCheckpointer, store: StoreSpec, table: str
) -> None:
    stored = await put(saver, "tagged", values={"channel": [1]})
    await saver.aput_writes(stored, [("channel", 2)], "task")
    statement = {
        "ponder_checkpoint_blobs": "UPDATE ponder_checkpoint_blobs SET type = 'pickle'",
        "ponder_checkpoint_writes": "UPDATE ponder_checkpoint_writes SET type = 'pickle'",
    }[table]
    store.query(statement)
    with pytest.raises(CheckpointError, match="type tag 'pickle'"):
        await saver.aget_tuple(stored)


# -- delta channels, prune, copy --------------------------------------------------------------


async def build_delta_thread(saver: BaseCheckpointSaver[Any]) -> list[RunnableConfig]:
    """A chain where channel "d" is stored at step 2 only, written at every step; plus a fork."""
    configs: list[RunnableConfig] = []
    parent: RunnableConfig | None = None
    versions = {"d": "1", "plain": "1"}
    for step in range(6):
        config = generate_config("delta")
        if parent is not None:
            config["configurable"]["checkpoint_id"] = parent["configurable"]["checkpoint_id"]
        versions = {"d": str(step + 1), "plain": str(step + 1)}
        values: dict[str, Any] = {"plain": step}
        if step == 2:
            values["d"] = ["seed"]
        checkpoint = generate_checkpoint(channel_values=values, channel_versions=dict(versions))
        metadata = generate_metadata(step=step, counters_since_delta_snapshot={"d": [step, step]})
        parent = await saver.aput(config, checkpoint, metadata, dict(versions))
        await saver.aput_writes(parent, [("d", f"w{step}-a"), ("plain", step)], "task-1", "~1")
        await saver.aput_writes(parent, [("d", f"w{step}-b")], "task-0", "~0")
        configs.append(parent)
    fork = generate_config("delta")
    fork["configurable"]["checkpoint_id"] = configs[3]["configurable"]["checkpoint_id"]
    checkpoint = generate_checkpoint(channel_values={}, channel_versions=dict(versions))
    metadata = generate_metadata(step=4, counters_since_delta_snapshot={"d": [2, 2]})
    configs.append(await saver.aput(fork, checkpoint, metadata, {}))
    return configs


async def test_delta_channel_history_matches_the_reference_walk(saver: SqlCheckpointer) -> None:
    configs = await build_delta_thread(saver)
    for config in [*configs, generate_config("delta"), generate_config("nothing-here")]:
        for channels in (["d"], ["d", "plain", "absent"], []):
            fast = await saver.aget_delta_channel_history(config=config, channels=channels)
            slow = await BaseCheckpointSaver.aget_delta_channel_history(
                saver, config=config, channels=channels
            )
            assert fast == slow
    history = await saver.aget_delta_channel_history(config=configs[5], channels=["d"])
    assert history["d"]["seed"] == ["seed"]
    assert [value for _, _, value in history["d"]["writes"]] == [
        "w2-b",
        "w2-a",
        "w3-b",
        "w3-a",
        "w4-b",
        "w4-a",  # fmt: skip
    ]


async def test_delta_history_survives_a_parent_loop(saver: SqlCheckpointer) -> None:
    # Re-putting a checkpoint under its own descendant makes the parent chain a loop.
    first = await put(saver, "loop", values={"d": "one"}, new_versions={})
    second = await put(saver, "loop", parent=first)
    config = generate_config("loop")
    config["configurable"]["checkpoint_id"] = second["configurable"]["checkpoint_id"]
    checkpoint = generate_checkpoint(channel_versions={"d": 1})
    checkpoint["id"] = first["configurable"]["checkpoint_id"]
    await saver.aput(config, checkpoint, generate_metadata(), {})
    await saver.aput_writes(first, [("d", "w")], "task")
    history = await saver.aget_delta_channel_history(config=second, channels=["d"])
    assert history == {"d": {"writes": [("task", "d", "w")]}}


async def test_prune_keep_latest_keeps_the_delta_chain(
    saver: SqlCheckpointer, store: StoreSpec
) -> None:
    configs = await build_delta_thread(saver)
    latest = configs[-1]  # the fork: its chain is 3 -> 2 (the seed)
    before = await saver.aget_delta_channel_history(config=latest, channels=["d"])
    await saver.aprune(["delta"], strategy="keep_latest")
    kept = await listed(saver, generate_config("delta"))
    assert kept == [
        config["configurable"]["checkpoint_id"] for config in (latest, configs[3], configs[2])
    ]
    assert await saver.aget_delta_channel_history(config=latest, channels=["d"]) == before
    found = await saver.aget_tuple(configs[2])
    assert found is not None and found.checkpoint["channel_values"]["d"] == ["seed"]
    # Values no kept checkpoint names are gone: the fork names version 6, the others 4 and 3.
    assert sorted(store.query("SELECT channel, version FROM ponder_checkpoint_blobs")) == [
        ("d", "3"),
        ("plain", "3"),
        ("plain", "4"),
        ("plain", "6"),
    ]


async def test_prune_keep_latest_collects_unused_values(
    saver: SqlCheckpointer, store: StoreSpec
) -> None:
    parent = None
    for step in range(4):
        parent = await put(saver, "gc", parent=parent, values={"v": step}, new_versions=None)
    await saver.aprune(["gc"], strategy="keep_latest")
    assert store.query("SELECT count(*) FROM ponder_checkpoints") == [(1,)]
    # Every put above names "v" at version 1: one value, kept for the latest checkpoint.
    assert store.query("SELECT count(*) FROM ponder_checkpoint_blobs") == [(1,)]
    with pytest.raises(ConfigurationError, match="keep_latest, delete"):
        await saver.aprune(["gc"], strategy="everything")


async def test_delete_for_runs_collects_unused_values(
    saver: SqlCheckpointer, store: StoreSpec
) -> None:
    first = await put(saver, "runs", values={"a": "one"}, run_id="run-1")
    config = generate_config("runs")
    config["configurable"]["checkpoint_id"] = first["configurable"]["checkpoint_id"]
    checkpoint = generate_checkpoint(channel_values={"a": "two"}, channel_versions={"a": 2})
    second = await saver.aput(config, checkpoint, generate_metadata(run_id="run-2"), {"a": 2})
    await saver.aput_writes(first, [("a", "w")], "task")
    await saver.adelete_for_runs(["run-1"])
    assert await listed(saver, None) == [second["configurable"]["checkpoint_id"]]
    assert store.query("SELECT version FROM ponder_checkpoint_blobs") == [("2",)]
    assert store.query("SELECT count(*) FROM ponder_checkpoint_writes") == [(0,)]


async def test_copy_thread_refuses_a_used_target(saver: SqlCheckpointer) -> None:
    await put(saver, "source", values={"a": 1})
    await put(saver, "target")
    with pytest.raises(ConfigurationError, match="already has checkpoints"):
        await saver.acopy_thread("source", "target")
    with pytest.raises(ConfigurationError, match="onto itself"):
        await saver.acopy_thread("source", "source")
    await saver.acopy_thread("source", "copy")
    found = await saver.aget_tuple(generate_config("copy"))
    assert found is not None and found.checkpoint["channel_values"] == {"a": 1}


# -- sync API, loops, lifecycle ---------------------------------------------------------------


def test_sync_api(store: StoreSpec) -> None:
    with store.open() as saver:
        config = generate_config("sync")
        checkpoint = generate_checkpoint(channel_values={"a": [1]}, channel_versions={"a": 1})
        stored = saver.put(config, checkpoint, generate_metadata(run_id="r"), {"a": 1})
        saver.put_writes(stored, [("a", [2])], "task")
        found = saver.get_tuple(stored)
        assert isinstance(found, CheckpointTuple)
        assert found.checkpoint["channel_values"] == {"a": [1]}
        assert found.pending_writes == [("task", "a", [2])]
        assert saver.get(stored) == found.checkpoint
        assert [item.config for item in saver.list(None)] == [stored]
        assert [item.config for item in saver.list(None, filter={"run_id": "r"}, limit=5)] == [
            stored
        ]
        assert saver.get_delta_channel_history(config=stored, channels=["a"]) == {
            "a": {"writes": []}
        }
        assert saver.get_delta_channel_history(config=stored, channels=[]) == {}
        saver.copy_thread("sync", "sync-copy")
        saver.prune(["sync-copy"])
        assert len(list(saver.list({"configurable": {"thread_id": "sync-copy"}}))) == 1
        saver.delete_for_runs(["r"])
        assert list(saver.list(None)) == []
        saver.put(config, checkpoint, generate_metadata(), {"a": 1})
        saver.delete_thread("sync")
        assert saver.get_tuple(config) is None
    saver.close()  # idempotent


async def test_sync_api_refuses_inside_a_running_loop(saver: SqlCheckpointer) -> None:
    config = generate_config("refused")
    checkpoint = generate_checkpoint()
    calls = {
        "get_tuple": lambda: saver.get_tuple(config),
        "list": lambda: saver.list(None),
        "put": lambda: saver.put(config, checkpoint, generate_metadata(), {}),
        "put_writes": lambda: saver.put_writes(config, [], "task"),
        "delete_thread": lambda: saver.delete_thread("refused"),
        "delete_for_runs": lambda: saver.delete_for_runs(["run"]),
        "copy_thread": lambda: saver.copy_thread("a", "b"),
        "prune": lambda: saver.prune(["refused"]),
        "get_delta_channel_history": lambda: saver.get_delta_channel_history(
            config=config, channels=["a"]
        ),
        "close": saver.close,
    }
    for name, call in calls.items():
        with pytest.raises(ConfigurationError, match=rf"{name}\(\).*await saver\.a{name}"):
            call()
    assert await saver.aget_tuple(config) is None  # still open and usable


def test_one_saver_serves_many_event_loops(store: StoreSpec) -> None:
    saver = store.open()

    async def write(step: int) -> None:
        await put(saver, "loops", step=step)

    for step in range(3):  # each asyncio.run is a new loop, as in ponder.solve()
        asyncio.run(write(step))
    assert len(list(saver.list(None))) == 3
    asyncio.run(saver.aclose())


@pytest.mark.parametrize("used", [True, False])
async def test_closed_saver_refuses_work(store: StoreSpec, used: bool) -> None:
    saver = store.open()
    if used:
        await saver.setup()
    await saver.aclose()
    await saver.aclose()
    with pytest.raises(CheckpointError, match="closed"):
        await saver.aget_tuple(generate_config("closed"))
    with pytest.raises(CheckpointError, match="closed"):
        await saver.aput(generate_config("closed"), generate_checkpoint(), generate_metadata(), {})


def test_unclosed_saver_warns(store: StoreSpec) -> None:
    saver = store.open()
    assert saver.get_tuple(generate_config("leak")) is None
    with pytest.warns(ResourceWarning, match="unclosed SqlCheckpointer"):
        del saver
        gc.collect()


def test_unused_saver_needs_no_close(store: StoreSpec) -> None:
    threads_before = set(threading.enumerate())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # record every warning, ResourceWarning included
        saver = store.open()
        del saver
        gc.collect()
    # Nothing was opened: no warning, no thread left running, nothing written to the store.
    assert [f"{w.category.__name__}: {w.message}" for w in caught] == []
    assert set(threading.enumerate()) <= threads_before
    if store.path is not None:
        assert not store.path.exists()
    else:
        assert store.query(
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name = $1",
            store.schema,
        ) == [(0,)]


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mysql+aiomysql://u@h/db", "supports SQLite and PostgreSQL"),
        ("sqlite+pysqlite:///x.db", "async driver aiosqlite"),
        ("postgresql+psycopg://u@h/db", "async driver asyncpg"),
        ("sqlite+aiosqlite://", "InMemorySaver"),
        ("sqlite+aiosqlite:///:memory:", "InMemorySaver"),
        ("not a url", "not a database URL"),
    ],
)
def test_unusable_urls_are_refused(url: str, message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        SqlCheckpointer.from_url(url)


def test_schema_is_for_postgres_only(tmp_path: Any) -> None:
    with pytest.raises(ConfigurationError, match="schema= is for PostgreSQL"):
        SqlCheckpointer.from_url(f"sqlite:///{tmp_path}/x.db", schema="s")
    saver = SqlCheckpointer.from_url(f"sqlite:///{tmp_path}/x.db")
    assert repr(saver).startswith("SqlCheckpointer('sqlite+aiosqlite:///")
    saver.close()
