"""The framework's ``arrow_ipc`` module: Arrow IPC helpers and the zero-copy send path.

Same seven functions, signatures and results as ENRG-tr/enrgdaq's ``enrgdaq.utils.arrow_ipc``
(documented in the seed); they run on arrowring's ring through :mod:`.shared_ring_buffer`.
Differences (docs/python.md has the full list):

- ``get_table_ipc_size`` is exact and does not serialize the table;
- ``read_table_from_address`` on a message this process holds gives the table its own reference
  to it, so the table stays intact after the handle is released, for as long as it lives;
- ``try_zero_copy_pyarrow`` says why, on the ``arrowring.compat`` logger (a WARNING at most once
  a second per cause), whenever it returns ``(None, False)``: the framework then silently takes
  its copying fallback, which is many times slower.
"""
from __future__ import annotations

import sys
from typing import Any, Optional, Tuple

import pyarrow as pa
import pyarrow.ipc

from .._ipc import DEFAULT_WRITE_OPTIONS, ipc_stream_size, native_stream
from ..errors import Error
from . import _warnings
from ._reading import read_table_from_address
from .handle import RingBufferHandle
from .shared_ring_buffer import get_global_ring_buffer

__all__ = [
    "get_table_ipc_size", "table_to_ipc_bytes", "ipc_bytes_to_table", "read_table_from_buffer",
    "read_table_from_address", "write_table_to_buffer", "try_zero_copy_pyarrow",
]

# --- the seed's seven functions ---------------------------------------------------------------
def get_table_ipc_size(table: pa.Table) -> int:
    """Exact size of ``table`` as an Arrow IPC stream, measured without serializing it."""
    return ipc_stream_size(table)


def table_to_ipc_bytes(table: pa.Table) -> bytes:
    """Serializes ``table`` to IPC stream bytes (the copying fallback)."""
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    data: bytes = sink.getvalue().to_pybytes()
    return data


def ipc_bytes_to_table(data: bytes) -> pa.Table:
    """Deserializes a table from IPC stream bytes (the copying fallback)."""
    return pa.ipc.open_stream(data).read_all()


def read_table_from_buffer(buffer: memoryview, size: int) -> pa.Table:
    """Reads a table zero-copy from the first ``size`` bytes of ``buffer``; the table keeps
    ``buffer`` alive."""
    return pa.ipc.open_stream(pa.py_buffer(buffer)[:size]).read_all()


def write_table_to_buffer(table: pa.Table, buffer: memoryview) -> int:
    """Writes ``table`` as an IPC stream into ``buffer``; returns the bytes written.

    Raises ValueError, naming both sizes, when the buffer is too small (checked before anything
    is written, so the buffer is left as it was)."""
    view = memoryview(buffer)
    if view.readonly:  # Arrow's FixedSizeBufferWriter would abort the process on it.
        raise ValueError("write_table_to_buffer needs a writable buffer; this one is read-only")
    needed = get_table_ipc_size(table)
    available = view.nbytes
    if needed > available:
        raise ValueError(f"the table needs {needed} bytes as an Arrow IPC stream but the buffer holds {available}")
    sink = pa.FixedSizeBufferWriter(pa.py_buffer(buffer))
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    written: int = sink.tell()
    sink.close()
    return written


def _handle_type() -> type:
    # The framework's own handle class when the framework is loaded (its messages declare that
    # type), else ours; both load and release through this package.
    models = sys.modules.get("enrgdaq.daq.models")
    framework_handle = getattr(models, "RingBufferHandle", None)
    return framework_handle if isinstance(framework_handle, type) else RingBufferHandle


def try_zero_copy_pyarrow(table: pa.Table, store_config: Any, tag: Any) -> Tuple[Optional[Any], bool]:
    """Writes ``table`` into the process's global ring for zero-copy transfer.

    Returns ``(handle, True)``, or ``(None, False)`` when it cannot (the ring cannot be made or
    attached, the table is larger than the ring, or tables still alive fill it), so the caller
    takes its copying fallback; while readers are loading what the ring holds it waits for them
    rather than overwrite what they have not read (``SharedMemoryRingBuffer._reserve``); each
    cause is logged as a WARNING (rate-limited) on the ``arrowring.compat`` logger.
    ``store_config`` and ``tag`` are unused, as in the framework."""
    try:
        ring_buffer = get_global_ring_buffer()
        # A large table is sized by the C++ layer that writes it (no pyarrow writer pass: about a
        # quarter of a 1 MiB table's send); a small one by pyarrow, and written by it.
        native = native_stream(table, table.nbytes, DEFAULT_WRITE_OPTIONS)
        size = native.size if native is not None else get_table_ipc_size(table)
        slot_written = ring_buffer._write_table(table, size, native)
        if slot_written is None:
            return None, False  # _write_table said why.
        index, written = slot_written
        handle = _handle_type()(buffer_name=ring_buffer.name, slot_index=index, data_size=written,
                                is_pyarrow=True, total_size=ring_buffer.total_size,
                                slot_size=ring_buffer.slot_size)
        return handle, True
    except (Error, ValueError, OSError, pa.ArrowException) as error:
        _warnings.warn(type(error).__name__, f"arrowring.compat: zero-copy send failed, taking the copying "
                        f"fallback: {error}")
        return None, False
