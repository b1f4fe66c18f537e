"""The read batcher: who shares a statement, who waits, and what each caller is told."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

import pytest

from article_service.db.batching import Batcher


class Store:
    """A fetch that records each batch and answers when the test says so."""

    def __init__(self, values: dict[str, int]) -> None:
        self.values = values
        self.batches: list[list[str]] = []
        self.gate: asyncio.Event | None = None  # set: hold every batch until it is set
        self.fail: Exception | None = None
        self.finished = 0

    async def fetch(self, keys: list[str]) -> Mapping[str, int]:
        self.batches.append(sorted(keys))
        snapshot = dict(self.values)  # what the "database" holds when the statement runs
        if self.gate is not None:
            await self.gate.wait()
        self.finished += 1
        if self.fail is not None:
            raise self.fail
        return {key: snapshot[key] for key in keys if key in snapshot}


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_lone_call_goes_at_once_and_gets_its_value():
    store = Store({"a": 1})
    batcher = Batcher(store.fetch)
    assert await batcher.load("a") == 1
    assert await batcher.load("missing") is None
    assert store.batches == [["a"], ["missing"]]


async def test_calls_made_while_a_batch_is_out_share_the_next_one():
    store = Store({"a": 1, "b": 2, "c": 3})
    store.gate = asyncio.Event()
    batcher = Batcher(store.fetch)
    first = asyncio.create_task(batcher.load("a"))
    await settle()
    later = [asyncio.create_task(batcher.load(key)) for key in ("b", "c", "b", "missing")]
    await settle()
    assert store.batches == [["a"]]  # the others wait for the one that is out
    store.gate.set()
    assert await first == 1
    assert await asyncio.gather(*later) == [2, 3, 2, None]
    assert store.batches == [["a"], ["b", "c", "missing"]]  # each distinct key once
    assert batcher.in_flight() == 0


async def test_a_call_never_gets_the_answer_of_a_statement_sent_before_it():
    store = Store({"a": 1})
    store.gate = asyncio.Event()
    batcher = Batcher(store.fetch)
    before = asyncio.create_task(batcher.load("a"))
    await settle()
    store.values["a"] = 2  # a write commits while the first statement is out
    after = asyncio.create_task(batcher.load("a"))
    await settle()
    store.gate.set()
    assert (await before, await after) == (1, 2)


async def test_an_error_reaches_every_caller_of_its_batch_and_the_next_batch_works():
    store = Store({"a": 1, "b": 2})
    store.gate = asyncio.Event()
    batcher = Batcher(store.fetch)
    blocked = asyncio.create_task(batcher.load("a"))
    await settle()
    store.fail = ConnectionError("database gone")
    waiting = [asyncio.create_task(batcher.load(key)) for key in ("a", "b")]
    await settle()
    store.gate.set()
    results = await asyncio.gather(blocked, *waiting, return_exceptions=True)
    assert all(isinstance(result, ConnectionError) for result in results)
    store.fail, store.gate = None, None
    assert await batcher.load("b") == 2


async def test_a_caller_that_gives_up_leaves_the_statement_running_for_the_others():
    store = Store({"a": 1})
    store.gate = asyncio.Event()
    batcher = Batcher(store.fetch)
    impatient = asyncio.create_task(batcher.load("a"))
    patient = asyncio.create_task(batcher.load("a"))
    await settle()
    impatient.cancel()
    await settle()
    store.gate.set()
    assert await patient == 1
    assert store.finished == 1  # the fetch was not cancelled with the caller
    assert impatient.cancelled()


async def test_a_wait_with_a_deadline_ends_at_its_deadline():
    store = Store({"a": 1})
    store.gate = asyncio.Event()
    batcher = Batcher(store.fetch)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(batcher.load("a"), 0.05)
    store.gate.set()
    await settle()
    assert store.finished == 1
    assert await batcher.load("a") == 1


async def test_lanes_wait_only_for_their_own_batches():
    store = Store({"slow": 1, "fast": 2})
    slow_gate = asyncio.Event()

    async def fetch(keys: list[str]) -> Mapping[str, int]:
        if keys == ["slow"]:
            await slow_gate.wait()
        return await store.fetch(keys)

    batcher = Batcher(fetch, lane=lambda key: key)
    slow = asyncio.create_task(batcher.load("slow"))
    await settle()
    assert await asyncio.wait_for(batcher.load("fast"), 1) == 2  # not behind "slow"
    assert batcher.lanes() == 1  # the fast lane, idle again, is gone
    slow_gate.set()
    assert await slow == 1
    assert batcher.lanes() == 0


async def test_a_big_crowd_is_split_into_batches_of_max_batch():
    store = Store({str(i): i for i in range(10)})
    store.gate = asyncio.Event()
    batcher = Batcher(store.fetch, max_batch=4, max_in_flight=3)
    first = asyncio.create_task(batcher.load("0"))
    await settle()
    store.gate.set()
    await first
    store.gate = asyncio.Event()
    crowd = [asyncio.create_task(batcher.load(str(i))) for i in range(10)]
    await settle()
    assert [len(batch) for batch in store.batches[1:]] == [4, 4, 2]
    store.gate.set()
    assert await asyncio.gather(*crowd) == list(range(10))


def test_limits_below_one_are_refused():
    async def fetch(keys: list[str]) -> Mapping[str, int]:
        return {}

    with pytest.raises(ValueError, match="at least 1"):
        Batcher(fetch, max_batch=0)
    with pytest.raises(ValueError, match="at least 1"):
        Batcher(fetch, max_in_flight=0)
