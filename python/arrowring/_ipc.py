"""Arrow IPC streams in ring memory: exact size, writing into a write slot, a table over a read slot."""
from __future__ import annotations

import struct
from typing import List, Optional, Tuple, Union

import pyarrow as pa
import pyarrow.ipc

from . import _core
from .errors import CorruptError, Error, InvalidArgumentError, error_for

TableLike = Union[pa.Table, pa.RecordBatch]


def ipc_stream_size(table: TableLike, options: Optional[pa.ipc.IpcWriteOptions] = None) -> int:
    """Exact bytes of ``table`` as an Arrow IPC stream, without serializing the data.

    Runs pyarrow's stream writer against ``pyarrow.MockOutputStream``, which only counts.
    """
    sink = pa.MockOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=options) as writer:
        writer.write(table)
    size: int = sink.size()
    return size


def as_table(data: TableLike) -> TableLike:
    if isinstance(data, (pa.Table, pa.RecordBatch)):
        return data
    raise InvalidArgumentError(f"publish takes a pyarrow.Table or pyarrow.RecordBatch, not {type(data).__name__}")


def _has_dictionary(type_: pa.DataType) -> bool:
    if pa.types.is_dictionary(type_):
        return True
    return any(_has_dictionary(type_.field(i).type) for i in range(type_.num_fields))


def _schema_has_dictionary(schema: pa.Schema) -> bool:
    return any(_has_dictionary(field.type) for field in schema)


class StreamSizer:
    """Exact stream sizes without serializing: the schema message is kept while each schema
    serializes to the same bytes, and each record batch message is sized by Arrow
    (``pa.ipc.get_record_batch_size``, O(columns)). Compressed streams and schemas with
    dictionaries are sized by the general ``ipc_stream_size``."""

    __slots__ = ("_options", "_fast", "_known")

    # Up to this size a stream is assembled from the kept schema message and each batch's
    # serialized message (two copies of a few KiB, 2 us less than running the writer);
    # larger ones go through the writer, which copies once.
    SMALL_STREAM_BYTES = 64 * 1024

    def __init__(self, options: pa.ipc.IpcWriteOptions):
        self._options = options
        self._fast = options.compression is None
        # The last schema and its message (None: sized and written the general way), replaced
        # as one: threads sharing a publisher each use the pair they measured with.
        self._known: Optional[Tuple[pa.Schema, Optional[memoryview]]] = None

    def measure(self, data: TableLike) -> Tuple[int, Optional[memoryview]]:
        """The exact stream size of ``data``, and the schema message to write it with (None:
        the general writer); pass both to ``write``."""
        schema = data.schema  # A new wrapper on every access, even of one table's schema.
        known = self._known
        if known is None or not _serializes_alike(schema, known[0]):
            message = None
            if self._fast and not _schema_has_dictionary(schema):
                message = memoryview(schema.serialize()).cast("B")
            known = self._known = (schema, message)
        message = known[1]
        if message is None:
            return ipc_stream_size(data, self._options), None
        batches = data.to_batches() if isinstance(data, pa.Table) else (data,)
        body: int = sum(pa.ipc.get_record_batch_size(b) for b in batches)
        return len(message) + body + len(_END_OF_STREAM), message

    def size(self, data: TableLike) -> int:
        return self.measure(data)[0]

    def write(self, slot: "_core.WriteSlot", data: TableLike, size: int, message: Optional[memoryview]) -> int:
        """Writes ``data``, measured as ``(size, message)``, into ``slot``; returns the bytes written."""
        if message is None or size > self.SMALL_STREAM_BYTES:
            return write_stream(slot, data, self._options)
        target = memoryview(slot)
        try:  # Byte for byte what the stream writer writes (tests compare them).
            position = len(message)
            target[:position] = message
            for batch in (data.to_batches() if isinstance(data, pa.Table) else (data,)):
                serialized = memoryview(batch.serialize()).cast("B")
                target[position:position + len(serialized)] = serialized
                position += len(serialized)
            target[position:position + len(_END_OF_STREAM)] = _END_OF_STREAM
            return position + len(_END_OF_STREAM)
        finally:
            target.release()  # Before commit: the core refuses a slot with a live view.


def _serializes_alike(schema: pa.Schema, known: pa.Schema) -> bool:
    """Whether ``schema``'s IPC message is byte for byte ``known``'s (0.1 us, where serializing
    takes 3). Schema.equals with metadata compares everything the message holds but two things
    of the schema's own metadata: it calls None and {} equal (the message has an empty map for
    {} only; a field's None and {} serialize alike), and it ignores the order of the keys."""
    if schema is known:
        return True
    if not schema.equals(known, check_metadata=True):
        return False
    mine, theirs = schema.metadata, known.metadata
    # equals ignores the keys' order, which the message keeps.
    return mine is theirs or (mine is not None and theirs is not None and list(mine.items()) == list(theirs.items()))


_END_OF_STREAM = b"\xff\xff\xff\xff\x00\x00\x00\x00"  # continuation marker, zero length
_END_OF_STREAM_BUFFER = pa.py_buffer(_END_OF_STREAM)


class StreamReader:
    """Reads each message's table zero-copy, decoding each distinct schema once: while a
    stream starts with exactly the schema message seen before, only its record batch is
    decoded (one subscriber's reader; not shared between threads). With ``_core.TableReader``
    (the C++ layer, built with pyarrow's C++ API) the C++ StreamDecoder reads it and pyarrow
    wraps the table as it is; otherwise pyarrow's IPC reader reads it over the slot's buffer."""

    __slots__ = ("_schema", "_schema_message", "_native")

    def __init__(self) -> None:
        self._schema: Optional[pa.Schema] = None
        self._schema_message: Optional[pa.Buffer] = None
        self._native = _core.TableReader() if _core.NATIVE_TABLES else None

    def read(self, slot: "_core.ReadSlot", ring_name: str) -> pa.Table:
        if self._native is not None:
            handle = slot.handle  # Before reading: the table takes the slot over.
            try:
                table: pa.Table = self._native.read(slot)
                return table
            except CorruptError as error:
                raise _corrupt(handle, ring_name, error) from error
        try:
            stream = pa.py_buffer(slot)  # Zero-copy; keeps the slot alive as the tables' base.
            table = self._read_known_schema(stream)
            return table if table is not None else self._read_and_learn(stream)
        except (pa.ArrowException, OSError, ValueError, EOFError) as error:
            raise _corrupt(slot.handle, ring_name, error) from error

    def read_many(self, subscription: "_core.Subscription", max_tables: int, timeout: Optional[float],
                  ring_name: str) -> Optional[Tuple[List[pa.Table], Optional[Error]]]:
        """Up to ``max_tables`` tables from ``subscription`` in one call into the C++ layer (the
        first waited for up to ``timeout``) and the error met after some were taken (raised at
        once when none was), or None without the C++ layer's reader."""
        if self._native is None:
            return None
        tables, failure = self._native.read_many(subscription, max_tables, timeout)
        if failure is None:
            return tables, None
        kind, reason, handle = failure
        error = _corrupt(handle, ring_name, reason) if handle is not None else error_for(kind)(reason)
        if not tables:
            raise error
        return tables, error

    def _read_known_schema(self, stream: pa.Buffer) -> Optional[pa.Table]:
        known = self._schema_message
        if known is None or stream.size <= known.size + 8 or not stream[:known.size].equals(known):
            return None
        reader = pa.BufferReader(stream)
        reader.seek(known.size)
        batch = pa.ipc.read_record_batch(pa.ipc.read_message(reader), self._schema)
        end = reader.tell()
        if end + 8 != stream.size or not stream[end:].equals(_END_OF_STREAM_BUFFER):
            return None  # More than one batch: the general reader.
        return pa.Table.from_batches([batch], self._schema)

    def _read_and_learn(self, stream: pa.Buffer) -> pa.Table:
        table = pa.ipc.open_stream(stream).read_all()
        # The schema message is the stream's first: a continuation marker, its length, its bytes.
        if stream.size >= 8 and stream[:4].equals(_END_OF_STREAM_BUFFER[:4]):
            length = 8 + struct.unpack_from("<i", stream, 4)[0]
            if 8 < length <= stream.size and not _schema_has_dictionary(table.schema):
                self._schema_message = pa.py_buffer(stream[:length].to_pybytes())
                self._schema = table.schema
        return table


def _corrupt(handle: "_core.Handle", ring_name: str, error: object) -> CorruptError:
    return CorruptError(f"message {handle.sequence} of ring {ring_name!r} ({handle.size} bytes) is not a valid "
                        f"Arrow IPC stream: {error}; it was skipped. Its publisher wrote bad bytes, or a process "
                        "with write access to the ring overwrote them")


def table_over(slot: "_core.ReadSlot", ring_name: str) -> pa.Table:
    """The table in a message, zero-copy; CorruptError (Arrow's reason inside) if the message
    is no Arrow IPC stream."""
    # pyarrow wraps the slot's buffer (zero-copy) and keeps the slot alive as its base: the
    # message is released when the last buffer of the table, or of a slice of it, is collected.
    try:
        return pa.ipc.open_stream(pa.py_buffer(slot)).read_all()
    except (pa.ArrowException, OSError, ValueError, EOFError) as error:
        raise _corrupt(slot.handle, ring_name, error) from error


# From this many bytes a stream is sized and written by the C++ layer (_core.IpcStream): the
# same libarrow and options, but copied with streaming stores when the slot is cold, and
# without the GIL; below it, crossing the C stream interface costs more than it saves.
NATIVE_WRITE_BYTES = 64 * 1024
# pyarrow's default IPC write options: what the framework writes with, and what the C++ layer's
# writer uses.
DEFAULT_WRITE_OPTIONS = pa.ipc.IpcWriteOptions()


def _native_writable(options: pa.ipc.IpcWriteOptions) -> bool:
    """Whether ``options`` are pyarrow's defaults, which the C++ layer's writer uses."""
    return (options.compression is None and not options.use_legacy_format and not options.allow_64bit
            and options.metadata_version == pa.ipc.MetadataVersion.V5
            and not options.emit_dictionary_deltas and not options.unify_dictionaries)


def native_stream(data: TableLike, size: int, options: pa.ipc.IpcWriteOptions) -> "Optional[_core.IpcStream]":
    """``data`` imported for the C++ layer to size and write, when it is worth it (``size``, its
    stream's size, is large) and possible; else None. Its ``size`` is the size to reserve: that
    of exactly the stream pyarrow's writer writes (the schema crosses as its IPC message, which
    keeps empty metadata apart from none, as the C interface cannot)."""
    if not _core.LOANS or size < NATIVE_WRITE_BYTES or not _native_writable(options):
        return None
    if _core.NATIVE_TABLES:  # pyarrow hands the table over as it is: no C stream import
        return _core.ipc_stream_of(data)
    table = data if isinstance(data, pa.Table) else pa.Table.from_batches([data])
    return _core.IpcStream(table.__arrow_c_stream__(), table.schema.serialize().to_pybytes())


def write_stream(slot: "_core.WriteSlot", data: TableLike, options: pa.ipc.IpcWriteOptions) -> int:
    # Every view of the slot must be gone before commit (the core refuses otherwise: a live
    # writable view would let anyone change a published message), also when writing fails.
    sink = writer = None
    try:
        sink = pa.FixedSizeBufferWriter(pa.py_buffer(slot))  # Zero-copy view of the ring space.
        writer = pa.ipc.new_stream(sink, data.schema, options=options)
        writer.write(data)
        writer.close()
        written: int = sink.tell()
        sink.close()
        return written
    finally:
        del writer, sink
