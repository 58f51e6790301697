"""A subscriber read as an Arrow stream: ``Subscriber.reader()`` → ``pyarrow.RecordBatchReader``.

The reader yields every record batch of the subscriber's next messages, zero-copy (each batch's
buffers lie in ring memory, as ``next()``'s tables do). A ``pyarrow.RecordBatchReader`` exports
``__arrow_c_stream__`` (the Arrow PyCapsule interface), so DuckDB, Polars and any other consumer
of Arrow C streams read a live ring through it.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Iterator, Optional

import pyarrow as pa

from .errors import InvalidArgumentError, SchemaChangedError

if TYPE_CHECKING:
    from ._subscriber import Message, Subscriber


def check_limit(limit: Optional[int]) -> None:
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InvalidArgumentError(f"limit must be None (no limit) or a number of messages >= 0, not {limit!r}")


def check_timeout(timeout: Optional[float]) -> None:
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, (int, float))
                                or not math.isfinite(timeout) or timeout < 0):
        raise InvalidArgumentError(f"timeout must be None (wait forever) or a number of seconds >= 0, not {timeout!r}")


def open_reader(subscriber: "Subscriber", limit: Optional[int], timeout: Optional[float],
                schema: Optional[pa.Schema]) -> pa.RecordBatchReader:
    check_limit(limit)
    check_timeout(timeout)
    if schema is not None and not isinstance(schema, pa.Schema):
        raise InvalidArgumentError(f"schema must be a pyarrow.Schema or None, not {type(schema).__name__}")
    first = None
    if schema is None:
        # A RecordBatchReader has its schema before its first batch: the first message's.
        first = subscriber.next_message(timeout) if limit != 0 else None
        if first is None:  # Nothing within the timeout (or limit=0): an empty stream.
            return pa.RecordBatchReader.from_batches(pa.schema([]), [])
        schema = first.table.schema
    return pa.RecordBatchReader.from_batches(schema, _batches(subscriber, first, limit, timeout, schema))


def _batches(subscriber: "Subscriber", first: Optional["Message"], limit: Optional[int],
             timeout: Optional[float], schema: pa.Schema) -> Iterator[pa.RecordBatch]:
    taken = 0
    message = first
    while limit is None or taken < limit:
        if message is None:
            message = subscriber.next_message(timeout)
            if message is None:
                return  # Nothing new within the timeout: the stream ends.
        table = message.table
        if not table.schema.equals(schema):
            subscriber._unread = message  # Not lost: the subscriber's next call returns it.
            raise SchemaChangedError(
                f"message {message.handle.sequence} of ring {subscriber.ring.name!r} has another schema than "
                f"this stream's, which ends here ({_difference(schema, table.schema)}). The message was not "
                "lost: the subscriber's next next() or reader() returns it first (a new reader() takes on its schema)")
        taken += 1
        message = None
        yield from table.to_batches()


def _difference(expected: pa.Schema, got: pa.Schema) -> str:
    expected_fields = {f.name: f for f in expected}
    got_fields = {f.name: f for f in got}
    for name, field in expected_fields.items():
        if name not in got_fields:
            return f"column {name!r} is missing"
        if not field.equals(got_fields[name]):
            return f"column {name!r} is {got_fields[name].type} (nullable={got_fields[name].nullable}), not " \
                   f"{field.type} (nullable={field.nullable})"
    extra = [name for name in got_fields if name not in expected_fields]
    if extra:
        return f"it has the column(s) {', '.join(map(repr, extra))} besides"
    return "the columns are in another order"
