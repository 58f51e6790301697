"""Subscriber.reader(): a subscriber read as an Arrow stream (pyarrow.RecordBatchReader), zero-copy,
ending at a limit, a timeout or a schema change, and read by real consumers of Arrow C streams
(DuckDB, Polars) through the PyCapsule interface."""
import gc

import duckdb
import polars as pl
import pyarrow as pa
import pytest

import arrowring as ar


def events(first: int, rows: int = 4) -> pa.Table:
    return pa.table({"event": pa.array(range(first, first + rows), pa.int64()),
                     "energy": pa.array([float(i) / 2 for i in range(first, first + rows)], pa.float64())})


def assert_in_ring(ring: ar.Ring, batch: pa.RecordBatch) -> None:
    low, high = ring.data_address, ring.data_address + ring.data_size
    for column in batch.columns:
        for buffer in column.buffers():
            if buffer is not None and buffer.size:
                assert low <= buffer.address and buffer.address + buffer.size <= high, \
                    f"buffer at {buffer.address:#x} is not in the ring [{low:#x}, {high:#x})"


def test_reader_yields_the_next_messages_zero_copy_and_ends_at_the_limit(ring):
    with ring.subscribe("reader") as sub:
        publisher = ring.publisher()
        for first in (0, 4, 8):
            publisher.publish(events(first))
        reader = sub.reader(limit=2)
        assert isinstance(reader, pa.RecordBatchReader)
        assert reader.schema == events(0).schema
        batches = list(reader)
        for batch in batches:
            assert_in_ring(ring, batch)
        assert pa.Table.from_batches(batches).column("event").to_pylist() == list(range(8))
        # The third message was not taken by the reader: the subscriber still has it.
        assert sub.next(timeout=0).column("event").to_pylist() == [8, 9, 10, 11]


def test_every_batch_of_a_multi_batch_message_comes_through_in_order(ring):
    table = pa.concat_tables([events(0, 3), events(3, 5)])
    assert len(table.to_batches()) == 2
    with ring.subscribe("reader") as sub:
        ring.publisher().publish(table)
        batches = list(sub.reader(limit=1))
        assert [b.num_rows for b in batches] == [3, 5]
        for batch in batches:
            assert_in_ring(ring, batch)


def test_reader_ends_after_the_timeout_with_nothing_new(ring):
    with ring.subscribe("reader") as sub:
        ring.publisher().publish(events(0))
        table = sub.reader(timeout=0).read_all()  # no limit: ends when nothing more is there
        assert table.column("event").to_pylist() == [0, 1, 2, 3]


def test_nothing_within_the_timeout_is_an_empty_stream(ring):
    with ring.subscribe("reader") as sub:
        reader = sub.reader(timeout=0)
        assert reader.schema == pa.schema([])
        assert reader.read_all().num_rows == 0
        schema = events(0).schema
        typed = sub.reader(timeout=0, schema=schema)  # with a schema: an empty stream of it
        assert typed.schema == schema and typed.read_all().num_rows == 0


def test_another_schema_ends_the_stream_with_a_clear_error_and_the_message_is_not_lost(ring):
    with ring.subscribe("reader") as sub:
        publisher = ring.publisher()
        publisher.publish(events(0))
        other = pa.table({"event": pa.array([1], pa.int32())})
        publisher.publish(other)
        reader = sub.reader(timeout=0)
        assert reader.read_next_batch().num_rows == 4
        with pytest.raises(ar.SchemaChangedError, match=r"another schema .*column 'event' is int32.*not lost") as info:
            reader.read_next_batch()
        assert isinstance(info.value, ar.Error)
        # The subscriber hands that message out next; a new reader takes on its schema.
        again = sub.reader(timeout=0)
        assert again.schema == other.schema
        assert again.read_all().equals(other)


def test_reader_arguments_are_checked(ring):
    with ring.subscribe("reader") as sub:
        for bad in ({"limit": -1}, {"limit": 1.5}, {"timeout": -1}, {"timeout": float("nan")},
                    {"schema": "event: int64"}):
            with pytest.raises(ar.InvalidArgumentError):
                sub.reader(**bad)


def test_the_reader_exports_an_arrow_c_stream_whose_batches_stay_in_the_ring(ring):
    with ring.subscribe("reader") as sub:
        ring.publisher().publish(events(0))
        capsule = sub.reader(limit=1).__arrow_c_stream__()
        imported = pa.RecordBatchReader._import_from_c_capsule(capsule)
        batch = imported.read_next_batch()
        assert_in_ring(ring, batch)
        assert batch.column(0).to_pylist() == [0, 1, 2, 3]


def test_duckdb_queries_a_live_ring(ring):
    with ring.subscribe("duckdb") as sub:
        publisher = ring.publisher()
        for first in range(0, 40, 4):
            publisher.publish(events(first))
        reader = sub.reader(limit=10)
        [(count, total)] = duckdb.sql("select count(*), sum(event) from reader").fetchall()
        assert (count, total) == (40, sum(range(40)))


def test_duckdb_reports_a_schema_change_with_our_words(ring):
    with ring.subscribe("duckdb") as sub:
        publisher = ring.publisher()
        publisher.publish(events(0))
        publisher.publish(pa.table({"other": [1]}))
        reader = sub.reader(timeout=0)
        with pytest.raises(duckdb.Error, match="SchemaChangedError"):
            duckdb.sql("select count(*) from reader").fetchall()
        assert sub.next(timeout=0).column_names == ["other"]


def test_polars_reads_a_live_ring(ring):
    with ring.subscribe("polars") as sub:
        publisher = ring.publisher()
        for first in range(0, 12, 4):
            publisher.publish(events(first))
        frame = pl.DataFrame(sub.reader(limit=3))
        assert frame.height == 12
        assert frame["event"].to_list() == list(range(12))
        assert frame["energy"].sum() == sum(i / 2 for i in range(12))


def test_messages_are_released_once_the_batches_are_gone(ring):
    with ring.subscribe("reader") as sub:
        ring.publisher().publish(events(0))
        batches = list(sub.reader(limit=1))
        gc.collect()
        assert ring.stats()["committed_bytes"] > 0, "the batches still reference the message"
        del batches
        gc.collect()
        assert ring.stats()["committed_bytes"] == 0
