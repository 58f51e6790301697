"""Loans from Python: NumPy arrays over ring memory, published without a copy."""
import gc
import os
import pickle
import subprocess
import sys
import threading

import numpy as np
import pyarrow as pa
import pytest

import arrowring as ar
from arrowring import _core


def test_the_build_under_test_has_loans():
    assert _core.LOANS, _core.LOAN_UNAVAILABLE

ROWS = 1000
DAQ = pa.schema([
    pa.field("event", pa.int64(), nullable=False),
    pa.field("adc", pa.list_(pa.field("sample", pa.int16(), nullable=False), 16), nullable=False),
    pa.field("energy", pa.float32(), nullable=False),
])


def in_ring(ring, array):
    low, high = ring.data_address, ring.data_address + ring.data_size
    return low <= array.ctypes.data and array.ctypes.data + array.nbytes <= high


def fill_daq(batch, seed=0):
    rng = np.random.default_rng(seed)
    expected = {
        "event": np.arange(batch.num_rows, dtype=np.int64) + seed,
        "adc": rng.integers(-2**15, 2**15, size=(batch.num_rows, 16), dtype=np.int16),
        "energy": rng.normal(size=batch.num_rows).astype(np.float32),
    }
    for name, values in expected.items():
        batch.column(name)[:] = values
    return pa.table({
        "event": expected["event"],
        "adc": pa.FixedSizeListArray.from_arrays(pa.array(expected["adc"].ravel()), type=DAQ.field("adc").type),
        "energy": expected["energy"],
    }, schema=DAQ)


def test_columns_are_writable_ndarrays_in_the_ring_that_subscribers_read_at_the_same_addresses(ring):
    sub = ring.subscribe("check")
    with ring.publisher().loan(DAQ, ROWS) as batch:
        event, adc, energy = batch.column("event"), batch.column("adc"), batch.column(2)
        assert (event.dtype, event.shape) == (np.int64, (ROWS,))
        assert (adc.dtype, adc.shape) == (np.int16, (ROWS, 16))
        assert (energy.dtype, energy.shape) == (np.float32, (ROWS,))
        assert all(a.flags.writeable and in_ring(ring, a) for a in (event, adc, energy)), "not in ring memory"
        expected = fill_daq(batch)
    assert isinstance(batch.handle, ar.Handle)
    got = sub.next(timeout=10)
    assert got.equals(expected)
    chunk = lambda name: got.column(name).chunk(0)  # noqa: E731
    # Zero copy on both sides: the producer's arrays are the subscriber's buffers.
    assert chunk("event").buffers()[1].address == event.ctypes.data
    assert chunk("adc").values.buffers()[1].address == adc.ctypes.data
    assert chunk("energy").buffers()[1].address == energy.ctypes.data
    # The loan is over: its arrays are read-only.
    assert not event.flags.writeable
    with pytest.raises(ValueError):
        event[0] = 1
    assert got.column("event").chunk(0)[0].as_py() == 0


def test_validity_bitmaps_make_nulls_and_counts_are_optional(ring):
    schema = pa.schema([pa.field("q", pa.float64()), pa.field("r", pa.int32()), pa.field("s", pa.uint8())])
    sub = ring.subscribe("nulls")
    values = np.linspace(0, 1, ROWS)
    with ring.publisher().loan(schema, ROWS) as batch:
        q = batch.column("q")
        q[:] = values
        bits = batch.validity("q")
        assert bits.dtype == np.uint8 and bits.shape == ((ROWS + 7) // 8,) and (bits == 0xFF).all()
        valid = np.arange(ROWS) % 3 != 0
        bits[:] = np.packbits(valid, bitorder="little")
        batch.set_null_count("q", int((~valid).sum()))
        r_bits = batch.validity("r")          # nulls left for the commit to count
        r_bits[:] = np.packbits(np.arange(ROWS) % 2 == 0, bitorder="little")
        batch.column("r")[:] = np.arange(ROWS)
        batch.column("s")[:] = 7              # all valid: published without a bitmap
    got = sub.next(timeout=10)
    got.validate(full=True)
    assert got.column("q").to_pylist() == [None if i % 3 == 0 else values[i] for i in range(ROWS)]
    assert got.column("q").chunk(0).buffers()[1].address == q.ctypes.data
    assert got.column("r").null_count == ROWS // 2
    assert got.column("s").null_count == 0 and got.column("s").to_pylist() == [7] * ROWS


NULLABLE = pa.schema([pa.field("t", pa.int64()), pa.field("x", pa.float64()), pa.field("n", pa.int32())])


def fill_nullable(batch, seed=0):
    values = {
        "t": np.arange(batch.num_rows, dtype=np.int64) + seed,
        "x": np.linspace(0, 1, batch.num_rows) + seed,
        "n": (np.arange(batch.num_rows, dtype=np.int32) * 7) % 1000,
    }
    arrays = {}
    for name, v in values.items():
        arrays[name] = batch.column(name)
        arrays[name][:] = v
    return pa.table(values, schema=NULLABLE), arrays


def test_a_default_loan_without_nulls_publishes_in_place_every_bitmap_a_gap_that_pyarrow_reads(ring):
    # validity=True (the default): every column loaned with a bitmap, none given a null. The
    # commit drops every bitmap and moves nothing: the subscriber's buffers are the arrays.
    sub = ring.subscribe("gaps")
    pub = ring.publisher()
    for rows in (1, 1000, 70_000):
        with pub.loan(NULLABLE, rows) as batch:
            reserved = batch._loan.size
            expected, arrays = fill_nullable(batch, rows)
        message = sub.next_message(timeout=10)
        got = message.table
        got.validate(full=True)
        assert got.equals(expected)
        for name, array in arrays.items():
            chunk = got.column(name).chunk(0)
            assert chunk.null_count == 0 and chunk.buffers()[0] is None, f"{name}: a bitmap without nulls"
            assert chunk.buffers()[1].address == array.ctypes.data, f"{name} moved at commit"
        # The gaps stay in the message: as long as the loan reserved, longer than pyarrow's own.
        assert message.handle.size == reserved
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, NULLABLE) as writer:
            writer.write_table(expected)
        assert reserved > sink.getvalue().size
        # Read again by handle (pyarrow's stream reader over the ring's bytes).
        assert ring.load(message.handle).equals(expected)


def test_commit_counts_only_bitmaps_it_handed_out(ring):
    # A bitmap Python never received (validity()) is all valid as loaned: the commit publishes
    # it with null count 0 without reading it. Shown by clearing bits behind the API's back, in
    # a loan whose layout is known from an identical loan before it.
    sub = ring.subscribe("counts")
    pub = ring.publisher()
    with pub.loan(NULLABLE, 64) as probe:
        at, size = probe._loan.buffer([1], 0)  # column "x"'s bitmap, offset in the reservation
        probe.abort()
    with pub.loan(NULLABLE, 64) as batch:
        fill_nullable(batch)
        batch._memory[at:at + size] = bytes(size)  # every "x" null, were it counted
        bits = batch.validity("n")                 # handed out, no null count: counted
        bits[0] = 0b11111110
    got = sub.next(timeout=10)
    assert got.column("x").null_count == 0
    assert got.column("n").null_count == 1 and got.column("n")[0].as_py() is None
    assert got.column("t").null_count == 0


def test_an_exception_in_the_block_publishes_nothing_and_returns_the_space(ring_name):
    ring = ar.Ring.create(ring_name, capacity=1 * 2**20, policy="fail")
    sub = ring.subscribe("nothing")
    pub = ring.publisher()
    rows = 20_000  # 44 bytes a row: most of the ring, so a leaked reservation would fail the next
    for _ in range(3):
        with pytest.raises(RuntimeError, match="readout failed"):
            with pub.loan(DAQ, rows) as batch:
                batch.column("event")[:] = 1
                raise RuntimeError("readout failed")
        assert not batch.open and batch.handle is None
    assert sub.next(timeout=0) is None
    stats = ring.stats()
    assert stats["committed_bytes"] == 0
    with pub.loan(DAQ, rows) as batch:  # the space came back: a loan this size fits again
        fill_daq(batch)
    assert sub.next(timeout=10).num_rows == rows


def test_explicit_commit_and_abort(ring):
    sub = ring.subscribe("explicit")
    pub = ring.publisher()
    batch = pub.loan(DAQ, 10)
    expected = fill_daq(batch, seed=5)
    handle = batch.commit()
    assert handle == batch.handle
    with pytest.raises(ar.BadStateError, match="committed"):
        batch.column("event")
    with pytest.raises(ar.BadStateError, match="committed"):
        batch.commit()
    batch.abort()  # a finished loan: nothing to do
    aborted = pub.loan(DAQ, 10)
    aborted.column("event")[:] = 9
    aborted.abort()
    with pytest.raises(ar.BadStateError, match="aborted"):
        aborted.commit()
    assert sub.next(timeout=10).equals(expected)
    assert sub.next(timeout=0) is None


def test_nested_and_temporal_columns_round_trip(ring):
    schema = pa.schema([
        pa.field("t", pa.timestamp("ns"), nullable=False),
        pa.field("pos", pa.struct([pa.field("x", pa.float64(), nullable=False),
                                   pa.field("y", pa.float64(), nullable=False)]), nullable=False),
        pa.field("id", pa.binary(4), nullable=False),
        pa.field("ok", pa.bool_(), nullable=False),
        pa.field("m", pa.list_(pa.field("r", pa.list_(pa.field("c", pa.uint8(), nullable=False), 3),
                                        nullable=False), 2), nullable=False),
    ])
    sub = ring.subscribe("nested")
    n = 50
    flags = np.arange(n) % 4 == 1
    with ring.publisher().loan(schema, n, validity=False) as batch:
        t = batch.column("t")
        assert t.dtype == np.dtype("datetime64[ns]")
        t[:] = np.arange(n).astype("datetime64[ns]")
        batch.column(("pos", "x"))[:] = np.arange(n) * 0.5
        batch.column(("pos", 1))[:] = -1.0
        ids = batch.column("id")
        assert ids.shape == (n, 4)
        ids[:] = np.frombuffer(b"".join(b"%04d" % i for i in range(n)), np.uint8).reshape(n, 4)
        batch.bitmap("ok")[:] = np.packbits(flags, bitorder="little")
        m = batch.column("m")
        assert m.shape == (n, 2, 3)
        m[:] = np.arange(n * 6, dtype=np.uint8).reshape(n, 2, 3)
        with pytest.raises(ar.InvalidArgumentError, match="struct"):
            batch.column("pos")
        with pytest.raises(ar.InvalidArgumentError, match="bit-packed"):
            batch.column("ok")
        with pytest.raises(ar.InvalidArgumentError, match="no validity bitmap"):
            batch.validity("t")
        with pytest.raises(ar.InvalidArgumentError, match="no column 'nope'"):
            batch.column("nope")
    got = sub.next(timeout=10)
    got.validate(full=True)
    assert got.column("t").cast(pa.int64()).to_pylist() == list(range(n))
    assert got.column("pos").chunk(0).field("x").to_pylist() == [i * 0.5 for i in range(n)]
    assert got.column("pos").chunk(0).field("y").to_pylist() == [-1.0] * n
    assert got.column("id").to_pylist()[7] == b"0007"
    assert got.column("ok").to_pylist() == flags.tolist()
    assert got.column("m").to_pylist()[1] == [[6, 7, 8], [9, 10, 11]]


def test_unsupported_types_name_the_column(ring):
    schema = pa.schema([pa.field("adc", pa.int16()), pa.field("label", pa.utf8())])
    with pytest.raises(ar.InvalidArgumentError, match="'label'.*publish") as info:
        ring.publisher().loan(schema, 10)
    assert isinstance(info.value, ar.Error) and "string" in str(info.value)
    with pytest.raises(ar.InvalidArgumentError, match="'tags'.*capacit"):  # a list needs a capacity
        ring.publisher().loan(pa.schema([pa.field("tags", pa.list_(pa.int32()))]), 10)
    with pytest.raises(ar.InvalidArgumentError, match="'names'"):  # nested variable-width: never
        ring.publisher().loan(pa.schema([pa.field("names", pa.list_(pa.utf8()))]), 10, capacities={"names": 64})
    with pytest.raises(ar.InvalidArgumentError, match="pyarrow.Schema"):
        ring.publisher().loan({"adc": "int16"}, 10)
    with pytest.raises(ar.InvalidArgumentError, match="compress"):
        ring.publisher(compression="zstd").loan(DAQ, 10)
    assert ring.stats()["committed_bytes"] == 0


def test_a_loan_larger_than_the_ring_errors_clearly(ring):
    with pytest.raises(ar.TooLargeError, match="holds at most") as info:
        ring.publisher().loan(DAQ, ring.capacity // 44 + 1)
    assert "bigger ring" in str(info.value)
    for rows in (2**40, 2**31):  # beyond what an Arrow batch holds: still ours, still TooLarge
        with pytest.raises(ar.TooLargeError, match="2\\^31 - 1"):
            ring.publisher().loan(DAQ, rows)
    assert ring.stats()["committed_bytes"] == 0


def test_a_full_ring_says_so_without_waiting(ring_name):
    ring = ar.Ring.create(ring_name, capacity=1 * 2**20, policy="fail")
    pub = ring.publisher()
    first = pub.loan(DAQ, 20_000)
    with pytest.raises(ar.RingFullError, match="no room"):
        pub.loan(DAQ, 20_000)
    first.abort()
    pub.loan(DAQ, 20_000).abort()


def test_cli_cat_exports_loaned_messages_that_pyarrow_reads_back(ring, cli):
    cat = subprocess.Popen([cli, "cat", ring.name, "--format", "arrow", "--limit", "2", "--timeout", "60"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert "subscribed" in cat.stderr.readline().decode()
    expected = []
    pub = ring.publisher()
    for seed in (1, 2):
        with pub.loan(DAQ, 300) as batch:
            expected.append(fill_daq(batch, seed))
    out, err = cat.communicate(timeout=60)
    assert cat.returncode == 0, err
    assert pa.ipc.open_stream(out).read_all().equals(pa.concat_tables(expected))


@pytest.mark.parametrize("library", ["libarrow.so", "libarrow_python.so"])
def test_one_libarrow_in_the_process_shared_with_pyarrow(ring, library):
    ring.publisher().loan(DAQ, 1).abort()
    ring.publisher().publish(pa.table({"x": [1]}))  # the C++ tables, through pyarrow's C++ API
    mapped = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split(maxsplit=5)[5].strip() if len(line.split(maxsplit=5)) == 6 else ""
            if os.path.basename(path).startswith(library):
                mapped.add(os.path.realpath(path))
    assert len(mapped) == 1, f"{library} mapped from several files: {mapped}"
    assert os.path.dirname(mapped.pop()) == os.path.realpath(os.path.dirname(pa.__file__))
    assert _core.__name__ == "arrowring._core" and _core.native.__name__ == "arrowring._core_arrow"


def test_arrays_keep_the_mapping_alive_after_the_ring_object_is_gone(ring_name):
    ring = ar.Ring.create(ring_name, capacity=1 * 2**20)
    batch = ring.publisher().loan(DAQ, 10)
    adc = batch.column("adc")
    adc[:] = 3
    batch.abort()
    del ring, batch
    gc.collect()
    assert int(adc.sum()) >= 0  # still mapped: reading cannot crash (the values are the ring's now)


def test_loans_reuse_the_framing_and_keep_up_a_steady_stream(ring):
    sub = ring.subscribe("stream")
    pub = ring.publisher()
    for seed in range(20):
        with pub.loan(DAQ, 64) as batch:
            expected = fill_daq(batch, seed)
        assert sub.next(timeout=10).equals(expected)


RING_ONLY = """
import pickle, sys
sys.modules["arrowring._core_arrow"] = None   # as when the installed pyarrow is not the build's
import pyarrow as pa
import arrowring as ar
assert ar._core.native.__name__ == "arrowring._core_ring" and not ar._core.LOANS
ring = ar.Ring.attach(sys.argv[1])
handle = ring.publisher().publish(pa.table({"x": [1, 2, 3]}))   # everything but loans works
try:
    ring.publisher().loan(pa.schema([("x", pa.int64())]), 3)
except ar.LoanUnavailableError as error:
    assert isinstance(error, ar.Error) and "pyarrow" in str(error), error
    sys.stdout.buffer.write(pickle.dumps(handle))
"""


def test_without_the_loans_module_the_ring_works_and_loan_says_why(ring):
    sub = ring.subscribe("ring-only")
    result = subprocess.run([sys.executable, "-c", RING_ONLY, ring.name], capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    handle = pickle.loads(result.stdout)  # a handle pickled by the ring-only build loads here
    assert isinstance(handle, ar.Handle)
    assert sub.next(timeout=10).column("x").to_pylist() == [1, 2, 3]


def test_threads_sharing_a_publisher_loan_at_once(ring):
    sub = ring.subscribe("threads")
    pub = ring.publisher(timeout=30)
    errors = []

    def produce(seed):
        try:
            for i in range(25):
                with pub.loan(DAQ, 32) as batch:
                    fill_daq(batch, seed * 100 + i)
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            errors.append(error)

    threads = [threading.Thread(target=produce, args=(t,)) for t in range(4)]
    for t in threads:
        t.start()
    received = [sub.next(timeout=30) for _ in range(100)]
    for t in threads:
        t.join(60)
    assert not errors, errors
    assert sorted(t.column("event")[0].as_py() for t in received) == sorted(
        s * 100 + i for s in range(4) for i in range(25))


def test_a_loan_dropped_without_commit_is_aborted_when_collected(ring_name):
    ring = ar.Ring.create(ring_name, capacity=1 * 2**20, policy="fail")
    pub = ring.publisher()
    batch = pub.loan(DAQ, 20_000)
    adc = batch.column("adc")
    del batch
    gc.collect()
    with pytest.raises(ar.RingFullError):  # the array still holds the loan
        pub.loan(DAQ, 20_000)
    del adc
    gc.collect()
    pub.loan(DAQ, 20_000).abort()  # its space came back
    assert ring.stats()["committed_bytes"] == 0
EVENTS = pa.schema([
    pa.field("event", pa.int64(), nullable=False),
    pa.field("detector", pa.utf8(), nullable=False),
    pa.field("hits", pa.list_(pa.field("channel", pa.int32(), nullable=False)), nullable=False),
    pa.field("raw", pa.large_binary(), nullable=False),
])


def test_variable_width_columns_fill_offsets_and_data_in_the_ring_up_to_their_capacity(ring):
    sub = ring.subscribe("check")
    rows = 50
    names = [f"det{i % 7}" * (i % 3) for i in range(rows)]
    hits = [list(range(i, i + i % 4)) for i in range(rows)]
    raw = [bytes([i]) * (i % 5) for i in range(rows)]
    expected = pa.table({"event": np.arange(rows), "detector": names, "hits": hits, "raw": raw}, schema=EVENTS)
    capacities = {"detector": 4096, "hits": 4 * 1000, "raw": 1000}
    with ring.publisher().loan(EVENTS, rows, capacities=capacities) as batch:
        assert batch.capacity("detector") == 4096 and batch.capacity("hits") == 1000
        assert batch.offsets("detector").dtype == np.int32 and batch.offsets("raw").dtype == np.int64
        assert not batch.offsets("hits").any(), "offsets start at zero: every value empty"
        with pytest.raises(ar.InvalidArgumentError, match="offsets"):
            batch.column("detector")
        batch.column("event")[:] = np.arange(rows)
        for key, values in (("detector", [n.encode() for n in names]), ("raw", raw)):
            offsets, data = batch.offsets(key), batch.data(key)
            offsets[1:] = np.cumsum([len(v) for v in values])
            data[:offsets[-1]] = np.frombuffer(b"".join(values), dtype=np.uint8)
        offsets, channels = batch.offsets("hits"), batch.data("hits")
        assert channels.dtype == np.int32 and channels.shape == (1000,) and in_ring(ring, channels)
        offsets[1:] = np.cumsum([len(h) for h in hits])
        channels[:offsets[-1]] = np.concatenate([np.array(h, dtype=np.int32) for h in hits])
        detector_at = batch.data("detector").ctypes.data
    got = sub.next(timeout=10)
    got.validate(full=True)
    assert got.equals(expected)
    # Zero-copy on both sides: the subscriber reads the bytes where the loan wrote them.
    assert got.column("detector").chunk(0).buffers()[2].address == detector_at


def test_offsets_beyond_the_capacity_publish_nothing_and_say_so(ring):
    sub = ring.subscribe("check")
    schema = pa.schema([pa.field("label", pa.utf8(), nullable=False)])
    with pytest.raises(ar.InvalidArgumentError, match="'label'.*beyond the loan's capacity of 8 bytes"):
        with ring.publisher().loan(schema, 2, capacities={"label": 8}) as batch:
            batch.offsets("label")[1:] = [4, 9]
    assert sub.next(timeout=0) is None
    assert ring.stats()["committed_bytes"] == 0
    with pytest.raises(ar.InvalidArgumentError, match="not in the schema|no \\(unique\\) field"):
        ring.publisher().loan(schema, 2, capacities={"lable": 8})


def test_the_demos_event_tables_built_by_a_python_producer_arrive_zero_copy_and_exact(ring_name):
    """python/examples/daq_producer.py, run as its own process, loans the demo's event tables;
    a subscriber here checks every value and that every buffer lies in the ring."""
    examples = os.path.join(os.path.dirname(__file__), os.pardir, "examples")
    sys.path.insert(0, examples)
    try:
        import daq_producer
    finally:
        sys.path.remove(examples)
    ring = ar.Ring.create(ring_name, capacity=64 * 2**20)
    sub = ring.subscribe("verifier")
    events, per_table = 5_000, 700  # the last table is short
    producer = subprocess.run([sys.executable, os.path.join(examples, "daq_producer.py"), ring_name,
                               "--events", str(events), "--batch", str(per_table)],
                              capture_output=True, text=True, timeout=120)
    assert producer.returncode == 0, producer.stderr
    low, high = ring.data_address, ring.data_address + ring.data_size
    seen = 0
    while seen < events:
        table = sub.next(timeout=10)
        assert table is not None, f"only {seen} of {events} events arrived"
        assert table.schema.equals(daq_producer.EVENTS)
        assert table["event_id"].to_numpy().tolist() == list(range(seen, seen + table.num_rows))
        assert (table["channel"].to_numpy() == np.arange(seen, seen + table.num_rows) % 64).all()
        waves = table["waveform"].combine_chunks().flatten().to_numpy().reshape(table.num_rows, -1)
        assert (waves == daq_producer.expected_waveforms(seen, table.num_rows)).all()
        for column in table.columns:  # buffers() lists the children's too
            for buffer in column.chunk(0).buffers():
                assert buffer is None or low <= buffer.address < high, "a buffer outside the ring"
        seen += table.num_rows
    assert sub.next(timeout=0) is None
    ring.unlink()


def test_capacities_are_checked_in_python_terms(ring):
    schema = pa.schema([pa.field("adc", pa.int16()), pa.field("label", pa.utf8())])
    pub = ring.publisher()
    with pytest.raises(ar.InvalidArgumentError, match="'adc' is int16, which takes no capacity"):
        pub.loan(schema, 10, capacities={"label": 64, "adc": 64})
    with pytest.raises(ar.InvalidArgumentError, match="0 or more"):
        pub.loan(schema, 10, capacities={"label": -1})
    for capacity in (2**62, 2**80):  # beyond the ring, and beyond C++'s int64: ours, not a TypeError
        with pytest.raises(ar.TooLargeError, match="holds at most"):
            pub.loan(schema, 10, capacities={"label": capacity})
    pub.loan(schema, 10, capacities={"label": np.int64(64)}).abort()  # NumPy integers are numbers too
    assert ring.stats()["committed_bytes"] == 0


def test_capacities_are_numbers_within_the_ring(ring):
    schema = pa.schema([pa.field("label", pa.utf8(), nullable=False)])
    with ring.publisher().loan(schema, 2, capacities={"label": np.int64(8)}) as batch:
        assert batch.capacity("label") == 8
    for capacity in (ring.capacity + 1, 2**40, 2**70):
        with pytest.raises(ar.TooLargeError, match="bigger ring"):
            ring.publisher().loan(schema, 2, capacities={"label": capacity})
    with pytest.raises(ar.InvalidArgumentError, match="number of bytes"):
        ring.publisher().loan(schema, 2, capacities={"label": "8"})
    with pytest.raises(ar.InvalidArgumentError, match="0 or more"):
        ring.publisher().loan(schema, 2, capacities={"label": -1})
