"""What readers hold across a ring re-created under its name, subscribers leaving while
messages are in flight, drop-oldest with several subscribers and holders, and the public API
no other test calls."""
import gc
import os
import threading
import time

import numpy as np
import pyarrow as pa
import pytest

import arrowring as ar
from ring_waits import asleep_on_the_ring

WATCHDOG = 60  # seconds: a hang fails the test instead of the suite


def numbered(i, rows=1000):
    """Table i: every value derived from i, so each can be checked."""
    return pa.table({"i": pa.array(np.full(rows, i, dtype=np.int64)),
                     "v": pa.array(np.arange(i * rows, (i + 1) * rows, dtype=np.int64))})


def index_of(table):
    return table["i"][0].as_py()


def wait_until_asleep_on(thread, ring):
    watchdog = time.monotonic() + WATCHDOG
    while not asleep_on_the_ring(thread, ring):
        assert thread.is_alive(), "the thread ended before it waited on the ring"
        assert time.monotonic() < watchdog, "watchdog: the thread never waited on the ring"
        os.sched_yield()


class Thread(threading.Thread):
    """A thread whose exception, or result, the test gets back from join()."""

    def __init__(self, target):
        super().__init__(daemon=True)
        self._target_fn, self.result, self.error = target, None, None

    def run(self):
        try:
            self.result = self._target_fn()
        except BaseException as error:  # noqa: BLE001 - handed to the test
            self.error = error

    def outcome(self):
        self.join(WATCHDOG)
        assert not self.is_alive(), "watchdog: the thread did not end"
        if self.error is not None:
            raise self.error
        return self.result


# --- a ring created again under the same name ------------------------------------------------

def test_what_readers_held_of_a_ring_stays_valid_after_it_is_removed_and_created_again(ring_name):
    old = ar.Ring.create(ring_name, capacity=4 * 2**20)
    sub = old.subscribe("reader")
    publisher = old.publisher(deliveries=1)
    first, second = numbered(1), numbered(2)
    publisher.publish(first)
    kept_handle = publisher.publish(second)
    table = sub.next(timeout=5)                       # held through a subscription
    slot = old._core.acquire(kept_handle)             # a read slot through a handle
    kept_bytes = bytes(memoryview(slot))
    old.unlink()
    new = ar.Ring.create(ring_name, capacity=4 * 2**20)
    assert new.ring_id != old.ring_id
    new_handle = new.publisher(deliveries=1).publish(numbered(3))
    # Nothing of the new ring shows through what was held of the old one.
    assert table.equals(first)
    assert bytes(memoryview(slot)) == kept_bytes
    assert pa.ipc.open_stream(pa.py_buffer(kept_bytes)).read_all().equals(second)
    # An old handle on the new ring is refused as another ring's, a new one loads.
    with pytest.raises(ar.WrongRingError):
        new.load(kept_handle)
    with pytest.raises(ar.WrongRingError):
        old.load(new_handle)
    assert new.load(new_handle).equals(numbered(3))
    slot.release()
    del table
    sub.close()


def test_load_by_ring_id_finds_the_new_ring_not_the_one_it_attached_before(ring_name):
    old = ar.Ring.create(ring_name, capacity=4 * 2**20)
    old_handle = old.publisher(deliveries=2).publish(numbered(1))
    assert ar.load(old_handle).equals(numbered(1))     # ar.load now keeps the old ring by its id
    old.unlink()
    new = ar.Ring.create(ring_name, capacity=4 * 2**20)
    new_handle = new.publisher(deliveries=1).publish(numbered(2))
    assert new_handle.ring_id != old_handle.ring_id
    assert ar.load(new_handle).equals(numbered(2))
    assert ar.load(old_handle).equals(numbered(1))     # the old segment, still mapped, by its own id
    assert new.stats()["messages_read"] == 1 and old.stats()["messages_read"] == 2


def test_a_subscriber_of_a_removed_ring_learns_it_is_gone_instead_of_waiting_forever(ring_name):
    old = ar.Ring.create(ring_name, capacity=4 * 2**20)
    sub = old.subscribe("orphan")
    waiting = Thread(lambda: sub.next(timeout=None))
    waiting.start()
    wait_until_asleep_on(waiting, old)
    old.unlink()
    ar.Ring.create(ring_name, capacity=4 * 2**20).publisher().publish(numbered(1))
    with pytest.raises(ar.NoSuchRingError, match="removed"):
        waiting.outcome()
    sub.close()


# --- a subscriber leaving while messages are in flight --------------------------------------

def test_a_subscriber_leaving_while_it_holds_a_delivered_table_keeps_the_table(ring):
    sub, other = ring.subscribe("leaver"), ring.subscribe("stayer")
    publisher = ring.publisher()
    for i in range(3):
        publisher.publish(numbered(i))
    held = sub.next(timeout=5)
    sub.close()  # two messages still due to it are released; the one it holds is not
    assert held.equals(numbered(0))
    assert [index_of(other.next(timeout=5)) for _ in range(3)] == [0, 1, 2]
    stats = ring.stats()
    assert [s["name"] for s in stats["subscribers"]] == ["stayer"]
    assert stats["committed_messages"] == 1, "only the table the leaver holds is left"
    del held
    gc.collect()
    assert ring.stats()["committed_messages"] == 0


def test_a_block_publisher_waiting_on_a_subscriber_wakes_when_it_leaves(ring_name):
    ring = ar.Ring.create(ring_name, capacity=2**20, policy="block")
    slow = ring.subscribe("slow")
    publisher = ring.publisher(timeout=WATCHDOG)
    published = 0
    while True:  # fill the ring with messages due to `slow`
        try:
            publisher.try_publish(numbered(published, rows=4000))
        except ar.RingFullError:
            break
        published += 1
    assert published >= 2
    check = ring.subscribe("check")  # joins now: due only what comes next
    blocked = Thread(lambda: ring.publisher(timeout=WATCHDOG).publish(numbered(99, rows=4000)))
    blocked.start()
    wait_until_asleep_on(blocked, ring)
    slow.close()
    handle = blocked.outcome()
    assert check.next(timeout=5).equals(numbered(99, rows=4000))
    assert handle.sequence == published
    check.close()


def test_a_subscriber_leaving_while_drop_oldest_drops_leaves_the_others_exact_counts(ring_name):
    ring = ar.Ring.create(ring_name, capacity=2**20, policy="drop-oldest")
    stays, leaves = ring.subscribe("stays"), ring.subscribe("leaves")
    total, leave_after = 200, 100
    left = threading.Event()
    publishing_resumed = threading.Event()

    def publish():
        publisher = ring.publisher(timeout=WATCHDOG)
        for i in range(total):
            if i == leave_after:
                publishing_resumed.set()
                assert left.wait(WATCHDOG), "watchdog"
            publisher.publish(numbered(i, rows=4000))
    producer = Thread(publish)
    producer.start()
    assert publishing_resumed.wait(WATCHDOG)
    assert ring.stats()["messages_dropped"] > 0, "drop-oldest was dropping when the subscriber left"
    leaves.close()
    left.set()
    producer.outcome()
    received, missed = [], 0
    while True:
        message = stays.next_message(timeout=0)
        if message is None:
            break
        missed += message.missed
        received.append(index_of(message.table))
    assert received == sorted(received) and len(set(received)) == len(received)
    assert len(received) + missed == total, "each table received or counted as missed"
    assert received[-1] == total - 1
    stats = ring.stats()
    assert missed == stats["messages_dropped"], "everything dropped was due to `stays`"
    assert [s["name"] for s in stats["subscribers"]] == ["stays"]


# --- drop-oldest with several subscribers and a holder ---------------------------------------

def test_drop_oldest_keeps_a_held_message_for_its_holder_and_counts_each_subscribers_misses_exactly(ring_name):
    """docs/design.md, Placement: a message owed to a subscriber and held by a reader is
    dropped for those it was owed to (each one's `missed`) and kept, intact, for its holder."""
    ring = ar.Ring.create(ring_name, capacity=2**20, policy="drop-oldest")
    holder, lagger = ring.subscribe("holder"), ring.subscribe("lagger")
    publisher = ring.publisher(timeout=WATCHDOG)
    rows = 4000  # about 64 KiB a table: 16 fit the ring
    publisher.publish(numbered(0, rows))
    held = holder.next(timeout=5)  # `holder` takes and keeps table 0; `lagger` reads nothing yet
    total = 60
    for i in range(1, total):
        publisher.publish(numbered(i, rows))
    stats = ring.stats()
    dropped = stats["messages_dropped"]
    assert dropped > 0
    assert stats["kept_messages"] == 1, "table 0 left the window, kept for its holder"
    counts = {}
    for name, sub in (("holder", holder), ("lagger", lagger)):
        received, missed = [], 0
        while True:
            message = sub.next_message(timeout=0)
            if message is None:
                break
            missed += message.missed
            received.append(index_of(message.table))
        counts[name] = (received, missed)
    holder_received, holder_missed = counts["holder"]
    lagger_received, lagger_missed = counts["lagger"]
    # Table 0, owed to `lagger` and held by `holder`: dropped for `lagger`, kept for `holder`,
    # its bytes intact after the writer went round the ring past them several times.
    assert held.equals(numbered(0, rows))
    assert 0 not in lagger_received
    assert lagger_missed == dropped
    assert holder_missed == dropped - 1, "table 0 was no longer owed to its holder"
    assert len(lagger_received) + lagger_missed == total
    assert len(holder_received) + 1 + holder_missed == total
    assert holder_received == lagger_received == sorted(lagger_received)
    assert lagger_received[-1] == total - 1
    per_subscriber = {s["name"]: s["missed"] for s in ring.stats()["subscribers"]}
    assert per_subscriber == {"holder": dropped - 1, "lagger": dropped}
    del held
    gc.collect()
    assert ring.stats()["kept_messages"] == 0


# --- public API no other test calls ----------------------------------------------------------

def test_try_publish_never_waits_and_says_ring_full(ring_name):
    ring = ar.Ring.create(ring_name, capacity=2**20, policy="block")
    sub = ring.subscribe("s")
    publisher = ring.publisher(timeout=WATCHDOG)
    handles = []
    with pytest.raises(ar.RingFullError, match="no room") as full:
        while True:
            handles.append(publisher.try_publish(numbered(len(handles), rows=4000)))
    assert "waiting" not in str(full.value), "try_publish waited"
    assert len(handles) >= 2
    assert [index_of(sub.next(timeout=0)) for _ in handles] == list(range(len(handles)))
    assert ring.policy == "block"


def test_ring_policy_is_the_one_it_was_created_with(ring_name):
    for policy in ("block", "fail", "drop-oldest"):
        ring = ar.Ring.create(f"{ring_name}-{policy}", capacity=2**20, policy=policy)
        try:
            assert ring.policy == policy
            assert ar.Ring.attach(ring.name).policy == policy
        finally:
            ring.unlink()


def test_deliveries_nobody_makes_lapse_after_delivery_ttl(ring_name):
    ring = ar.Ring.create(ring_name, capacity=2**20, policy="fail")
    publisher = ring.publisher(deliveries=1, delivery_ttl=0)
    lapsed = publisher.publish(numbered(1))
    assert ring._core.pending_deliveries(lapsed.sequence) == 1
    # A TTL of 0 s: the next allocation that needs the space reclaims it, counted as dropped.
    big = numbered(2, rows=60000)
    publisher_keeping = ring.publisher(deliveries=1, delivery_ttl=60)
    kept = publisher_keeping.publish(big)
    with pytest.raises(ar.StaleHandleError):
        ring.load(lapsed)
    assert ring.load(kept).equals(big)


def test_a_handle_of_another_ring_is_wrong_ring(ring, ring_name):
    other = ar.Ring.create(f"{ring_name}-other", capacity=2**20)
    try:
        handle = other.publisher(deliveries=1).publish(numbered(1))
        with pytest.raises(ar.WrongRingError):
            ring.load(handle)
        assert other.load(handle).equals(numbered(1))
    finally:
        other.unlink()


def test_one_subscriber_more_than_a_ring_holds_is_too_many(ring):
    subs = [ring.subscribe(f"s{i}") for i in range(32)]
    with pytest.raises(ar.TooManyError):
        ring.subscribe("one-too-many")
    subs.pop().close()
    ring.subscribe("now-there-is-room").close()
    for sub in subs:
        sub.close()


def test_a_ring_larger_than_shared_memory_is_no_space(ring_name):
    with pytest.raises(ar.NoSpaceError, match="shm"):
        ar.Ring.create(ring_name, capacity=8 * 2**40)
    with pytest.raises(ar.NoSuchRingError):
        ar.Ring.attach(ring_name)


def test_a_segment_that_is_no_ring_is_incompatible(ring_name):
    path = f"/dev/shm/arrowring.{ring_name}"
    with open(path, "wb") as segment:
        segment.write(b"not a ring" * 1000)
    try:
        with pytest.raises(ar.IncompatibleRingError):
            ar.Ring.attach(ring_name)
    finally:
        os.unlink(path)
