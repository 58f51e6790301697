"""Arrow IPC streams in ring memory: exact size, writing into a write slot, a table over a read slot."""
from __future__ import annotations

from typing import Optional, Union

import pyarrow as pa
import pyarrow.ipc

from . import _core
from .errors import CorruptError, InvalidArgumentError

TableLike = Union[pa.Table, pa.RecordBatch]


def ipc_stream_size(table: TableLike, options: Optional[pa.ipc.IpcWriteOptions] = None) -> int:
    """Exact bytes of ``table`` as an Arrow IPC stream, without serializing the data.

    Runs pyarrow's stream writer against ``pyarrow.MockOutputStream``, which only counts.
    """
    sink = pa.MockOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write(table)
    return sink.size()


def as_table(data: TableLike) -> TableLike:
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return data
    raise InvalidArgumentError(f"publish takes a pyarrow.Table or pyarrow.RecordBatch, not {type(data).__name__}")


def table_over(slot: "_core.ReadSlot", ring_name: str) -> pa.Table:
    """The table in a message, zero-copy; CorruptError (Arrow's reason inside) if the message
    is no Arrow IPC stream."""
    # pyarrow wraps the slot's buffer (zero-copy) and keeps the slot alive as its base: the
    # message is released when the last buffer of the table, or of a slice of it, is collected.
    try:
        return pa.ipc.open_stream(pa.py_buffer(slot)).read_all()
    except (pa.ArrowException, OSError, ValueError) as error:
        handle = slot.handle
        raise CorruptError(f"message {handle.sequence} of ring {ring_name!r} ({handle.size} bytes) is not a valid "
                           f"Arrow IPC stream: {error}; it was skipped. Its publisher wrote bad bytes, or a process "
                           "with write access to the ring overwrote them") from error


def write_stream(slot: "_core.WriteSlot", data: TableLike, options: pa.ipc.IpcWriteOptions) -> int:
    # Every view of the slot must be gone before commit (the core refuses otherwise: a live
    # writable view would let anyone change a published message), also when writing fails.
    sink = writer = None
    try:
        sink = pa.FixedSizeBufferWriter(pa.py_buffer(slot))  # Zero-copy view of the ring space.
        writer = pa.ipc.new_stream(sink, data.schema, options=options)
        writer.write(data)
        writer.close()
        written = sink.tell()
        sink.close()
        return written
    finally:
        del writer, sink
