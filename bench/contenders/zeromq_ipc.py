"""zeromq-ipc: the table as an Arrow IPC stream through a ZeroMQ PUSH/PULL pair over ipc://,
Python at both ends; in throughput, in one-way latency, and beside the Flight bridge."""
from __future__ import annotations

import json
import os
import time

import pyarrow as pa
import pyarrow.ipc
import zmq

from harness import FORK, consume, run_pair


def remove_ipc_socket(address: str) -> None:
    """ZeroMQ leaves the socket file of a bound ipc:// endpoint behind: nothing stays in /tmp."""
    try:
        os.unlink(address[len("ipc://"):])
    except FileNotFoundError:
        pass


def zmq_consumer(address, warm, count, ready, warmed, done):
    context = zmq.Context()
    socket = context.socket(zmq.PULL)
    socket.setsockopt(zmq.RCVHWM, 4)
    socket.connect(address)
    ready.set()
    for i in range(warm + count):
        frame = socket.recv(copy=False)
        consume(pa.ipc.open_stream(pa.py_buffer(frame.buffer)).read_all())
        if i + 1 == warm:
            warmed.set()
    done.put(True)
    socket.close(linger=0)
    context.term()


def case_zeromq_ipc(size: int, count: int) -> dict:
    address = f"ipc:///tmp/arrowring-bench-{os.getpid()}-{size}"
    context = zmq.Context()
    socket = context.socket(zmq.PUSH)
    socket.setsockopt(zmq.SNDHWM, 4)
    socket.bind(address)

    def produce(table):
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        socket.send(sink.getvalue(), copy=False)

    try:
        return run_pair(produce, zmq_consumer, (address,), size, count)
    finally:
        socket.close(linger=0)
        context.term()
        remove_ipc_socket(address)


def zmq_latency_peer(address_in, address_out, raw, count, ready):
    context = zmq.Context()
    pull, push = context.socket(zmq.PULL), context.socket(zmq.PUSH)
    pull.connect(address_in)
    push.connect(address_out)
    ready.set()
    samples = []
    for _ in range(count):
        frame = pull.recv(copy=False)
        now = time.monotonic_ns()
        if raw:
            stamp = int.from_bytes(frame.bytes[:8], "little")
        else:
            stamp = pa.ipc.open_stream(pa.py_buffer(frame.buffer)).read_all().column(0)[0].as_py()
        samples.append((now - stamp) / 1e3)
        push.send(b"k")
    push.send(json.dumps(samples).encode())
    pull.close(linger=0)
    push.close(linger=0)
    context.term()


def case_zeromq_latency(raw: bool, count: int) -> dict:
    a, b = f"ipc:///tmp/arrowring-lat-a-{os.getpid()}", f"ipc:///tmp/arrowring-lat-b-{os.getpid()}"
    context = zmq.Context()
    push, pull = context.socket(zmq.PUSH), context.socket(zmq.PULL)
    push.bind(a)
    pull.bind(b)
    ready = FORK.Event()
    child = FORK.Process(target=zmq_latency_peer, args=(a, b, raw, count, ready), daemon=True)
    child.start()
    ready.wait(60)
    schema = pa.schema([("t", pa.int64())])
    start = time.perf_counter()
    for _ in range(count):
        stamp = time.monotonic_ns()
        if raw:
            push.send(stamp.to_bytes(8, "little") + bytes(56))
        else:
            sink = pa.BufferOutputStream()
            with pa.ipc.new_stream(sink, schema) as writer:
                writer.write_table(pa.table({"t": [stamp]}, schema=schema))
            push.send(sink.getvalue(), copy=False)
        pull.recv()
    elapsed = time.perf_counter() - start
    samples = json.loads(pull.recv())
    child.join(60)
    push.close(linger=0)
    pull.close(linger=0)
    context.term()
    remove_ipc_socket(a)
    remove_ipc_socket(b)
    ordered = sorted(samples)
    at = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"contender": "zeromq-ipc", "payload": "64B" if raw else "1-row-table", "p50_us": at(0.5),
            "p99_us": at(0.99), "p999_us": at(0.999), "msgs_per_s": count / elapsed, "samples_us": samples}
