"""Exceptions of arrowring: one class per kind of failure, all subclasses of :class:`Error`.

Each also derives from the closest built-in exception, so ``except FileNotFoundError`` or
``except ValueError`` work as a Python programmer expects.
"""
from __future__ import annotations


class Error(Exception):
    """Base class of every arrowring error."""


class InvalidArgumentError(Error, ValueError):
    """A bad name, size, option, timeout or handle."""


class NoSuchRingError(Error, FileNotFoundError):
    """No ring of that name exists (``arrowring ls`` lists rings)."""


class RingExistsError(Error, FileExistsError):
    """``Ring.create`` on a name that is taken."""


class RingPermissionError(Error, PermissionError):
    """The ring belongs to another user (rings are 0600 unless created with mode 0o660)."""


class IncompatibleRingError(Error):
    """Not an arrowring segment, or one of another layout version."""


class NoSpaceError(Error, MemoryError):
    """/dev/shm cannot hold the ring (in containers, raise --shm-size)."""


class TooLargeError(Error, ValueError):
    """A message larger than the ring can ever hold."""


class StaleHandleError(Error, LookupError):
    """The handle's message was freed and its space may hold another message."""


class WrongRingError(Error, ValueError):
    """The handle names another ring."""


class TooManyError(Error):
    """All attachment or subscriber slots of the ring are in use."""


class BadStateError(Error, RuntimeError):
    """An operation on a finished slot, a subscription that left, or a slot still viewed."""


class RingFullError(Error):
    """No room in the ring within the timeout (at once under the "fail" policy)."""


class CorruptError(Error):
    """Shared state or a message breaks the ring's invariants: a process with write access
    overwrote it. The message names the field; the offending message is skipped."""


class LoanUnavailableError(Error, RuntimeError):
    """Loans need arrowring's Arrow build, which did not load here (the message says why: most
    often the installed pyarrow is not the one arrowring was built with)."""


class AuthenticationError(Error, PermissionError):
    """A remote server (``arrowring serve``) refused the bearer token: none was given, or a
    wrong one. The message holds the server's words."""


class NotServedError(Error, PermissionError):
    """A remote server runs but does not serve that ring (its ``--ring`` list)."""


class ConnectionFailedError(Error, ConnectionError):
    """A remote server could not be reached (wrong address, server not running, plain client
    against a TLS server or the reverse, certificate not trusted) or the stream broke."""


class SchemaChangedError(Error, TypeError):
    """A message with another schema than the Arrow stream being read (``Subscriber.reader()``)
    ends that stream. The message is not lost: the subscriber's next ``next()``, ``reader()``
    or ``next_async()`` returns it first."""


class SystemError_(Error, OSError):
    """An unexpected operating-system error."""


_BY_CODE = {
    "InvalidArgument": InvalidArgumentError,
    "NotFound": NoSuchRingError,
    "AlreadyExists": RingExistsError,
    "PermissionDenied": RingPermissionError,
    "Incompatible": IncompatibleRingError,
    "NoSpace": NoSpaceError,
    "TooLarge": TooLargeError,
    "StaleHandle": StaleHandleError,
    "WrongRing": WrongRingError,
    "TooManyAttachments": TooManyError,
    "BadState": BadStateError,
    "RingFull": RingFullError,
    "System": SystemError_,
    "Corrupt": CorruptError,
}


def error_for(code: str) -> type[Error]:
    """The exception class for a core error code (used by the C++ extension)."""
    return _BY_CODE.get(code, Error)
