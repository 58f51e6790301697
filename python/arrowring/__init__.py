"""arrowring: zero-copy Arrow tables between processes through named shared-memory rings.

    import arrowring as ar
    ring = ar.Ring.create("daq", capacity=256 * 2**20)          # or ar.Ring.attach("daq")
    handle = ring.publisher().publish(table)                      # -> ar.Handle
    with ring.publisher().loan(schema, rows) as batch:            # build it in ring memory:
        batch.column("adc")[:] = samples                          # NumPy views, no copy
    sub = ring.subscribe("storage")
    table = sub.next(timeout=1.0)                                 # pyarrow.Table or None

Tables returned by ``next()`` and ``load()`` are zero-copy: their buffers lie in the shared
memory, and the message's space returns to the ring once the table and every array and slice
taken from it have been garbage-collected.
"""

from types import ModuleType

from . import errors
from ._core import Handle
from ._ipc import ipc_stream_size
from ._loan import LoanedBatch
from ._publisher import Publisher
from ._ring import Ring, load
from ._subscriber import Message, Subscriber
from .errors import (AuthenticationError, BadStateError, ConnectionFailedError, CorruptError, Error,
                     IncompatibleRingError, InvalidArgumentError, LoanUnavailableError, NoSpaceError,
                     NoSuchRingError, NotServedError, RingExistsError, RingFullError, RingPermissionError,
                     SchemaChangedError, StaleHandleError, TooLargeError, TooManyError, WrongRingError)

__all__ = [
    "Ring", "Publisher", "LoanedBatch", "Subscriber", "Message", "Handle", "load", "ipc_stream_size", "Error",
    "InvalidArgumentError", "NoSuchRingError", "RingExistsError", "RingPermissionError",
    "IncompatibleRingError", "NoSpaceError", "TooLargeError", "StaleHandleError", "WrongRingError",
    "TooManyError", "BadStateError", "RingFullError", "CorruptError", "LoanUnavailableError",
    "AuthenticationError", "NotServedError", "ConnectionFailedError", "SchemaChangedError", "errors",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> ModuleType:
    # `arrowring.flight` loads pyarrow.flight (and its gRPC): only for those who use it.
    if name == "flight":
        import importlib
        return importlib.import_module(".flight", __name__)
    raise AttributeError(f"module 'arrowring' has no attribute {name!r}")
