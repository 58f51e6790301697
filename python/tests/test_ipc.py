"""The small-table path: exact sizes without serializing, and the schema decoded once."""
import ctypes
import os
import pathlib

import numpy as np
import pyarrow as pa
import pytest

import arrowring as ar
from arrowring._ipc import NATIVE_WRITE_BYTES, StreamSizer, ipc_stream_size

ROOT = pathlib.Path(__file__).resolve().parents[2]


def tables():
    varied = pa.table({
        "i": pa.array(np.arange(1000)), "f": pa.array(np.linspace(0, 1, 1000)),
        "s": pa.array([str(i) if i % 7 else None for i in range(1000)]),
        "l": pa.array([[i, i + 1] for i in range(1000)]),
        "st": pa.array([{"a": i, "b": str(i)} for i in range(1000)]),
        "b": pa.array([i % 3 == 0 for i in range(1000)]),
    })
    return {
        "one row": pa.table({"t": [1]}),
        # A schema pyarrow calls equal to the last, whose message has an empty metadata map.
        "one row, empty metadata": pa.table({"t": [2]}, schema=pa.schema([("t", pa.int64())], metadata={})),
        "one row again": pa.table({"t": [3]}),
        # Schemas pyarrow calls equal whose messages hold the metadata keys in another order.
        "keys a, bb": pa.table({"t": [4]}, schema=pa.schema([("t", pa.int64())], metadata={"a": "1", "bb": "2"})),
        "keys bb, a": pa.table({"t": [5]}, schema=pa.schema([("t", pa.int64())], metadata={"bb": "2", "a": "1"})),
        "varied": varied,
        "chunked": pa.concat_tables([varied.slice(0, 10), varied.slice(500, 300)]),
        "sliced": varied.slice(3, 17),
        "empty": varied.slice(0, 0),
        "no chunks": pa.table({"x": pa.chunked_array([], pa.int64())}),
        "no columns": pa.table({}),
        "dictionary": pa.table({"d": pa.array(["a", "b", "a"]).dictionary_encode()}),
        "batch": varied.to_batches()[0],
    }


@pytest.mark.parametrize("compression", [None, "zstd"])
def test_the_sizer_gives_the_exact_size_of_every_table(compression):
    options = pa.ipc.IpcWriteOptions(compression=compression)
    sizer = StreamSizer(options)
    for _ in range(2):  # The second round with each schema's size remembered.
        for name, table in tables().items():
            assert sizer.size(table) == ipc_stream_size(table, options), name


@pytest.fixture
def python_path(monkeypatch):
    """Publishers and subscribers made under it take the Python path (pyarrow's writer and
    reader), which publishes without the C++ layer's tables (compression, a per-call timeout)
    and everywhere when arrowring was built without pyarrow's C++ API."""
    monkeypatch.setattr(ar._core, "NATIVE_TABLES", False)


def test_small_streams_are_assembled_byte_for_byte_as_the_writer_writes_them(ring, python_path):
    publisher = ring.publisher(deliveries=1)
    for name, table in tables().items():
        handle = publisher.publish(table)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write(table)
        expected = sink.getvalue()
        assert handle.size == expected.size, name
        assert ctypes.string_at(ring.data_address + handle.offset, handle.size) == expected.to_pybytes(), name


def test_the_reader_reads_every_table_zero_copy_across_schema_changes(ring):
    sub = ring.subscribe("reader")
    publisher = ring.publisher()
    low, high = ring.data_address, ring.data_address + ring.data_size
    for _ in range(2):
        for name, table in tables().items():
            expected = table if isinstance(table, pa.Table) else pa.Table.from_batches([table])
            publisher.publish(table)
            got = sub.next(timeout=5)
            assert got.equals(expected), name
            for column in got.columns:
                for chunk in column.chunks:
                    assert all(low <= b.address < high for b in chunk.buffers() if b is not None and b.size), name


def test_a_known_schema_with_a_scribbled_batch_is_a_corrupt_error(ring):
    sub = ring.subscribe("reader")
    publisher = ring.publisher()
    publisher.publish(pa.table({"t": [1]}))
    assert sub.next(timeout=5).equals(pa.table({"t": [1]}))  # Now the schema is known.
    handle = publisher.publish(pa.table({"t": [2]}))
    # Scribble on the record batch message's metadata, after the schema message.
    address = ring.data_address + handle.offset
    schema_bytes = 8 + int.from_bytes(ctypes.string_at(address + 4, 4), "little")
    ctypes.memset(address + schema_bytes + 8, 0xFF, 32)
    with pytest.raises(ar.CorruptError):
        sub.next(timeout=5)


def large_tables():
    rows = 200_000
    base = pa.table({"i": pa.array(np.arange(rows)), "f": pa.array(np.linspace(0, 1, rows)),
                     "s": pa.array([str(i) if i % 7 else None for i in range(rows)])})
    return {"large": base, "large chunked": pa.concat_tables([base.slice(0, 70_000), base.slice(90_000)]),
            "large batch": base.to_batches()[0],
            "large dictionary": pa.table({"d": pa.array([str(i % 100) for i in range(rows)]).dictionary_encode()})}


@pytest.mark.skipif(not ar._core.LOANS, reason="the C++ stream writer is in _core_arrow")
@pytest.mark.parametrize("retain", [False, True])
def test_large_streams_are_written_by_the_cpp_layer_cold_once_the_writer_cycles(
        ring_name, monkeypatch, retain, python_path):
    # A retaining ring twice the cold lap cycles through its whole capacity: after the first lap
    # its slots are cold and written with streaming stores; the bytes are pyarrow's either way.
    colds = []
    native = ar._core.IpcStream

    class Recording:
        def __init__(self, stream, schema_message):
            self._stream = native(stream, schema_message)
            self.size = self._stream.size

        def write_into(self, slot):
            colds.append(slot.cold)
            return self._stream.write_into(slot)

    monkeypatch.setattr(ar._core, "IpcStream", Recording)
    ring = ar.Ring.create(ring_name, capacity=64 * 2**20, retain=retain)
    publisher = ring.publisher(deliveries=1)
    for _ in range(12):
        for name, table in large_tables().items():
            handle = publisher.publish(table)
            expected = arrows_stream(table)
            assert handle.size == len(expected), name
            assert ctypes.string_at(ring.data_address + handle.offset, handle.size) == expected, name
            assert ring.load(handle).equals(pa.table(table)), name  # the delivery it owes
    assert len(colds) == 12 * len(large_tables()), "every large table goes through the C++ layer"
    if retain and ar._core.cold_lap_bytes() <= 32 * 2**20:
        assert colds[0] is False and colds[-1] is True, colds


GOLD = pathlib.Path(os.environ.get("ARROWRING_TESTING_DATA", ROOT.parent / "shared" / "arrow-testing")) / "integration"


def gold_tables_and_metadata_variants():
    """Every gold table, and each also with its schema metadata None and {}: schemas pyarrow
    calls equal (``equals(..., check_metadata=True)``) that serialize differently, as Arrow
    0.14.1's generated_primitive and generated_primitive_no_batches do."""
    streams = sorted(GOLD.glob("**/*.stream"))
    assert len(streams) >= 27, f"looked under {GOLD}"
    for path in streams:
        table = pa.ipc.open_stream(path.read_bytes()).read_all()
        yield path.stem, table
        yield f"{path.stem} (metadata None)", table.replace_schema_metadata(None)
        yield f"{path.stem} (metadata {{}})", table.replace_schema_metadata({})


def arrows_stream(table):
    """What a publish writes of ``table``: the bytes pyarrow's stream writer writes. A stream of
    NATIVE_WRITE_BYTES or more is written by the C++ layer from the batches as they cross the
    Arrow C stream interface, under the table's own schema: the same writer, but the export trims
    sliced buffers, and Arrow's writer pads a trimmed bitmap differently (both valid streams)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write(table)
    direct = sink.getvalue().to_pybytes()
    if not ar._core.LOANS or len(direct) < NATIVE_WRITE_BYTES:
        return direct
    crossed = pa.RecordBatchReader._import_from_c_capsule(pa.table(table).__arrow_c_stream__())
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        for batch in crossed:
            writer.write_batch(batch)
    return sink.getvalue().to_pybytes()


@pytest.mark.parametrize("reuse", [True, False], ids=["one publisher", "a publisher each"])
def test_every_gold_table_in_sequence_is_published_as_the_writer_writes_it(ring, reuse, python_path):
    sub = ring.subscribe("reader")
    shared = ring.publisher(deliveries=1)
    for name, table in gold_tables_and_metadata_variants():
        publisher = shared if reuse else ring.publisher(deliveries=1)
        handle = publisher.publish(table)
        expected = arrows_stream(table)
        assert handle.size == len(expected), name
        assert ctypes.string_at(ring.data_address + handle.offset, handle.size) == expected, name
        got = sub.next(timeout=5)
        assert got.equals(table), name
        assert got.schema.metadata == table.schema.metadata, name  # None stays None, {} stays {}
        assert ar.load(handle).equals(table), name
        del got



def stream_messages(data):
    """(offset, metadata bytes, body bytes) of each message of the IPC stream ``data``, read
    by pyarrow, and where its end-of-stream marker ends."""
    reader, messages = pa.BufferReader(data), []
    while True:
        start = reader.tell()
        message = pa.ipc.read_message(reader) if reader.size() - start > 8 else None
        if message is None:
            assert bytes(data[start:start + 8]) == b"\xff\xff\xff\xff\x00\x00\x00\x00"
            return messages, start + 8
        messages.append((start, message.metadata.size, message.body.size if message.body is not None else 0))


@pytest.mark.skipif(not ar._core.NATIVE_TABLES, reason="built without pyarrow's C++ API")
@pytest.mark.parametrize("reuse", [True, False], ids=["one publisher", "a publisher each"])
def test_the_cpp_layer_publishes_every_gold_table_as_an_exact_stream_read_back_zero_copy(ring, reuse):
    """The C++ Publisher writes the stream arrowring's C++ layer writes (message metadata
    padded to 64 bytes: ipc.h, kStreamAlignment), exactly ``handle.size`` bytes, and the subscriber
    (the C++ layer's reader) gives back the table with its schema metadata as it was."""
    sub = ring.subscribe("reader")
    shared = ring.publisher(deliveries=1)
    low, high = ring.data_address, ring.data_address + ring.data_size
    ours = tables()  # the gold tables include month intervals, whose arrays pyarrow cannot wrap
    for name, table in list(gold_tables_and_metadata_variants()) + list(ours.items()):
        publisher = shared if reuse else ring.publisher(deliveries=1)
        handle = publisher.publish(table)
        data = pa.py_buffer(ctypes.string_at(ring.data_address + handle.offset, handle.size))
        messages, end = stream_messages(data)
        assert end == handle.size, name
        bodies = [start + 8 + metadata for start, metadata, body in messages if body]
        assert all(at % 8 == 0 for at in bodies), name  # Arrow pads bodies to 8
        assert not bodies or bodies[0] % 64 == 0, name  # and arrowring the metadata before the first to 64
        expected = table if isinstance(table, pa.Table) else pa.Table.from_batches([table])
        got = sub.next(timeout=5)
        assert got.equals(expected), name
        assert got.schema.metadata == expected.schema.metadata, name  # None stays None, {} stays {}
        for column in got.columns if name in ours else ():
            for chunk in column.chunks:
                assert all(low <= b.address < high for b in chunk.buffers() if b is not None and b.size), name
        assert ar.load(handle).equals(expected), name
        del got
