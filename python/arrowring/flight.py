"""Read a ring on another machine, through ``arrowring serve`` (Arrow Flight), as a stream of
``pyarrow.Table``\\ s.

    import arrowring.flight
    with arrowring.flight.connect("grpc+tls://daq-fe1:7400", token=token,
                                  tls_roots="ca.pem") as client:
        print(client.list_rings())
        with client.subscribe("daq", "analysis") as sub:
            for table in sub:                       # blocks for the next table; Ctrl-C works
                ...
            # or: for message in sub.messages(): message.sequence, message.missed, message.table

The client speaks the server's protocol (src/arrowring/bridge/wire.h) with pyarrow.flight, the
Flight of the pyarrow that arrowring is installed with (one libarrow in the process):

- ``DoGet`` with the ticket ``arrowring1\\n<ring>\\n<subscriber>\\n<resume_after|->`` streams a
  durable subscriber the server keeps under that name; every record batch carries a 56-byte
  ``app_metadata`` tag (source ring id, sequence, batch index and count, drops, commit time).
- ``DoAction("ack", "arrowring1\\n<ring>\\n<subscriber>\\n<sequence>")`` lets the server free
  what was processed. The server holds at most its window (16) of unacknowledged tables, so a
  slow reader slows the stream (and, under ``block``, the ring's publishers) instead of
  filling memory.

A table counts as processed once you ask for the next one or close the subscription: then it
is acknowledged. A job that dies replays from its first unprocessed table when it subscribes
again under the same name (the server kept its place); one that closed resumes right after
its last table. Nothing is lost or repeated under ``block``; under ``drop-oldest`` each
message says how many the source dropped before it.
"""
from __future__ import annotations

import json
import queue
import struct
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple, Union

import pyarrow as pa
import pyarrow.flight as flight

from .errors import (AuthenticationError, BadStateError, ConnectionFailedError, CorruptError, Error,
                     InvalidArgumentError, NoSuchRingError, NotServedError)

__all__ = ["connect", "Client", "RingInfo", "RemoteMessage", "RemoteSubscription"]

_MAGIC = "arrowring1"
_TAG = struct.Struct("<4sB3x6Q")  # "ARB1", version 1, 3 bytes unused, six little-endian u64
_TICKET_MAX = 512  # the server refuses longer tickets


class RingInfo:
    """What the server says about one of its rings (Flight's FlightInfo, decoded)."""

    __slots__ = ("name", "schema", "messages_written", "bytes_written", "stats")

    def __init__(self, name: str, schema: pa.Schema, messages_written: int, bytes_written: int,
                 stats: Dict[str, Any]):
        self.name, self.schema = name, schema
        self.messages_written, self.bytes_written = messages_written, bytes_written
        #: The server's counters: ring_id, capacity_bytes, policy, messages_dropped,
        #: committed_messages, subscribers (a count).
        self.stats = stats

    def __repr__(self) -> str:
        return (f"RingInfo({self.name!r}, messages_written={self.messages_written}, "
                f"bytes_written={self.bytes_written}, policy={self.stats.get('policy')!r})")


class RemoteMessage:
    """A table read from a remote ring, with where it came from.

    ``sequence``: its sequence number in the source ring (pass the last processed one as
    ``resume_after``); ``missed``: messages the source ring dropped (drop-oldest) before
    this one for this subscriber; ``commit_time_ns``: when it was published there
    (CLOCK_REALTIME of the source machine); ``ring_id``: the source ring's id, 16 hex digits
    as in ``Ring.stats()["ring_id"]``.
    """

    __slots__ = ("table", "sequence", "missed", "commit_time_ns", "ring_id")

    def __init__(self, table: pa.Table, sequence: int, missed: int, commit_time_ns: int, ring_id: str):
        self.table, self.sequence, self.missed = table, sequence, missed
        self.commit_time_ns, self.ring_id = commit_time_ns, ring_id

    def __repr__(self) -> str:
        return f"RemoteMessage(sequence={self.sequence}, missed={self.missed}, rows={self.table.num_rows})"


def connect(location: str, token: Optional[str] = None, tls_roots: Optional[str] = None, *,
            timeout: float = 10.0) -> "Client":
    """Connects to ``arrowring serve`` at ``grpc://host:port`` or ``grpc+tls://host:port``.

    ``token``: the server's bearer token (the contents of its ``--token-file``).
    ``tls_roots``: path of the PEM certificates that signed the server's certificate
    (default: the system's roots). ``timeout``: seconds the first call may take.
    The connection is checked at once: an unreachable server, a TLS mismatch or a refused
    token raise here, as a subclass of ``arrowring.Error``.
    """
    return Client(location, token=token, tls_roots=tls_roots, timeout=timeout)


class Client:
    """A connection to one ``arrowring serve``; see :func:`connect`."""

    def __init__(self, location: str, token: Optional[str] = None, tls_roots: Optional[str] = None, *,
                 timeout: float = 10.0):
        if not isinstance(location, str) or "://" not in location:
            raise InvalidArgumentError(f"expected grpc://host:port or grpc+tls://host:port, got {location!r}")
        scheme, _, rest = location.partition("://")
        if scheme not in ("grpc", "grpc+tcp", "grpc+tls"):
            raise InvalidArgumentError(f"unsupported scheme {scheme!r} in {location!r} (grpc or grpc+tls)")
        if not rest or "/" in rest.rstrip("/"):
            raise InvalidArgumentError(
                f"{location!r}: give the server only (grpc://host:port); the ring is an argument of subscribe()")
        self.location = f"{scheme}://{rest.rstrip('/')}"
        self._tls = scheme == "grpc+tls"
        roots = None
        if tls_roots is not None:
            if not self._tls:
                raise InvalidArgumentError(
                    f"tls_roots given but {self.location} is plain gRPC: use grpc+tls:// for a TLS server")
            try:
                with open(tls_roots, "rb") as f:
                    roots = f.read()
            except OSError as error:
                raise InvalidArgumentError(f"cannot read tls_roots {tls_roots}: {error.strerror}") from error
        if token is not None and (not isinstance(token, str) or not token.strip()):
            raise InvalidArgumentError("token must be a non-empty string (the server's --token-file contents)")
        self._headers = [(b"authorization", f"Bearer {token.strip()}".encode())] if token else []
        self._timeout = timeout
        try:
            self._client = flight.FlightClient(self.location, tls_root_certs=roots)
        except (pa.ArrowException, ValueError) as error:
            raise InvalidArgumentError(f"{self.location}: {_server_words(error)}") from error
        self._closed = False
        self._connected = False
        try:
            # A unary round trip that the server authenticates: it shows an unreachable
            # server, a plain/TLS mismatch or a refused token now, not at the first table.
            self._list(timeout)
        except BaseException:
            self._client.close()
            raise
        self._connected = True

    def _options(self, timeout: Optional[float] = None) -> flight.FlightCallOptions:
        return flight.FlightCallOptions(timeout=timeout, headers=self._headers)

    def _check_open(self) -> None:
        if self._closed:
            raise BadStateError(f"the client of {self.location} is closed")

    def _list(self, timeout: Optional[float]) -> List[RingInfo]:
        try:
            return [_ring_info(info) for info in self._client.list_flights(options=self._options(timeout))]
        except pa.ArrowException as error:
            raise _explain(error, self.location, None, self._connected) from error

    def list_rings(self) -> List[RingInfo]:
        """The rings the server serves (its ``--ring`` list, else every ring of its machine
        that it can attach), with their schema and counters."""
        self._check_open()
        return self._list(self._timeout)

    def ring_info(self, ring: str) -> RingInfo:
        """One ring's description; NoSuchRingError or NotServedError when it cannot be read."""
        self._check_open()
        try:
            info = self._client.get_flight_info(flight.FlightDescriptor.for_path(ring),
                                                options=self._options(self._timeout))
        except pa.ArrowException as error:
            raise _explain(error, self.location, ring, self._connected) from error
        return _ring_info(info)

    def subscribe(self, ring: str, subscriber: str, resume_after: Optional[int] = None) -> "RemoteSubscription":
        """Streams ``ring`` as the durable subscriber ``subscriber`` that the server keeps (it
        shows in ``arrowring stat`` on the server's machine).

        ``resume_after``: the sequence of the last table this job processed (e.g. stored with
        its results); the server drops what it still holds up to it. Without it the stream
        continues after the last acknowledged table of that subscriber, or, for a new name,
        with the first table published after this call.
        """
        self._check_open()
        return RemoteSubscription(self, ring, subscriber, resume_after)

    def close(self) -> None:
        """Closes the connection (subscriptions of this client stop working)."""
        if not self._closed:
            self._closed = True
            self._client.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"arrowring.flight.Client({self.location!r}{', closed' if self._closed else ''})"


class _Closed:
    """The type of _CLOSED, its one instance."""


_CLOSED = _Closed()  # handed over by close() to wake waiters


class _Failure:
    """What the reading thread hands over instead of a message when the stream failed."""

    def __init__(self, error: Error):
        self.error = error


class RemoteSubscription:
    """A stream of tables from a remote ring; see :meth:`Client.subscribe`.

    A background thread reads the Flight stream and hands over one complete table at a time
    (a bounded handover: it reads ahead by at most one table; the server's window bounds the
    rest), so that :meth:`next` can time out and Ctrl-C interrupts a wait.
    """

    def __init__(self, client: Client, ring: str, subscriber: str, resume_after: Optional[int]):
        for what, value in (("ring", ring), ("subscriber", subscriber)):
            if not isinstance(value, str) or not value or "\n" in value:
                raise InvalidArgumentError(f"{what} must be a non-empty name without newlines, got {value!r}")
        if resume_after is not None and (not isinstance(resume_after, int) or resume_after < 0):
            raise InvalidArgumentError(
                f"resume_after must be a sequence number (int >= 0) or None, got {resume_after!r}")
        if len(_ticket(ring, subscriber, 2**64 - 1)) > _TICKET_MAX:
            raise InvalidArgumentError("ring and subscriber names too long for a ticket (512 bytes in all)")
        self._client = client
        self.ring, self.name = ring, subscriber
        self._acked: Optional[int] = resume_after   # acknowledged to the server
        self._pending: Optional[int] = None          # handed out, acknowledged on the next call
        self._missed = 0
        self._gaps = 0
        self._duplicates = 0
        self._failure: Optional[Error] = None
        self._closed = False
        self._lock = threading.Lock()                # guards _reader against close()
        self._acked_changed = threading.Condition(self._lock)  # _acked or _closed changed
        self._handover: "queue.Queue[Union[RemoteMessage, _Failure, _Closed]]" = queue.Queue(maxsize=1)
        # The first stream opens here, so that a refused token, an unknown ring or a ring
        # not served raises from subscribe() itself.
        self._reader = self._open(resume_after)
        self._thread = threading.Thread(target=self._run, name=f"arrowring.flight {ring}/{subscriber}",
                                        daemon=True)
        self._thread.start()

    # -- what the user sees ------------------------------------------------------------

    @property
    def last_sequence(self) -> Optional[int]:
        """Source sequence of the last table acknowledged as processed (None: none yet); pass
        it as ``resume_after`` to carry on exactly after it."""
        return self._acked

    @property
    def missed(self) -> int:
        """Messages the source ring dropped (drop-oldest) before this subscriber read them,
        in total, as the server reported them."""
        return self._missed

    @property
    def gaps(self) -> int:
        """Sequence numbers skipped that the source did not report as dropped (0 unless
        something is wrong)."""
        return self._gaps

    @property
    def duplicates(self) -> int:
        """Tables that arrived again after this subscription had handed them over (a replay
        when the stream was reopened), skipped: each table is handed over once. As the C++
        puller's ``duplicates`` (``bridge pull``'s summary)."""
        return self._duplicates

    def next_message(self, timeout: Optional[float] = None) -> Optional[RemoteMessage]:
        """The next table with its sequence and drops, or None once ``timeout`` seconds pass
        without one (None: wait) or when another thread closes the subscription meanwhile.
        Acknowledges the previous table first."""
        if self._closed:
            raise BadStateError(f"subscription {self.ring}/{self.name} is closed")
        if self._failure is not None:
            raise self._failure
        self._ack_pending()
        try:
            item = self._handover.get(timeout=timeout) if timeout is None or timeout > 0 \
                else self._handover.get_nowait()
        except queue.Empty:
            return None
        if isinstance(item, _Closed):  # closed from another thread while this one waited
            self._handover.put_nowait(_CLOSED)  # for any other waiter (the slot is free)
            return None
        if isinstance(item, _Failure):
            self._failure = item.error
            raise item.error
        self._pending = item.sequence
        self._missed += item.missed
        return item

    def next(self, timeout: Optional[float] = None) -> Optional[pa.Table]:
        """The next table, or None once ``timeout`` seconds pass without one."""
        message = self.next_message(timeout)
        return None if message is None else message.table

    def messages(self) -> Iterator[RemoteMessage]:
        """Every message, as it arrives (blocks between them); ends when the subscription is
        closed (from another thread, say)."""
        while not self._closed:
            message = self.next_message()
            if message is None:
                return
            yield message

    def __iter__(self) -> Iterator[pa.Table]:
        for message in self.messages():
            yield message.table

    def close(self) -> None:
        """Acknowledges the last table handed out and ends the stream. The server keeps the
        subscriber: subscribing again under the same name resumes right after that table."""
        if self._closed:
            return
        try:
            if self._failure is None:
                self._ack_pending()
        except Error:
            pass  # Not acknowledged: the server replays that table on the next subscribe.
        finally:
            with self._lock:
                self._closed = True
                self._reader.cancel()  # gRPC allows cancelling from another thread
                self._acked_changed.notify_all()  # a reading thread waiting to reopen ends
            # Free the handover slot: a reading thread blocked on it sees the close.
            try:
                self._handover.get_nowait()
            except queue.Empty:
                pass
            self._thread.join()
            # Wake a next() waiting in another thread: it returns None. The reading thread
            # is gone, so only such waiters use the slot now.
            try:
                self._handover.get_nowait()
            except queue.Empty:
                pass
            self._handover.put_nowait(_CLOSED)

    def __enter__(self) -> "RemoteSubscription":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"RemoteSubscription({self._client.location}/{self.ring}, {self.name!r}, "
                f"last_sequence={self._acked}{', closed' if self._closed else ''})")

    # -- protocol ----------------------------------------------------------------------

    def _open(self, resume_after: Optional[int]) -> flight.FlightStreamReader:
        ticket = flight.Ticket(_ticket(self.ring, self.name, resume_after))
        try:
            # No deadline: the stream lasts as long as the subscription.
            reader = self._client._client.do_get(ticket, options=self._client._options())
            _ = reader.schema  # the server answers a refused call instead of a schema
        except pa.ArrowException as error:
            raise _explain(error, self._client.location, self.ring, True) from error
        return reader

    def _ack_pending(self) -> None:
        if self._pending is None:
            return
        body = _ticket(self.ring, self.name, self._pending)
        try:
            list(self._client._client.do_action(flight.Action("ack", body),
                                                options=self._client._options(self._client._timeout)))
        except pa.ArrowException as error:
            raise _explain(error, self._client.location, self.ring, True, streaming=True) from error
        with self._lock:
            self._acked, self._pending = self._pending, None
            self._acked_changed.notify_all()

    def _run(self) -> None:
        """The reading thread: assembles tables from tagged batches, skips what it already
        handed over (a replay after a reconnect), hands the rest over one at a time."""
        reader = self._reader
        last = self._acked          # last sequence handed over (or acknowledged)
        ring_id = None
        batches: List[pa.RecordBatch] = []
        while True:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                # The server ends a stream when the next table has another schema (one Flight
                # stream, one schema): open the next once every table handed over is
                # acknowledged, so that it starts right after them. Opening it before, the
                # server would replay the unacknowledged ones, and again at each reopen, as
                # fast as round trips go, for as long as the job holds a table.
                batches = []
                failure = None
                with self._lock:  # close() cancels whichever stream is current
                    while not self._closed and last is not None and self._acked != last:
                        self._acked_changed.wait()
                    if self._closed:
                        return
                    try:
                        reader = self._reader = self._open(self._acked)
                    except Error as error:
                        failure = error
                if failure is not None:
                    self._hand(_Failure(failure))  # not under the lock: it may block
                    return
                continue
            except pa.ArrowException as error:
                if not self._closed:
                    self._hand(_Failure(_explain(error, self._client.location, self.ring, True, streaming=True)))
                return
            if chunk.data is None:
                continue
            tag = _parse_tag(chunk.app_metadata)
            if tag is None:
                self._hand(_Failure(CorruptError(
                    f"{self._client.location}/{self.ring}: a batch without a valid arrowring tag "
                    "(is this server `arrowring serve` of the same version?)")))
                return
            tag_ring, sequence, index, count, missed, commit_ns = tag
            if index == 0:
                batches = []
            elif len(batches) != index:
                self._hand(_Failure(CorruptError(
                    f"{self._client.location}/{self.ring}: batch {index} of sequence {sequence} out of order")))
                return
            if count != 0:  # a table without batches travels as one empty batch
                batches.append(chunk.data)
            if count != 0 and index + 1 != count:
                continue
            if ring_id is not None and tag_ring != ring_id:
                last = None  # the source ring was recreated: its sequences start over
            ring_id = tag_ring
            if last is not None and sequence <= last:
                self._duplicates += 1
                continue  # already handed over: a replay after the stream was reopened
            if last is not None and sequence > last + 1 + missed:
                self._gaps += sequence - last - 1 - missed
            table = pa.Table.from_batches(batches, schema=chunk.data.schema)
            batches = []
            last = sequence
            if not self._hand(RemoteMessage(table, sequence, missed, commit_ns, f"{tag_ring:016x}")):
                return

    def _hand(self, item: Union[RemoteMessage, _Failure]) -> bool:
        """Blocks until the user takes the previous item; False once closed."""
        if self._closed:
            return False
        self._handover.put(item)
        return not self._closed


def _ticket(ring: str, subscriber: str, sequence: Optional[int]) -> bytes:
    return f"{_MAGIC}\n{ring}\n{subscriber}\n{'-' if sequence is None else sequence}".encode()


def _parse_tag(metadata: Optional[pa.Buffer]) -> Optional[Tuple[int, int, int, int, int, int]]:
    if metadata is None or metadata.size != _TAG.size:
        return None
    magic, version, *fields = _TAG.unpack(metadata.to_pybytes())
    if magic != b"ARB1" or version != 1:
        return None
    ring_id, sequence, index, count, missed, commit_ns = fields
    if count != 0 and index >= count:
        return None
    return ring_id, sequence, index, count, missed, commit_ns


def _ring_info(info: flight.FlightInfo) -> RingInfo:
    path = info.descriptor.path
    name = path[0].decode() if path else ""
    try:
        stats = json.loads(bytes(info.app_metadata).decode()) if info.app_metadata else {}
    except (ValueError, UnicodeDecodeError):
        stats = {}
    if isinstance(stats.get("ring_id"), int):  # the form of Ring.stats() and `arrowring stat`
        stats["ring_id"] = f"{stats['ring_id']:016x}"
    return RingInfo(name, info.schema, info.total_records, info.total_bytes, stats)


def _server_words(error: BaseException) -> str:
    """The server's (or gRPC's) message alone: Flight appends ". Detail: <code>" and a gRPC
    debug context; our server's messages start with "arrowring: "."""
    words = str(error)
    for cut in (". Detail:", "\ngRPC client debug context", ". gRPC client debug context"):
        if cut in words:
            words = words[:words.index(cut)]
    words = words.strip()
    if words.startswith("arrowring: "):
        words = words[len("arrowring: "):]
    return words


def _explain(error: BaseException, location: str, ring: Optional[str], connected: bool, *,
             streaming: bool = False) -> Error:
    """Our exception for a Flight failure, saying what to do; the server's words kept."""
    words = _server_words(error)
    where = f"{location}/{ring}" if ring else location
    if isinstance(error, flight.FlightUnauthenticatedError):
        made: Error = AuthenticationError(
            f"{where} refused the call: {words}. Pass the server's token (its --token-file "
            "contents) as connect(..., token=...).")
    elif isinstance(error, flight.FlightUnauthorizedError):
        made = NotServedError(f"{where} refused the call: {words}. The server serves only the rings of "
                              "its --ring options; list_rings() shows them.")
    elif isinstance(error, (pa.ArrowKeyError, KeyError)):
        made = NoSuchRingError(f"{where}: {words}. Create the ring on the server's machine "
                               "(arrowring create), or check its name (list_rings()).")
    elif isinstance(error, (pa.ArrowInvalid, pa.ArrowNotImplementedError)):
        made = InvalidArgumentError(f"{where} rejected the request: {words}")
    elif isinstance(error, flight.FlightUnavailableError) and not connected:
        hint = ("this client uses TLS: the server must run with --tls-cert/--tls-key, and its "
                "certificate must be signed by tls_roots (or a system root) for this host name"
                if location.startswith("grpc+tls://") else
                "this client uses plain gRPC: if the server runs with --tls-cert, connect to "
                "grpc+tls://host:port with tls_roots")
        made = ConnectionFailedError(f"cannot reach {location} ({words}). Check that `arrowring serve` "
                                     f"runs there and listens on that address; {hint}.")
    elif isinstance(error, (flight.FlightUnavailableError, flight.FlightCancelledError)) or streaming:
        made = ConnectionFailedError(
            f"lost the stream from {where}: {words}. Subscribe again under the same name: the "
            "server replays every table not yet acknowledged.")
    elif isinstance(error, flight.FlightTimedOutError):
        made = ConnectionFailedError(f"{where} did not answer in time: {words}")
    else:
        made = Error(f"{where}: {words}")
    made.server_message = words  # type: ignore[attr-defined]
    return made
