"""Loans: a record batch built in ring memory through NumPy, published without a copy.

    with pub.loan(schema, 4096) as batch:
        batch.column("adc")[:] = samples        # a writable ndarray over ring memory
    # published here; an exception inside the block publishes nothing and frees the space

The reservation holds every buffer at the position it has in the published Arrow IPC stream
(docs/design.md §5), so committing writes only the framing: O(columns), whatever the size. A
bitmap without nulls is dropped as a gap in the body (no byte moves), and only the bitmaps
handed out by ``validity()`` without ``set_null_count()`` are counted (O(rows/8) each).
"""
from __future__ import annotations

import math
import weakref
from types import TracebackType
from typing import TYPE_CHECKING, List, Literal, Mapping, Optional, Sequence, Tuple, Type, Union

import pyarrow as pa

try:
    import numpy as np
except ImportError:  # Loans hand out NumPy arrays; the rest of arrowring needs no NumPy.
    # Typing has no optional module: np is typed as numpy, and HAVE_NUMPY says whether it is.
    np = None  # type: ignore[assignment]

from ._core import Handle
from .errors import BadStateError, InvalidArgumentError

if TYPE_CHECKING:
    from ._core import Loan

HAVE_NUMPY = np is not None

Key = Union[str, int, Sequence[Union[str, int]]]

_INTERVAL_MDN = np.dtype([("months", "<i4"), ("days", "<i4"), ("nanoseconds", "<i8")]) if np else None


def _numpy_type(t: pa.DataType) -> Optional[Tuple[np.dtype, Tuple[int, ...]]]:
    """The NumPy element type and trailing shape of one value of a fixed-width Arrow type."""
    if pa.types.is_integer(t) or pa.types.is_floating(t):
        return np.dtype(t.to_pandas_dtype()), ()
    if pa.types.is_timestamp(t):
        return np.dtype(f"datetime64[{t.unit}]"), ()
    if pa.types.is_duration(t):
        return np.dtype(f"timedelta64[{t.unit}]"), ()
    if pa.types.is_date32(t):
        return np.dtype(np.int32), ()  # days since the epoch: datetime64[D] is 8 bytes wide
    if pa.types.is_date64(t):
        return np.dtype("datetime64[ms]"), ()
    if pa.types.is_time32(t):
        return np.dtype(np.int32), ()
    if pa.types.is_time64(t):
        return np.dtype(np.int64), ()
    if t.id == pa.month_day_nano_interval().id and _INTERVAL_MDN is not None:
        return _INTERVAL_MDN, ()
    if pa.types.is_fixed_size_binary(t) or pa.types.is_decimal(t):
        return np.dtype(np.uint8), (t.byte_width,)  # raw little-endian bytes of each value
    return None


def _fixed_width(t: pa.DataType) -> bool:
    if pa.types.is_fixed_size_list(t):
        return _fixed_width(t.value_type)
    if pa.types.is_struct(t):
        return all(_fixed_width(t.field(i).type) for i in range(t.num_fields))
    return pa.types.is_boolean(t) or _numpy_type(t) is not None


def check_loanable(schema: pa.Schema, capacities: Mapping[str, int]) -> None:
    """Says in Python's terms what a loan cannot hold, before the C++ layer (whose messages
    speak of LoanOptions): every column needs an ndarray view — fixed-width ones, and top-level
    utf8/binary columns and lists of fixed-width values given a capacity."""
    for name, capacity in capacities.items():
        indices = schema.get_all_field_indices(name) if isinstance(name, str) else []
        if len(indices) != 1:
            raise InvalidArgumentError(f"capacities[{name!r}]: the schema has no (unique) field of that name")
        t = schema.field(indices[0]).type
        if not _is_variable_width(t):
            raise InvalidArgumentError(f"capacities[{name!r}]: column {name!r} is {t}, which takes no capacity "
                                       "(only utf8, binary and list columns do)")
        if not isinstance(capacity, (int, np.integer)) or isinstance(capacity, bool) or capacity < 0:
            raise InvalidArgumentError(f"capacities[{name!r}] = {capacity!r}: a capacity is a number of bytes, 0 "
                                       "or more")
    for field in schema:
        t = field.type
        binary_like = _is_variable_width(t) and not (pa.types.is_list(t) or pa.types.is_large_list(t))
        # A list of plain fixed-width values (no nesting: the C++ layer holds no more).
        loanable_list = (pa.types.is_list(t) or pa.types.is_large_list(t)) and (
            pa.types.is_boolean(t.value_type) or _numpy_type(t.value_type) is not None)
        if binary_like or loanable_list:
            if field.name not in capacities:
                raise InvalidArgumentError(
                    f"column {field.name!r} is {t}: give it a capacity, loan(..., capacities={{{field.name!r}: "
                    f"<bytes of its values>}}), or publish such tables with publish()")
        elif not _fixed_width(t):
            raise InvalidArgumentError(
                f"column {field.name!r} is {t}: a loan holds fixed-width columns (numbers, booleans, temporal, "
                "decimals, fixed-size binary, fixed-size lists and structs of them) and, with a capacity, utf8, "
                "binary and lists of fixed-width values; publish such tables with publish()")


class LoanedBatch:
    """One record batch of ``num_rows`` rows in ring memory, from :meth:`Publisher.loan`.

    ``column(key)`` gives a writable ``numpy.ndarray`` over a column's values in place (a
    fixed-size list: one more dimension per list level); ``offsets(key)`` and ``data(key)``
    those of a variable-width column (utf8, binary, list; loaned with a capacity);
    ``validity(key)`` the column's validity
    bitmap (uint8, bit set = valid, least significant bit first; all set at first);
    ``set_null_count(key, n)`` saves counting that bitmap at commit (bitmaps never handed out
    are all valid and never counted). ``key``: a column name or
    index, or a tuple path into nested columns (``("pos", "x")`` for field x of struct column
    pos). Use it as a context manager (commits on normal exit, aborts on an exception) or call
    ``commit()``/``abort()``.

    When the loan ends, every array it gave out becomes read-only: after a commit their memory
    is the published message — which the ring frees and reuses once its readers are done — and
    after an abort it is free ring space. Read what was published through a subscriber.
    Arrays derived from them (slices, reshapes) taken before the end stay writable: do not
    write through them afterwards."""

    def __init__(self, core_loan: Loan, schema: pa.Schema, num_rows: int):
        self._loan = core_loan
        self.schema = schema
        self.num_rows = num_rows
        self.handle: Optional[Handle] = None
        # One export of the reservation; every array is a view of it (np.frombuffer keeps it).
        self._memory = memoryview(core_loan)
        self._arrays: List[weakref.ref[np.ndarray]] = []

    # --- the context manager ------------------------------------------------------------
    def __enter__(self) -> "LoanedBatch":
        return self

    def __exit__(self, exc_type: Optional[Type[BaseException]], exc: Optional[BaseException],
                 tb: Optional[TracebackType]) -> Literal[False]:
        if exc_type is None:
            if self._loan.open:
                self.commit()
        else:
            self.abort()
        return False

    # --- views --------------------------------------------------------------------------
    def column(self, key: Key) -> "np.ndarray":
        """A writable ndarray over the values of a fixed-width column, in ring memory."""
        path, field, name = self._resolve(key)
        return self._track(self._values(path, field, name))

    def offsets(self, key: Key) -> "np.ndarray":
        """The offsets of a variable-width column (utf8, binary, list; int32, or int64 for the
        large_ types), ``num_rows + 1`` of them, all 0 at first (every value empty). Value r is
        ``data(key)[offsets[r]:offsets[r + 1]]``; ``offsets[0]`` stays 0, and the commit
        publishes ``offsets[num_rows]`` of the capacity (an error beyond it). Keep them
        non-decreasing: ``offsets[1:] = np.cumsum(lengths)``."""
        path, field, name = self._resolve(key)
        self._require_variable_width(field, name)
        dtype = np.int64 if _is_large(field.type) else np.int32
        return self._track(self._bytes(path, 1, name, "offsets").view(dtype))

    def data(self, key: Key) -> "np.ndarray":
        """The values of a variable-width column, its whole capacity: the bytes (uint8) of a
        utf8/binary column, or the child values of a list column (as ``column`` gives them)."""
        path, field, name = self._resolve(key)
        self._require_variable_width(field, name)
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            return self._track(self._values(path + [0], field.type.value_field, name))
        return self._track(self._bytes(path, 2, name, "values"))

    def capacity(self, key: Key) -> int:
        """The most ``offsets(key)[num_rows]`` may be: bytes of a utf8/binary column, values of
        a list column."""
        path, field, name = self._resolve(key)
        self._require_variable_width(field, name)
        if pa.types.is_list(field.type) or pa.types.is_large_list(field.type):
            return self._loan.length(path + [0])
        located = self._loan.buffer(path, 2)
        assert located is not None  # a variable-width column's values buffer (loan_bindings.h)
        return located[1]

    def bitmap(self, key: Key) -> "np.ndarray":
        """The bit-packed values of a boolean column (uint8, least significant bit first:
        ``np.packbits(flags, bitorder="little")`` fills it)."""
        path, field, name = self._resolve(key)
        if not pa.types.is_boolean(field.type):
            raise InvalidArgumentError(f"column {name!r} is {field.type}, not boolean: use column({key!r})")
        return self._track(self._bytes(path, 1, name, "values"))

    def validity(self, key: Key) -> "np.ndarray":
        """The validity bitmap of a column (uint8, bit set = valid, least significant bit
        first), all valid at first. Clear bits to make values null; then set_null_count()."""
        path, _, name = self._resolve(key)
        return self._track(self._bytes(path, 0, name, "validity bitmap"))

    def set_null_count(self, key: Key, null_count: int) -> None:
        """Tells the commit how many nulls the column's validity bitmap holds, so that it need
        not count them (O(rows/8) for a bitmap validity() handed out; one it never handed out
        is all valid and not counted)."""
        path, _, _ = self._resolve(key)
        self._loan.set_null_count(path, null_count)

    # --- ending ---------------------------------------------------------------------------
    @property
    def open(self) -> bool:
        return self._loan.open

    def commit(self) -> Handle:
        """Writes the framing around the body in place and publishes; returns the handle. The
        loan is over afterwards, also when the commit fails (nothing is published then)."""
        self._end()
        self.handle = self._loan.commit()
        return self.handle

    def abort(self) -> None:
        """Publishes nothing and returns the space to the ring (no-op on a finished loan)."""
        self._end()
        self._loan.abort()

    def __repr__(self) -> str:
        state = "open" if self._loan.open else ("committed" if self.handle is not None else "aborted")
        return f"<arrowring.LoanedBatch {self.num_rows} rows, {len(self.schema)} columns, {state}>"

    # --- internals ------------------------------------------------------------------------
    @staticmethod
    def _require_variable_width(field: pa.Field, name: str) -> None:
        if not _is_variable_width(field.type):
            raise InvalidArgumentError(f"column {name!r} is {field.type}, not variable-width: use column({name!r})")

    def _end(self) -> None:
        # Arrays outlive the loan (a with-block's variables do): make them read-only, so that
        # no write lands in a published message or in space the ring gives to the next one.
        for ref in self._arrays:
            array = ref()
            if array is not None:
                array.flags.writeable = False
        self._arrays.clear()

    def _track(self, array: np.ndarray) -> np.ndarray:
        self._arrays.append(weakref.ref(array))
        return array

    def _resolve(self, key: Key) -> Tuple[List[int], pa.Field, str]:
        if not self._loan.open:
            state = "committed" if self.handle is not None else "aborted"
            raise BadStateError(f"the loan was {state}: its memory belongs to the ring again; make a new loan "
                                "(pub.loan(...)) for the next batch")
        parts: List[object] = list(key) if isinstance(key, (tuple, list)) else [key]  # checked by _field_index
        if not parts:
            raise InvalidArgumentError("an empty column path")
        name = ".".join(str(p) for p in parts)
        path: List[int] = []
        field: Optional[pa.Field] = None
        for part in parts:
            if field is None:
                index = _field_index(self.schema, part, f"column {part!r}", len(self.schema))
                field = self.schema.field(index)
            elif pa.types.is_struct(field.type):
                index = _field_index(field.type, part, f"field {part!r} of struct column {name!r}",
                                     field.type.num_fields)
                field = field.type.field(index)
            elif pa.types.is_fixed_size_list(field.type) or pa.types.is_list(field.type) or \
                    pa.types.is_large_list(field.type):
                if part not in (0, field.type.value_field.name):
                    raise InvalidArgumentError(f"{name!r}: the child of a list is 0 or "
                                               f"{field.type.value_field.name!r}")
                index, field = 0, field.type.value_field
            else:
                raise InvalidArgumentError(f"{name!r}: column {field.name!r} ({field.type}) has no children")
            path.append(index)
        return path, field, name

    def _bytes(self, path: List[int], index: int, name: str, what: str) -> np.ndarray:
        located = self._loan.buffer(path, index)
        if located is None:
            raise InvalidArgumentError(
                f"column {name!r} has no {what}" +
                (": its field is not nullable, or the loan was made with validity=False" if index == 0 else ""))
        offset, size = located
        return np.frombuffer(self._memory, dtype=np.uint8, count=size, offset=offset)

    def _values(self, path: List[int], field: pa.Field, name: str) -> np.ndarray:
        t = field.type
        rows = self._loan.length(path)
        if pa.types.is_fixed_size_list(t):
            if pa.types.is_boolean(t.value_type):
                raise InvalidArgumentError(f"column {name!r} is {t}: booleans are bit-packed, so a list of "
                                           "them has no ndarray view; use bitmap() with the path to the list's "
                                           "child (the column's key, then 0)")
            inner = self._values(path + [0], t.value_field, name)
            return inner.reshape((rows, t.list_size) + inner.shape[1:])
        if pa.types.is_boolean(t):
            raise InvalidArgumentError(f"column {name!r} is boolean, stored bit-packed: fill bitmap({name!r}) "
                                       "(np.packbits(flags, bitorder='little'))")
        if _is_variable_width(t):
            raise InvalidArgumentError(f"column {name!r} is {t}, variable-width: fill offsets({name!r}) and "
                                       f"data({name!r})")
        if pa.types.is_struct(t):
            raise InvalidArgumentError(f"column {name!r} is a struct: take its fields, e.g. "
                                       f"column(({name!r}, {t.field(0).name!r}))" if t.num_fields else
                                       f"column {name!r} is a struct without fields")
        numpy_type = _numpy_type(t)
        located = self._loan.buffer(path, 1)
        if numpy_type is None or located is None:
            raise InvalidArgumentError(f"column {name!r} ({t}) has no NumPy view")
        dtype, shape = numpy_type
        offset, size = located
        count = rows * math.prod(shape)
        if count * dtype.itemsize != size:  # the loan's layout and NumPy's must agree exactly
            raise InvalidArgumentError(f"column {name!r} ({t}): {size} bytes in the ring, {count} x {dtype} in NumPy")
        array = np.frombuffer(self._memory, dtype=dtype, count=count, offset=offset)
        return array.reshape((rows,) + shape) if shape else array


def _is_large(t: pa.DataType) -> bool:
    large: bool = pa.types.is_large_string(t) or pa.types.is_large_binary(t) or pa.types.is_large_list(t)
    return large


def _is_variable_width(t: pa.DataType) -> bool:
    variable: bool = pa.types.is_string(t) or pa.types.is_binary(t) or pa.types.is_list(t) or _is_large(t)
    return variable


def _field_index(container: Union[pa.Schema, pa.StructType], part: object, what: str, count: int) -> int:
    if isinstance(part, (int, np.integer)) and not isinstance(part, bool):
        if 0 <= part < count:
            return int(part)
        raise InvalidArgumentError(f"no {what}: there are {count}")
    if isinstance(part, str):
        indices: List[int] = container.get_all_field_indices(part)
        if len(indices) == 1:
            return indices[0]
        names = [container.field(i).name for i in range(count)]
        if not indices:
            raise InvalidArgumentError(f"no {what}; the names are {names}")
        raise InvalidArgumentError(f"{what} is ambiguous ({len(indices)} fields have that name): use its index")
    raise InvalidArgumentError(f"{what}: a column is named by str or int, not {type(part).__name__}")
