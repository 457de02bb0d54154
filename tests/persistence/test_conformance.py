"""LangGraph's checkpointer conformance suite, in full, on both backends.

The suite skips, silently, every capability it does not detect, so the test also checks that
it detected all of them.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.checkpoint.conformance import checkpointer_test, validate
from langgraph.checkpoint.conformance.capabilities import (
    ALL_CAPABILITIES,
    Capability,
    DetectedCapabilities,
)
from langgraph.checkpoint.conformance.spec import (
    test_copy_thread,
    test_delete_for_runs,
    test_delete_thread,
    test_get_tuple,
    test_list,
    test_prune,
    test_put,
    test_put_writes,
)

from ponder.persistence import SqlCheckpointer
from tests.persistence.conftest import StoreSpec

SUITE_SIZES = {
    "put": len(test_put.ALL_PUT_TESTS),
    "put_writes": len(test_put_writes.ALL_PUT_WRITES_TESTS),
    "get_tuple": len(test_get_tuple.ALL_GET_TUPLE_TESTS),
    "list": len(test_list.ALL_LIST_TESTS),
    "delete_thread": len(test_delete_thread.ALL_DELETE_THREAD_TESTS),
    "delete_for_runs": len(test_delete_for_runs.ALL_DELETE_FOR_RUNS_TESTS),
    "copy_thread": len(test_copy_thread.ALL_COPY_THREAD_TESTS),
    "prune": len(test_prune.ALL_PRUNE_TESTS),
}


def test_the_suite_knows_eight_capabilities() -> None:
    assert len(Capability) == 8
    assert set(Capability) == ALL_CAPABILITIES


def test_every_capability_is_detected() -> None:
    saver = SqlCheckpointer.from_url("sqlite+aiosqlite:///never-opened.db")
    detected = DetectedCapabilities.from_instance(saver)
    saver.close()
    assert detected.detected == ALL_CAPABILITIES
    assert not detected.missing


async def test_conformance(backend: str, new_store: Callable[[], StoreSpec]) -> None:
    async def fresh_saver() -> AsyncIterator[BaseCheckpointSaver[str]]:
        # The suite reuses fixed thread ids ("thread-0"), so each capability gets a new store.
        async with new_store().open() as saver:
            yield saver

    registered = checkpointer_test(name=f"SqlCheckpointer[{backend}]")(fresh_saver)
    report = await validate(registered)

    results = report.results
    assert set(results) == {capability.value for capability in Capability}
    assert {name for name, result in results.items() if result.detected} == set(results)
    failures = {name: result.failures for name, result in results.items() if not result.passed}
    assert not failures
    assert {name: result.tests_passed for name, result in results.items()} == SUITE_SIZES
    assert report.conformance_level() == "FULL"
