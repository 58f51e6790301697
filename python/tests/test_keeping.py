"""Tables a reader keeps cost the ring their own bytes: producers never stop for them; retained
history for late subscribers; fork children leave the parent's holds alone."""
import gc
import json
import multiprocessing
import os

import numpy as np
import pyarrow as pa
import pytest

import arrowring as ar


def numbered(number: int, rows: int) -> pa.Table:
    """A table whose every value derives from its number: checkable after any wait."""
    values = np.arange(rows, dtype=np.int64) * 7 + number
    return pa.table({"number": pa.array(np.full(rows, number, dtype=np.int64)), "values": values})


def intact(table: pa.Table) -> bool:
    number = table.column("number")[0].as_py()
    return table.equals(numbered(number, table.num_rows))


def stats(ring: ar.Ring) -> dict:
    return json.loads(ring._core.stats_json())


def test_a_subscriber_keeping_the_latest_table_per_tag_never_stops_the_producer(ring_name):
    ring = ar.Ring.create(ring_name, capacity=64 * 2**20, policy="block")
    sub = ring.subscribe("store")
    pub = ring.publisher(timeout=5.0)  # a kept table that blocked the ring would time out here
    latest = {}
    for number in range(200):  # 1 MiB tables: three laps of the ring
        pub.publish(numbered(number, 2**17))
        table = sub.next(timeout=5.0)
        assert table is not None and intact(table)
        if number % 50 < 5:  # the latest table of each of 5 tags, replaced one time in 50
            latest[number % 5] = table
    assert all(intact(table) for table in latest.values())
    assert stats(ring)["messages_kept_total"] > 0, "kept tables left the window while the producer went on"
    assert stats(ring)["messages_dropped"] == 0
    del table, latest
    gc.collect()
    assert stats(ring)["kept_messages"] == 0


def test_a_retaining_ring_keeps_history_for_a_subscriber_starting_at_the_oldest(ring_name):
    ring = ar.Ring.create(ring_name, capacity=1 * 2**20, retain=True)
    pub = ring.publisher()
    for number in range(40):  # ~32 KiB each: the first ones give way for space
        pub.publish(numbered(number, 4096))
    history = ring.subscribe("late", start="oldest")
    numbers = []
    while (table := history.next(timeout=0)) is not None:
        assert intact(table)
        numbers.append(table.column("number")[0].as_py())
    assert numbers == list(range(numbers[0], 40)) and numbers[0] > 0, "the newest ones, in order"
    assert stats(ring)["messages_given_way"] == numbers[0]
    with pytest.raises(ar.InvalidArgumentError, match="oldest"):
        ring.subscribe("bad", start="yesterday")


def _child_exits_normally_after_dropping_what_it_inherited(held, subscriber, ring):
    del held, subscriber, ring
    gc.collect()


def test_a_fork_child_exiting_normally_leaves_the_parents_tables_and_subscription_alone(ring_name):
    ring = ar.Ring.create(ring_name, capacity=8 * 2**20)
    sub = ring.subscribe("parent")
    ring.publisher().publish(numbered(5, 1000))
    held = sub.next(timeout=5.0)
    child = multiprocessing.get_context("fork").Process(
        target=_child_exits_normally_after_dropping_what_it_inherited, args=(held, sub, ring))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert intact(held)
    holders = stats(ring)["holders"]
    assert [h["count"] for h in holders if h["kind"] == "read" and h["pid"] == os.getpid()] == [1]
    ring.publisher().publish(numbered(6, 1000))
    assert intact(sub.next(timeout=5.0)), "the parent's subscription still works"


def _produce_numbered(ring_name: str, first: int, count: int, rows: int) -> None:
    pub = ar.Ring.attach(ring_name).publisher(timeout=30.0)  # a kept table that blocked would time out
    for number in range(first, first + count):
        pub.publish(numbered(number, rows))


@pytest.mark.parametrize("how", ["per-tag", "random"])
def test_keepers_in_one_process_never_stop_producers_in_others(ring_name, how):
    ring = ar.Ring.create(ring_name, capacity=32 * 2**20, policy="block")
    sub = ring.subscribe("keeper")
    context = multiprocessing.get_context("spawn")
    producers = [context.Process(target=_produce_numbered, args=(ring_name, p * 1000, 300, 2**15)) for p in range(2)]
    for producer in producers:
        producer.start()
    kept, random, received = {}, np.random.default_rng(7), 0
    try:
        while received < 600:
            table = sub.next(timeout=60.0)
            assert table is not None, "a producer stopped"
            assert intact(table)
            received += 1
            number = table.column("number")[0].as_py()
            if how == "per-tag" and number % 50 < 5:
                kept[number % 5] = table  # the latest table of each of 5 tags
            elif how == "random" and random.random() < 0.3:
                kept[number] = (table, received + int(random.integers(1, 200)))
                for key in [k for k, (_, until) in kept.items() if until <= received]:
                    assert intact(kept.pop(key)[0])
    finally:
        for producer in producers:
            producer.join(timeout=60)
            if producer.exitcode is None:
                producer.kill()
    assert [p.exitcode for p in producers] == [0, 0]
    tables = kept.values() if how == "per-tag" else (t for t, _ in kept.values())
    assert all(intact(t) for t in tables)
    assert stats(ring)["messages_kept_total"] > 0
