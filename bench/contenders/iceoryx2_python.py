"""iceoryx2-python and iceoryx2-python-event: a real peer (benchmark-only, bench/requirements.txt),
the table as an Arrow IPC stream in iceoryx2's loaned slices, in throughput and in one-way
latency; and the cleanup of what iceoryx2 leaves on the machine."""
from __future__ import annotations

import ctypes
import glob
import os
import shutil
import time

import pyarrow as pa
import pyarrow.ipc

from harness import FORK, consume, ipc_stream_size, run_pair


def iceoryx2_service(iox2, node, name: str):
    """One publish/subscribe service of byte slices, configured like the arrowring rings: one
    publisher, one subscriber holding up to 4 undelivered samples, no overflow (the publisher
    waits: RetryUntilDelivered), no history. Both sides call this with the same settings."""
    return (node.service_builder(iox2.ServiceName.new(name))
            .publish_subscribe(iox2.Slice[ctypes.c_uint8])
            .max_publishers(1).max_subscribers(1).max_nodes(2).history_size(0)
            .subscriber_max_buffer_size(4).subscriber_max_borrowed_samples(2)
            .enable_safe_overflow(False).open_or_create())


def iceoryx2_consumer(name, wait, warm, count, ready, warmed, done):
    import iceoryx2 as iox2
    node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
    service = iceoryx2_service(iox2, node, name)
    subscriber = service.subscriber_builder().create()
    listener = None
    if wait == "event":  # iceoryx2's way to sleep until data: an event service beside the pub/sub one.
        events = node.service_builder(iox2.ServiceName.new(name + "-event")).event().open_or_create()
        listener = events.listener_builder().create()
        nap = iox2.Duration.from_millis(100)
    ready.set()
    received, deadline = 0, time.monotonic() + 120
    while received < warm + count:
        sample = subscriber.receive()  # Pub/sub alone has no blocking receive: poll, or sleep on the event.
        if sample is None:
            if time.monotonic() > deadline:  # The producer is gone: do not spin forever.
                break
            if listener is not None:
                listener.timed_wait(nap)
            continue
        deadline = time.monotonic() + 120
        payload = sample.payload()
        # Zero-copy: the table's buffers point into the sample, which `base` keeps loaned until
        # the last buffer is gone (the sample returns to the publisher when it is dropped).
        table = pa.ipc.open_stream(pa.foreign_buffer(payload.as_ptr(), payload.len(), base=sample)).read_all()
        consume(table)
        del table, payload, sample
        received += 1
        if received == warm:
            warmed.set()
    done.put(True)
    # Drop the ports and the node explicitly: a forked multiprocessing child ends in os._exit,
    # which would skip iceoryx2's cleanup of the node's files.
    del subscriber, service, listener
    if wait == "event":
        del events
    del node


def case_iceoryx2_python(size: int, count: int, wait: str = "poll") -> dict:
    """The same Arrow IPC stream through iceoryx2's loaned slices: the publisher sizes the
    stream, loans a slice of exactly that size, writes the stream into it with
    FixedSizeBufferWriter and sends it; the subscriber reads it zero-copy (foreign_buffer).
    `wait`: the subscriber polls ("poll"), or sleeps on an event service that the publisher
    notifies after every send ("event", iceoryx2's blocking pattern)."""
    import iceoryx2 as iox2
    name = f"arrowring-bench-{os.getpid()}-{size}-{time.monotonic_ns()}"
    state = {}

    def produce(table):
        if "publisher" not in state:  # After the subscriber exists (the consumer is forked first).
            state["node"] = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
            state["service"] = iceoryx2_service(iox2, state["node"], name)
            state["publisher"] = (state["service"].publisher_builder()
                                  .initial_max_slice_len(ipc_stream_size(table))
                                  .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered)
                                  .create())
            if wait == "event":
                state["events"] = (state["node"].service_builder(iox2.ServiceName.new(name + "-event"))
                                   .event().open_or_create())
                state["notifier"] = state["events"].notifier_builder().create()
        give_up = time.monotonic() + 60
        while True:
            sample = state["publisher"].loan_slice_uninit(ipc_stream_size(table))
            target = pa.py_buffer(sample.payload().as_memory_view())  # writable, over the loaned slice
            with pa.ipc.new_stream(pa.FixedSizeBufferWriter(target), table.schema) as writer:
                writer.write_table(table)
            del target
            # send() returns the number of subscribers reached: 0 until the new publisher has
            # connected to the subscriber (the first sends of a run), then such a sample is lost.
            if sample.assume_init().send() > 0:
                break
            if time.monotonic() > give_up:
                raise RuntimeError("iceoryx2: no subscriber connected within 60 s")
        if wait == "event":
            state["notifier"].notify()

    try:
        return run_pair(produce, iceoryx2_consumer, (name, wait), size, count)
    finally:
        for key in ("notifier", "events", "publisher", "service", "node"):
            state.pop(key, None)


# --- iceoryx2 one-way latency: ping on one pub/sub service, the reply on another ------------------
def iceoryx2_latency_ports(iox2, node, name: str, send: str, receive: str, wait: str) -> dict:
    """A publisher on `name-send`, a subscriber on `name-receive` and, with wait == "event", a
    notifier / listener pair on their event services (settings as in the throughput case)."""
    ports = {"service_out": iceoryx2_service(iox2, node, f"{name}-{send}"),
             "service_in": iceoryx2_service(iox2, node, f"{name}-{receive}")}
    ports["subscriber"] = ports["service_in"].subscriber_builder().create()
    ports["publisher"] = (ports["service_out"].publisher_builder().initial_max_slice_len(4096)
                          .backpressure_strategy(iox2.BackpressureStrategy.RetryUntilDelivered).create())
    if wait == "event":
        ports["events_out"] = node.service_builder(iox2.ServiceName.new(f"{name}-{send}-event")).event().open_or_create()
        ports["events_in"] = node.service_builder(iox2.ServiceName.new(f"{name}-{receive}-event")).event().open_or_create()
        ports["notifier"] = ports["events_out"].notifier_builder().create()
        ports["listener"] = ports["events_in"].listener_builder().create()
    return ports


def iceoryx2_latency_send(iox2, ports: dict, payload: bytes, wait: str, retry: bool) -> None:
    """Loans a slice of the payload's size, copies the payload in, sends it (and notifies); with
    `retry`, sends again until a subscriber was reached (the first messages, before connecting)."""
    give_up = time.monotonic() + 60
    while True:
        sample = ports["publisher"].loan_slice_uninit(len(payload))
        ctypes.memmove(sample.payload().as_ptr(), payload, len(payload))
        reached = sample.assume_init().send()
        if wait == "event":
            ports["notifier"].notify()
        if reached > 0 or not retry:
            return
        if time.monotonic() > give_up:
            raise RuntimeError("iceoryx2: no subscriber connected within 60 s")


def iceoryx2_latency_receive(iox2, ports: dict, wait: str):
    """The next sample: polled, or waiting on the listener between polls."""
    nap, give_up = iox2.Duration.from_millis(100), time.monotonic() + 60
    while True:
        sample = ports["subscriber"].receive()
        if sample is not None:
            return sample
        if time.monotonic() > give_up:
            raise RuntimeError("iceoryx2: nothing received within 60 s")
        if wait == "event":
            ports["listener"].timed_wait(nap)


def iceoryx2_stamp(sample, raw: bool) -> int:
    payload = sample.payload()
    if raw:
        return int.from_bytes(ctypes.string_at(payload.as_ptr(), 8), "little")
    buffer = pa.foreign_buffer(payload.as_ptr(), payload.len(), base=sample)  # zero-copy, as above
    return pa.ipc.open_stream(buffer).read_all().column(0)[0].as_py()


LATENCY_WARMUP = 10  # round trips before measuring: the ports connect during the first ones


def iceoryx2_latency_peer(name, raw, wait, count, ready, report):
    import iceoryx2 as iox2
    node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
    ports = iceoryx2_latency_ports(iox2, node, name, "pong", "ping", wait)
    ready.set()
    samples = []
    try:
        for i in range(LATENCY_WARMUP + count):
            sample = iceoryx2_latency_receive(iox2, ports, wait)
            now = time.monotonic_ns()
            stamp = iceoryx2_stamp(sample, raw)
            del sample
            if i >= LATENCY_WARMUP:
                samples.append((now - stamp) / 1e3)
            iceoryx2_latency_send(iox2, ports, b"k", wait, retry=i < LATENCY_WARMUP)
        report.put(samples)
    finally:
        ports.clear()  # Drop the ports and the node before os._exit (see iceoryx2_consumer).
        del node


def case_iceoryx2_latency(raw: bool, wait: str, count: int) -> dict:
    """One-way latency through iceoryx2 from Python, laid out like the other latency rows: a
    1-row table as an Arrow IPC stream (or 64 raw bytes) in a loaned slice, the receiver
    polling ("spin") or sleeping on an event service ("event"), a reply on a second service."""
    import iceoryx2 as iox2
    name = f"arrowring-lat-{os.getpid()}-{time.monotonic_ns()}"
    ready, report = FORK.Event(), FORK.Queue()
    child = FORK.Process(target=iceoryx2_latency_peer, args=(name, raw, wait, count, ready, report), daemon=True)
    child.start()
    if not ready.wait(60):
        raise RuntimeError("iceoryx2 latency peer did not start")
    node = iox2.NodeBuilder.new().create(iox2.ServiceType.Ipc)
    ports = iceoryx2_latency_ports(iox2, node, name, "ping", "pong", wait)
    schema = pa.schema([("t", pa.int64())])

    def message() -> bytes:
        stamp = time.monotonic_ns()
        if raw:
            return stamp.to_bytes(8, "little") + bytes(56)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, schema) as writer:
            writer.write_table(pa.table({"t": [stamp]}, schema=schema))
        return sink.getvalue()

    try:
        start = None
        for i in range(LATENCY_WARMUP + count):
            if i == LATENCY_WARMUP:
                start = time.perf_counter()
            if raw:
                iceoryx2_latency_send(iox2, ports, message(), wait, retry=i < LATENCY_WARMUP)
            else:  # The IPC stream written straight into the loaned slice, as in the throughput case.
                give_up = time.monotonic() + 60
                while True:
                    table = pa.table({"t": [time.monotonic_ns()]}, schema=schema)
                    sample = ports["publisher"].loan_slice_uninit(ipc_stream_size(table))
                    target = pa.py_buffer(sample.payload().as_memory_view())
                    with pa.ipc.new_stream(pa.FixedSizeBufferWriter(target), schema) as writer:
                        writer.write_table(table)
                    del target
                    reached = sample.assume_init().send()
                    if wait == "event":
                        ports["notifier"].notify()
                    if reached > 0 or i >= LATENCY_WARMUP:
                        break
                    if time.monotonic() > give_up:
                        raise RuntimeError("iceoryx2: no subscriber connected within 60 s")
            reply = iceoryx2_latency_receive(iox2, ports, wait)
            del reply  # the sample goes back to the peer's publisher
        elapsed = time.perf_counter() - start
        samples = report.get(timeout=120)
        child.join(60)
    finally:
        ports.clear()
        del node
    ordered = sorted(samples)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
    return {"contender": "iceoryx2-python-" + ("spin" if wait == "poll" else "event"),
            "payload": "64B" if raw else "1-row-table", "p50_us": at(0.5), "p99_us": at(0.99), "p999_us": at(0.999),
            "msgs_per_s": count / elapsed, "samples_us": samples}


def iceoryx2_files() -> set:
    """What iceoryx2 leaves on the machine once its last node is gone: its folder in /tmp (empty
    node and service folders) and a small global management segment in /dev/shm."""
    return set(glob.glob("/dev/shm/iox2_*")) | ({"/tmp/iceoryx2"} if os.path.isdir("/tmp/iceoryx2") else set())


def remove_new_iceoryx2_files(before: set) -> None:
    """Removes what this run's iceoryx2 nodes left (nothing that existed before the run, and the
    folder only when no file remains in it, i.e. no other iceoryx2 process is alive)."""
    for path in sorted(iceoryx2_files() - before):
        if os.path.isdir(path):
            if not any(files for _, _, files in os.walk(path)):
                shutil.rmtree(path, ignore_errors=True)
        else:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
