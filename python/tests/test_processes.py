"""Across processes: multiprocessing (fork and spawn), and interop with the C++ CLI both ways."""
import multiprocessing
import os
import subprocess

import numpy as np
import pyarrow as pa
import pyarrow.compute
import pyarrow.ipc
import pytest

import arrowring as ar

COUNT = 50


def make_table(i):
    return pa.table({"i": np.full(1000 + i, i, dtype=np.int64), "s": [f"{i}"] * (1000 + i)})


def produce(ring, first, count):
    # `ring` arrives pickled (spawn: re-attached by name) or inherited (fork: re-attached on use).
    publisher = ring.publisher(timeout=60)
    for i in range(first, first + count):
        publisher.publish(make_table(i))


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_publishers_in_child_processes_reach_a_subscriber(ring, method):
    sub = ring.subscribe("parent")
    context = multiprocessing.get_context(method)
    children = [context.Process(target=produce, args=(ring, k * COUNT, COUNT)) for k in range(2)]
    for child in children:
        child.start()
    seen = set()
    for _ in range(2 * COUNT):
        table = sub.next(timeout=60)
        i = table["i"][0].as_py()
        assert table.equals(make_table(i))
        seen.add(i)
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert seen == set(range(2 * COUNT))


def consume(name, ready, results):
    ring = ar.Ring.attach(name)
    sub = ring.subscribe(f"child-{os.getpid()}")
    ready.set()
    total = 0
    for _ in range(COUNT):
        table = sub.next(timeout=60)
        total += int(pa.compute.sum(table["i"]).as_py())
    results.put(total)


def test_subscribers_in_spawned_processes_each_receive_everything(ring):
    import pyarrow.compute  # noqa: F401 (for the children)
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    readies = [context.Event() for _ in range(2)]
    children = [context.Process(target=consume, args=(ring.name, ready, results)) for ready in readies]
    for child in children:
        child.start()
    for ready in readies:
        assert ready.wait(60)
    for i in range(COUNT):
        ring.publisher(timeout=60).publish(make_table(i))
    expected = sum(i * (1000 + i) for i in range(COUNT))
    assert [results.get(timeout=60), results.get(timeout=60)] == [expected, expected]
    for child in children:
        child.join(60)
        assert child.exitcode == 0


def test_cpp_pub_to_python_subscriber(ring, cli, tmp_path):
    table = pa.table({"x": np.arange(10_000), "y": [f"v{i}" for i in range(10_000)]})
    path = tmp_path / "t.arrow"
    with pa.ipc.new_file(path, table.schema) as writer:
        writer.write_table(table)
    sub = ring.subscribe("from-cpp")
    subprocess.run([cli, "pub", ring.name, str(path), "--batch-rows", "4000"], check=True, capture_output=True)
    parts = [sub.next(timeout=10) for _ in range(3)]
    assert pa.concat_tables(parts).equals(table)


def test_python_publisher_to_cpp_cat(ring, cli):
    cat = subprocess.Popen([cli, "cat", ring.name, "--format", "arrow", "--limit", "2", "--timeout", "60"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert "subscribed" in cat.stderr.readline().decode()
    tables = [make_table(1), make_table(2)]
    for table in tables:
        ring.publisher().publish(table)
    out, _ = cat.communicate(timeout=60)
    assert cat.returncode == 0
    assert pa.ipc.open_stream(out).read_all().equals(pa.concat_tables(tables))


def hold_then_die(name, ready):
    ring = ar.Ring.attach(name)
    sub = ring.subscribe("doomed")
    ready.set()
    table = sub.next(timeout=60)  # Held when killed.
    ready.table = table
    os.kill(os.getpid(), 9)


def test_a_killed_python_subscriber_is_recovered(ring):
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    child = context.Process(target=hold_then_die, args=(ring.name, ready))
    child.start()
    assert ready.wait(60)
    ring.publisher().publish(make_table(1))
    child.join(60)
    report = ring.recover()
    assert report["dead_pids"] == [child.pid] and report["removed_subscribers"] == 1
    assert ring.stats()["committed_bytes"] == 0
