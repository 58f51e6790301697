"""The arrowring Python API: rings, publishing, subscribing, handles, errors, lifetime."""
import gc
import json
import os
import pickle
import subprocess
import threading
import time

import numpy as np
import pyarrow as pa
import pytest

import arrowring as ar
from ring_waits import asleep_on_the_ring


def sample_table(rows=1000, seed=0):
    rng = np.random.default_rng(seed)
    return pa.table({
        "id": pa.array(np.arange(rows, dtype=np.int64)),
        "value": pa.array(rng.normal(size=rows)),
        "name": pa.array([f"row-{i}" for i in range(rows)]),
        "tags": pa.array([[i, i + 1] if i % 3 else None for i in range(rows)], pa.list_(pa.int32())),
    })


def buffer_addresses(table):
    def walk(array):
        for buffer in array.buffers():
            if buffer is not None and buffer.size > 0:
                yield buffer.address, buffer.size
        if isinstance(array, pa.DictionaryArray):
            yield from walk(array.dictionary)
    for column in table.columns:
        for chunk in column.chunks:
            yield from walk(chunk)


def test_publish_then_next_gives_an_equal_zero_copy_table(ring):
    sub = ring.subscribe("check")
    table = sample_table()
    handle = ring.publisher().publish(table)
    assert isinstance(handle, ar.Handle) and handle.size > 0
    got = sub.next(timeout=1.0)
    assert got.equals(table)
    spans = list(buffer_addresses(got))
    assert len(spans) >= 6
    low, high = ring.data_address, ring.data_address + ring.data_size
    assert all(low <= address and address + size <= high for address, size in spans), "not zero-copy"
    assert not any(low <= address < high for address, _ in buffer_addresses(table))


def test_record_batches_publish_and_iteration_receives_in_order(ring):
    sub = ring.subscribe("ordered")
    publisher = ring.publisher()
    for i in range(5):
        publisher.publish(pa.record_batch({"i": [i]}))
    received = []
    for table in sub:
        received.append(table["i"][0].as_py())
        if len(received) == 5:
            break
    assert received == [0, 1, 2, 3, 4]


def test_next_returns_none_after_its_timeout_on_an_empty_ring(ring):
    sub = ring.subscribe("idle")
    assert sub.next(timeout=0.01) is None
    with pytest.raises(ar.InvalidArgumentError):
        sub.next(timeout=-1)


def test_subscribers_poll_adaptively_by_default_and_take_an_explicit_spin(ring):
    default_limit, default_adaptive = ring.subscribe("default").spin
    assert default_limit == (100e-6 if (os.cpu_count() or 1) > 1 else 0.0)
    assert default_adaptive == ((os.cpu_count() or 1) > 1)
    assert ring.subscribe("sleeper", spin=0).spin == (0.0, True)
    assert ring.subscribe("poller", spin=0.001, adaptive=False).spin == (0.001, False)
    for bad in (-1e-6, 1.5, float("nan")):
        with pytest.raises(ar.InvalidArgumentError):
            ring.subscribe("corrected", spin=bad)
    assert ring.subscribe("corrected", spin=1e-5).spin == (1e-5, True)  # A refusal kept no name.


def test_a_polling_subscriber_receives_what_another_thread_publishes(ring):
    sub = ring.subscribe("poller", spin=0.5, adaptive=False)
    table = pa.table({"x": [1, 2, 3]})
    thread = threading.Thread(target=lambda: ring.publisher().publish(table))
    thread.start()
    got = sub.next(timeout=30)
    thread.join()
    assert got.equals(table)


def test_space_is_freed_only_after_the_table_and_its_slices_are_collected(ring):
    sub = ring.subscribe("holder")
    ring.publisher().publish(sample_table(50_000))
    table = sub.next(timeout=1.0)
    assert ring.stats()["committed_bytes"] > 0
    column = table.column("id")
    piece = table.slice(100, 10)
    del table
    gc.collect()
    assert ring.stats()["committed_bytes"] > 0, "an array and a slice still reference it"
    del column
    gc.collect()
    assert ring.stats()["committed_bytes"] > 0
    assert piece["id"][0].as_py() == 100
    del piece
    gc.collect()
    assert ring.stats()["committed_bytes"] == 0


def test_handles_round_trip_through_bytes_text_and_pickle(ring):
    handle = ring.publisher(deliveries=1).publish(sample_table(10))
    encoded = bytes(handle)
    assert len(encoded) <= 64
    assert ar.Handle.from_bytes(encoded) == handle
    assert ar.Handle.parse(str(handle)) == handle
    assert pickle.loads(pickle.dumps(handle)) == handle
    assert ar.load(handle).equals(sample_table(10))
    with pytest.raises(ar.InvalidArgumentError):
        ar.Handle.from_bytes(b"nonsense")
    with pytest.raises(ar.InvalidArgumentError):
        ar.Handle.parse("arrowring:9:x")


def test_a_freed_message_gives_stale_handle(ring):
    handle = ring.publisher(deliveries=1).publish(sample_table(10))
    table = ring.load(handle)
    del table
    gc.collect()
    ring.publisher().publish(sample_table(200_000))  # Reuses the space.
    with pytest.raises(ar.StaleHandleError):
        ring.load(handle)


def test_load_finds_the_ring_by_id_without_attaching_to_others(ring, ring_name):
    bystander = ar.Ring.create(ring_name + "-bystander", capacity=1 << 20)
    try:
        handle = ring.publisher(deliveries=1).publish(sample_table(10))
        assert bystander.stats()["attachments"] == 1
        assert ar.load(handle).equals(sample_table(10))
        assert bystander.stats()["attachments"] == 1, "load attached to a ring it had nothing to do with"
        with pytest.raises(ar.NoSuchRingError, match="arrowring ls"):
            ar.load(ar.Handle.parse(str(handle).replace(f"{handle.ring_id:016x}", f"{handle.ring_id ^ 1:016x}")))
    finally:
        bystander.unlink()


def test_stats_has_the_keys_of_the_cli_and_recover_reports(ring, cli):
    watcher = ring.subscribe("watcher")  # Held: a collected subscriber leaves the ring.
    ours = ring.stats()
    theirs = json.loads(subprocess.run([cli, "stat", ring.name, "--json"], capture_output=True, text=True,
                                       check=True).stdout)
    assert set(ours) == set(theirs)
    assert ours["name"] == ring.name and ours["mode"] == "0600" and ours["policy"] == "block"
    assert [s["name"] for s in ours["subscribers"]] == ["watcher"]
    assert ring.recover()["dead_pids"] == []


@pytest.mark.parametrize("call,error,base", [
    (lambda: ar.Ring.attach("no-such-ring-at-all"), ar.NoSuchRingError, FileNotFoundError),
    (lambda: ar.Ring.create("bad/name", capacity=4096), ar.InvalidArgumentError, ValueError),
    (lambda: ar.Ring.create("x", capacity=0), ar.InvalidArgumentError, ValueError),
    (lambda: ar.Ring.create("x", capacity=4096, policy="sometimes"), ar.InvalidArgumentError, ValueError),
])
def test_errors_are_subclasses_per_kind(call, error, base):
    with pytest.raises(error) as raised:
        call()
    assert isinstance(raised.value, ar.Error) and isinstance(raised.value, base)
    assert str(raised.value)


def test_create_twice_is_ring_exists(ring):
    with pytest.raises(ar.RingExistsError):
        ar.Ring.create(ring.name, capacity=4096)


def test_full_ring_and_too_large_table_errors(ring_name):
    ring = ar.Ring.create(ring_name, capacity=1 * 2**20, policy="fail")
    sub = ring.subscribe("slow")
    publisher = ring.publisher()
    with pytest.raises(ar.TooLargeError):
        publisher.publish(sample_table(200_000))
    publisher.publish(sample_table(20_000))
    with pytest.raises(ar.RingFullError):
        publisher.publish(sample_table(20_000))
    assert sub.next(timeout=1) is not None


def test_block_policy_times_out_with_ring_full(ring_name):
    ring = ar.Ring.create(ring_name, capacity=1 * 2**20)
    slow = ring.subscribe("slow")  # Held: it takes nothing, so the ring stays full.
    ring.publisher().publish(sample_table(20_000))
    with pytest.raises(ar.RingFullError, match="after waiting"):
        ring.publisher(timeout=0.01).publish(sample_table(20_000))


def test_drop_oldest_counts_what_a_slow_subscriber_missed(ring_name):
    ring = ar.Ring.create(ring_name, capacity=1 * 2**20, policy="drop-oldest")
    sub = ring.subscribe("slow")
    for i in range(30):
        ring.publisher().publish(pa.table({"i": np.full(20_000, i)}))
    received, missed = 0, 0
    while (message := sub.next_message(timeout=0)) is not None:
        missed += message.missed
        assert message.table["i"][0].as_py() == received + missed
        received += 1
    assert missed > 0 and received + missed == 30 and sub.missed == missed


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")
def test_another_users_private_ring_is_a_permission_error(ring):
    child = os.fork()
    if child == 0:  # Become user nobody, then try the 0600 ring of root.
        code = 1
        try:
            os.setgid(65534)
            os.setuid(65534)
            ar.Ring.attach(ring.name)
        except ar.RingPermissionError as error:
            code = 0 if "0600" in str(error) else 2
        except BaseException:
            code = 3
        os._exit(code)
    _, status = os.waitpid(child, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_next_releases_the_gil_while_waiting(ring):
    sub = ring.subscribe("waiter")
    got = []
    thread = threading.Thread(target=lambda: got.append(sub.next(timeout=30)))
    thread.start()
    # Publish only once the thread sleeps inside next(), on the ring's futex. This thread runs
    # Python meanwhile: it can only see that, and publish, if the wait released the GIL.
    watchdog = time.monotonic() + 60
    while not asleep_on_the_ring(thread, ring):
        assert thread.is_alive(), f"next() returned {got} before it was seen waiting on the ring"
        assert time.monotonic() < watchdog, "watchdog: next() never waited on the ring"
        os.sched_yield()
    ring.publisher().publish(pa.table({"x": [42]}))
    thread.join()
    assert got[0]["x"][0].as_py() == 42


def test_compressed_publishing_round_trips(ring):
    sub = ring.subscribe("z")
    table = sample_table(5000)
    ring.publisher(compression="zstd").publish(table)
    assert sub.next(timeout=1).equals(table)


def test_subscriber_close_releases_what_was_due(ring):
    sub = ring.subscribe("leaver")
    ring.publisher().publish(sample_table(1000))
    assert ring.stats()["committed_bytes"] > 0
    sub.close()
    assert ring.stats()["committed_bytes"] == 0
    with ring.subscribe("again") as again:
        assert again.name == "again"
    assert ring.stats()["subscribers"] == []


def test_publish_rejects_what_is_not_a_table(ring):
    with pytest.raises(ar.InvalidArgumentError):
        ring.publisher().publish({"x": [1]})


def test_a_prefaulting_ring_is_mapped_in_at_create_and_says_so(ring_name):
    import resource
    ring = ar.Ring.create(ring_name, capacity=8 * 2**20, prefault=True)
    assert ring.stats()["prefault"] is True
    table = pa.table({"x": np.arange(2**20 - 100, dtype=np.int64)})  # about 8 MiB: the whole ring
    publisher = ring.publisher()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    publisher.publish(table)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
    assert faults < 2048 // 4, f"{faults} page faults writing 2048 prefaulted pages"
    plain = ar.Ring.create(ring_name + "-plain", capacity=4096)
    plain.unlink()
    assert plain.stats()["prefault"] is False


def test_next_many_takes_what_is_there_up_to_the_limit_in_order_zero_copy(ring):
    sub = ring.subscribe("batch")
    publisher = ring.publisher()
    assert sub.next_many(5, timeout=0) == [], "nothing yet is a value"
    for i in range(7):
        publisher.publish(sample_table(10 + i))
    first, rest = sub.next_many(5, timeout=0), sub.next_many(5, timeout=0)
    assert [t.num_rows for t in first + rest] == [10 + i for i in range(7)]
    low, high = ring.data_address, ring.data_address + ring.data_size
    assert all(low <= b.address < high for t in first + rest for b in t.column(0).chunks[0].buffers() if b is not None)
    with pytest.raises(ar.InvalidArgumentError, match="positive number"):
        sub.next_many(0)
