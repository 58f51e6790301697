"""Shared memory is untrusted: scribbled descriptors and payloads give ar.Error, never pyarrow's."""
import mmap
import struct

import pyarrow as pa
import pytest

import arrowring as ar
from arrowring import _core

# The segment's layout (src/arrowring/ring/layout.h): a 4096-byte header, 48 attachments of 64
# bytes, 32 subscribers of 128 bytes, then the 64-byte descriptors; in a descriptor, begin is
# the third word and size the fifth.
DESCRIPTORS = 4096 + 48 * 64 + 32 * 128
BEGIN, SIZE = 16, 32


def table(i):
    return pa.table({"x": list(range(i, i + 100))})


@pytest.fixture
def published(ring_name):
    ring = ar.Ring.create(ring_name, capacity=1 << 20, max_messages=64)
    sub = ring.subscribe("reader")
    handle = ring.publisher(deliveries=1).publish(table(0))
    with open(_core.segment_path(ring_name), "r+b") as f:
        segment = mmap.mmap(f.fileno(), 0)
    yield ring, sub, handle, segment
    segment.close()


@pytest.mark.parametrize("field,value", [
    (BEGIN, 2**63 - 12345), (BEGIN, 1), (BEGIN, (1 << 20) - 64), (SIZE, 2**64 - 1), (SIZE, 0), (SIZE, 1 << 21),
])
def test_a_scribbled_descriptor_is_a_corrupt_error_naming_the_field(published, field, value):
    ring, sub, handle, segment = published
    struct.pack_into("<Q", segment, DESCRIPTORS + handle.sequence * 64 + field, value)
    name = {BEGIN: "begin", SIZE: "size"}[field]
    with pytest.raises(ar.CorruptError, match=f"descriptor {name}|descriptor end"):
        sub.next(timeout=0)
    with pytest.raises(ar.CorruptError):
        ring.load(handle)
    ring.publisher().publish(table(1))
    assert sub.next(timeout=0).equals(table(1)), "the reader goes on past the bad message"


def test_a_scribbled_payload_is_a_corrupt_error_with_arrows_reason(published):
    ring, sub, handle, segment = published
    data_offset = struct.unpack_from("<Q", segment, 32)[0]  # RingHeader::data_offset
    offset = data_offset + handle.offset
    segment[offset:offset + 64] = b"\xff" * 64
    with pytest.raises(ar.CorruptError, match="not a valid Arrow IPC stream") as error:
        sub.next(timeout=0)
    # Arrow's reason, from pyarrow's reader or from the C++ layer's (arrowring._core.TableReader).
    assert "Invalid IPC message" in str(error.value)
    assert isinstance(error.value.__cause__, (pa.ArrowException, OSError, ar.CorruptError))


@pytest.mark.parametrize("native", [True, False], ids=["C++ reader", "Python reader"])
def test_next_many_returns_the_tables_before_a_scribbled_one_and_raises_its_error_next(ring_name, monkeypatch,
                                                                                         native):
    if not native:
        monkeypatch.setattr(_core, "NATIVE_TABLES", False)  # subscribers made now read in Python
    elif not _core.NATIVE_TABLES:
        pytest.skip("built without pyarrow's C++ API")
    ring = ar.Ring.create(ring_name, capacity=1 << 20, max_messages=64)
    sub = ring.subscribe("reader")
    publisher = ring.publisher()
    handles = [publisher.publish(table(i)) for i in range(4)]
    with open(_core.segment_path(ring_name), "r+b") as f:
        segment = mmap.mmap(f.fileno(), 0)
    data_offset = struct.unpack_from("<Q", segment, 32)[0]  # RingHeader::data_offset
    offset = data_offset + handles[2].offset
    segment[offset:offset + 64] = b"\xff" * 64
    segment.close()
    got = sub.next_many(10, timeout=0)
    assert [t.equals(table(i)) for i, t in enumerate(got)] == [True, True], "the two before it"
    with pytest.raises(ar.CorruptError, match=f"message {handles[2].sequence} .*not a valid Arrow IPC stream"):
        sub.next_many(10, timeout=0)
    assert [t.equals(table(3)) for t in sub.next_many(10, timeout=0)] == [True], "and on past it"
    assert sub.next_many(10, timeout=0) == []
