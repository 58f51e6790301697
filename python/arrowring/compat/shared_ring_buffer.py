"""The framework's ``shared_ring_buffer`` module, on an arrowring ring.

Same names, signatures and return values as ENRG-tr/enrgdaq's ``enrgdaq.utils.shared_ring_buffer``
(docs/python.md lists every difference). Underneath, a "slot" is one message of a retaining arrowring ring, so:

- slot states and reference counts live in the shared memory, where every process sees them
  (the framework keeps them in per-process memory, so one process overwrites what another is
  still reading);
- a message being read is never overwritten, and a table a reader keeps costs the ring only its
  own bytes: new messages go around it;
- a message stays loadable (by any number of readers) until its space is needed — not only
  while it is among the newest ``slot_count`` messages; ``get_slot_occupancy`` still counts in
  the framework's slots;
- messages take the space they need, not a whole slot, and may be larger than ``slot_size``.
"""
from __future__ import annotations

import atexit
import ctypes
import json
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import pyarrow as pa
import pyarrow.ipc

from .. import _core
from .._ipc import DEFAULT_WRITE_OPTIONS, native_stream, write_stream
from ..errors import BadStateError, InvalidArgumentError, StaleHandleError
from . import _attachments, _warnings

__all__ = [
    "DEFAULT_RING_BUFFER_SIZE", "DEFAULT_SLOT_SIZE", "SLOT_FREE", "SLOT_WRITING", "SLOT_READY",
    "RingBufferSlot", "SharedMemoryRingBuffer", "get_global_ring_buffer", "attach_to_ring_buffer",
    "cleanup_global_ring_buffer", "get_global_ring_buffer_stats",
]

DEFAULT_RING_BUFFER_SIZE = 256 * 1024 * 1024
DEFAULT_SLOT_SIZE = 10 * 1024 * 1024
SLOT_FREE = 0
SLOT_WRITING = 1
SLOT_READY = 2
DEFAULT_NAME = "enrgdaq_ring_buffer"

# Environment variable through which a process's global ring reaches the processes it spawns
# (``multiprocessing`` with "spawn" or "forkserver" starts a fresh interpreter that calls
# ``get_global_ring_buffer()`` with no arguments and must join its parent's ring).
GLOBAL_RING_ENV = "ARROWRING_COMPAT_GLOBAL_RING"

# Senders wait for readers while they load (see SharedMemoryRingBuffer._reserve); a ring in
# which no load happened for this long owes nothing to the messages nobody has loaded yet.
# Longer than a busy store can spend between two loads on a slow machine (its own work on a
# large table): at 1 s, a store checking 8 MiB tables on a loaded 2-CPU machine had handles
# still on their way waived and given way.
LOAD_STALL_S = 5.0
# A message readers have passed (unloaded, though one its own process sent later was loaded)
# and still unloaded this long after its sender first saw it so was lost on the way. Only its
# own process judges it: other producers' handles reach a store far out of sequence order (a
# producer descheduled between its commit and its send while others' later handles are
# loaded). The time covers a handle sent to several stores, one of which is slow.
LOST_AFTER_S = 2.0
# How often a sender that finds room looks for passed messages anyway, so that their time
# counts from about when readers passed them, not from when they stop the writer.
_OBSERVE_EVERY_S = 0.1
_WAIT_SLICE_S = 0.02
# The core lets an owed load lapse after this long in any case (a handle lost on the way).
_LOAD_TTL_S = 60
# Most messages in the ring's window (kept tables do not count): how far a store can fall
# behind in messages before its senders wait. Below the 1,000 messages at which the
# framework's ZeroMQ PUB/SUB starts dropping (its default high-water mark): a handle dropped
# there is never loaded, and its message would hold its space until it is found lost
# (at 4,096, 16 KB tables on the framework's real path lost 1,591 handles in 20 s that way).
_MESSAGE_LIMIT = 512
_ALIGNMENT = 64  # The core places messages on 64-byte boundaries.


def _writable_memory(address: int, size: int) -> memoryview:
    # A view over raw ring memory rather than an export of the core's WriteSlot: the framework
    # keeps `slot.view` alive past mark_ready(), and the core refuses to commit a slot with a
    # live export of it.
    return memoryview((ctypes.c_char * size).from_address(address)).cast("B")


@dataclass
class RingBufferSlot:
    """A reservation made by ``allocate``: write into ``view``, then
    ``buffer.mark_ready(index, bytes_written)``, or ``release()`` to give the space back."""

    buffer: "SharedMemoryRingBuffer"
    index: int
    offset: int
    max_size: int
    _memoryview: Optional[memoryview] = field(default=None, repr=False)

    @property
    def view(self) -> memoryview:
        """Writable bytes of the reservation (``max_size`` of them), zero-copy."""
        if self._memoryview is None:
            self._memoryview = self.buffer.get_slot_view(self.index)
        return self._memoryview

    def release(self) -> None:
        """Aborts the reservation (before ``mark_ready``)."""
        self._memoryview = None
        self.buffer.release(self.index)


class SharedMemoryRingBuffer:
    """A named ring of ``total_size // slot_size`` message slots shared by processes.

    Nothing is mapped until first use (or ``_ensure_initialized()``). ``create=True`` creates the
    ring, or attaches when it already exists; ``create=False`` attaches (NoSuchRingError at first
    use when there is none). Every object of one name in a process shares one attachment, so a
    slot acquired through one object can be released through another.
    """

    def __init__(self, name: str, total_size: int = DEFAULT_RING_BUFFER_SIZE,
                 slot_size: int = DEFAULT_SLOT_SIZE, create: bool = True):
        if not isinstance(total_size, int) or not isinstance(slot_size, int) or slot_size <= 0 \
                or total_size < slot_size:
            raise InvalidArgumentError(
                f"ring {name!r}: total_size ({total_size!r}) must hold at least one slot of slot_size "
                f"({slot_size!r}) bytes; both are positive integers")
        self.name = name
        self.slot_size = slot_size
        self.slot_count = total_size // slot_size
        self.total_size = self.slot_count * slot_size
        self._create = create
        self._owner = False
        self._owner_pid = 0
        self._initialized = False
        self._attachment: Optional[_attachments.Attachment] = None
        self._attachment_pid = 0

    # --- set-up ------------------------------------------------------------------------------
    def _create_arguments(self) -> Dict[str, Any]:
        aligned_slot = -(-self.slot_size // _ALIGNMENT) * _ALIGNMENT
        # One slot more than the slots: a message never straddles the end of the ring, so up to
        # one slot's worth at the end can be unusable on a lap. Retention by space: a message
        # stays loadable until its bytes are needed (the core's default message limit, one per
        # 4 KiB, bounds only how many small ones).
        capacity = (self.slot_count + 1) * aligned_slot
        return {"capacity": capacity, "policy": "block", "retain": True,
                "max_messages": min(_MESSAGE_LIMIT, max(64, capacity // 4096))}

    def _ensure_initialized(self) -> "_attachments.Attachment":
        """Attaches this process to the ring (creating it if this object may); idempotent.

        An object keeps the segment it first attached to (as a mapping would); the framework
        makes a new object for every handle it loads, and a new object attaches to whatever
        segment holds the name then."""
        attachment = self._attachment
        if attachment is not None and self._attachment_pid == os.getpid():
            return attachment
        attachment = _attachments.current(self.name)
        if attachment is None:
            attachment = _attachments.attach(self.name, self._create_arguments() if self._create else None)
            if attachment.created and not self._owner:
                self._owner, self._owner_pid = True, os.getpid()
                atexit.register(_unlink_at_exit, self.name, attachment.inode, os.getpid())
        self._attachment, self._attachment_pid = attachment, os.getpid()
        self._initialized = True
        return attachment

    # --- writing -----------------------------------------------------------------------------
    def allocate(self, required_size: int) -> Optional[RingBufferSlot]:
        """A reservation of ``required_size`` bytes (any size up to the ring's capacity), or None
        when it can never fit or tables still alive fill the ring. Waits while readers are
        loading what the ring holds (see ``_reserve``), as a lossless bus would."""
        attachment = self._ensure_initialized()
        if required_size < 0:
            raise InvalidArgumentError(f"allocate({required_size}) on ring {self.name!r}: a size is >= 0")
        slot = self._reserve(attachment, required_size)
        if slot is None:
            return None
        with attachment.lock:
            index = attachment.index_of(slot.sequence)
            attachment.writing[index] = slot
        return RingBufferSlot(self, index, slot.address - attachment.data_address, required_size)

    def _reserve(self, attachment: "_attachments.Attachment", size: int) -> Optional["_core.WriteSlot"]:
        """Ring space for ``size`` bytes, or None (with a WARNING saying why).

        A message is committed owing one load: loaded ones (and retained ones nobody holds) give
        way for space, oldest first, kept tables are gone around, but one nobody has loaded yet
        holds its space — so a sender waits while readers are loading (a store behind five
        producers catches up instead of losing handles). Two kinds of unloaded message stop
        holding the writer back: one readers passed ``LOST_AFTER_S`` ago or more (its handle was
        lost on the way; ``_waive_lost``), and, when no load happened for ``LOAD_STALL_S`` (no
        store reads this ring), every one — at once by later senders too, until some load
        happens again. Both have their load waived (the core's ``waive_deliveries``), not freed:
        they give way only when their space is needed, so a handle that arrives late still loads
        while the bytes are there."""
        if size > attachment.ring.capacity:
            _warnings.no_room(self.name, size, attachment.ring.capacity)
            return None
        size = max(size, 1)
        ring = attachment.ring
        now = time.monotonic()
        if now - attachment.observed_at >= _OBSERVE_EVERY_S:
            attachment.observed_at = now
            self._waive_lost(ring, attachment, now)
        with attachment.lock:
            slot = ring.try_allocate(size)
        if slot is not None:
            return slot
        reads, since = ring.messages_read, now
        stalled = reads == attachment.reads_when_waived
        while slot is None:
            if not stalled:
                if self._waive_lost(ring, attachment, time.monotonic()):
                    with attachment.lock:
                        slot = ring.try_allocate(size)
                    continue
                slot = ring.allocate(size, _WAIT_SLICE_S)  # wakes as soon as space is freed
                if slot is not None:
                    break
                now, now_reads = time.monotonic(), ring.messages_read
                if now_reads != reads:
                    reads, since = now_reads, now
                    continue  # readers are making progress: keep waiting, lose nothing
                stalled = now - since >= LOAD_STALL_S
                continue
            attachment.reads_when_waived = ring.messages_read
            self._waive_unloaded(ring, attachment)
            with attachment.lock:
                slot = ring.try_allocate(size)
            break  # Nothing is owed any more: what is left fills the ring with tables still alive.
        if slot is None:
            _warnings.no_room(self.name, size, ring.capacity)
        return slot

    @staticmethod
    def _waive_lost(ring: "_core.Ring", attachment: "_attachments.Attachment", now: float) -> bool:
        """Waives the load of every message this process sent that readers passed: unloaded,
        though a message this process committed after it was loaded. One process's handles
        travel in the order it committed them (the framework sends them from one queue; a
        process sending from several threads may swap two, which the grace below covers), so
        its handle was lost on the way (a bus that dropped it, or a send before the reader
        joined).
        Only this process's own messages are judged: another producer's handle may still be on
        its way while later ones are loaded (descheduled between its commit and its send), and
        its own senders judge it. A passed message is waived only once this process first saw
        it passed ``LOST_AFTER_S`` or more before ``now`` (a handle sent to another store may
        still be on its way to that one); until then it is remembered. False when none was
        waived."""
        with attachment.lock:
            owed = attachment.owed
            if not owed:
                return False
            pending = [ring.pending_deliveries(sequence) for sequence in owed]
            newest_loaded = max((i for i, left in enumerate(pending) if left == 0), default=-1)
            first_seen = attachment.passed_since
            still_owed: List[int] = []
            still_passed: Dict[int, float] = {}
            waived = False
            oldest = ring.oldest_sequence
            for i, (sequence, left) in enumerate(zip(owed, pending)):
                if left is None and sequence >= oldest:
                    still_owed.append(sequence)  # its state word changed as we looked: look again next time
                    if sequence in first_seen:
                        still_passed[sequence] = first_seen[sequence]
                    continue
                if not left:
                    continue  # loaded, waived, lapsed or given way: nothing is owed any more
                if i > newest_loaded and sequence not in first_seen:  # once passed, always passed
                    still_owed.append(sequence)  # nothing sent after it was loaded yet
                    continue
                seen = first_seen.get(sequence, now)
                if now - seen < LOST_AFTER_S:
                    still_passed[sequence] = seen
                    still_owed.append(sequence)
                    continue
                try:
                    ring.waive_deliveries(sequence)
                    waived = True
                except StaleHandleError:
                    pass
            attachment.owed = still_owed
            attachment.passed_since = still_passed
            return waived

    @staticmethod
    def _waive_unloaded(ring: "_core.Ring", attachment: "_attachments.Attachment") -> None:
        """Waives the load of every message the ring still owes one, whoever sent it."""
        end = ring.next_sequence
        for sequence in range(ring.oldest_sequence, end):
            if ring.pending_deliveries(sequence):
                try:
                    ring.waive_deliveries(sequence)
                except StaleHandleError:
                    pass
        with attachment.lock:  # Messages committed meanwhile are still owed.
            attachment.owed = [sequence for sequence in attachment.owed if sequence >= end]
            attachment.passed_since = {k: v for k, v in attachment.passed_since.items() if k >= end}

    def _write_table(self, table: pa.Table, size: int,
                     native: Optional[_core.IpcStream] = None) -> Optional[Tuple[int, int]]:
        """allocate + write the table as an IPC stream + mark_ready in one step, writing through
        the core's slot rather than a raw view: ``(slot_index, bytes_written)``, or None when
        there is no room. The send path of ``try_zero_copy_pyarrow``. ``native``: the table
        already imported by the C++ layer (``_ipc.native_stream``), which then sizes and writes it."""
        attachment = self._ensure_initialized()
        if native is None:
            native = native_stream(table, size, DEFAULT_WRITE_OPTIONS)  # large tables: the C++ layer writes
        if native is not None:
            size = native.size
        slot = self._reserve(attachment, size)
        if slot is None:
            return None
        sequence = slot.sequence  # Before commit, which empties the slot.
        index = attachment.index_of(sequence)
        try:
            if native is not None:
                written = native.write_into(slot)
            else:
                written = write_stream(slot, table, DEFAULT_WRITE_OPTIONS)
            slot.commit(written, 1, _LOAD_TTL_S)  # owes one load; then retained until its space is needed
            attachment.sent(sequence)
        finally:
            if slot.open:
                slot.abort()
        return index, written

    def mark_ready(self, slot_index: int, bytes_written: int = 0) -> None:
        """Publishes the reservation ``slot_index`` holding ``bytes_written`` bytes (0: all of
        it). It stays readable by any number of readers until it is dropped for space or
        released by someone who did not acquire it."""
        attachment = self._ensure_initialized()
        with attachment.lock:
            slot = attachment.writing.get(slot_index)
            if slot is None:
                raise BadStateError(f"mark_ready({slot_index}) on ring {self.name!r}: that slot is not being "
                                    "written in this process (mark it ready once, in the process that allocated it)")
            used = bytes_written or slot.size
            if not 0 < used <= slot.size:
                raise InvalidArgumentError(f"mark_ready({slot_index}, {bytes_written}) on ring {self.name!r}: "
                                           f"the slot holds {slot.size} bytes")
            del attachment.writing[slot_index]
            sequence = slot.sequence  # Before commit, which empties the slot.
            slot.commit(used, 1, _LOAD_TTL_S)  # owes one load; then retained until its space is needed
            attachment.sent(sequence)

    # --- reading -----------------------------------------------------------------------------
    def acquire_for_read(self, slot_index: int, bytes_to_read: int = 0) -> bool:
        """Takes a read reference to the message in ``slot_index``: True, and it cannot be
        overwritten until released; False when the slot no longer holds a message."""
        attachment = self._ensure_initialized()
        with attachment.lock:
            sequence = attachment.sequence_of(slot_index)
            if sequence is None:
                return False
            try:
                slot = attachment.ring.acquire_sequence(sequence, bytes_to_read)
            except (StaleHandleError, InvalidArgumentError):
                return False
            attachment.hold_read(slot_index, slot)
            return True

    def release(self, slot_index: int) -> None:
        """Drops one read reference this process took to ``slot_index``; without one, aborts
        the slot if this process is writing it, or else frees the message once nobody holds
        it (the framework's "release a READY slot")."""
        attachment = self._ensure_initialized()
        with attachment.lock:
            if attachment.drop_read(slot_index):
                return
            writing = attachment.writing.pop(slot_index, None)
            if writing is not None:
                writing.abort()
                return
            sequence = attachment.sequence_of(slot_index)
            if sequence is not None:
                try:
                    attachment.ring.retire(sequence)
                except StaleHandleError:
                    pass  # Already freed: releasing a free slot does nothing, as in the framework.

    def get_slot_view(self, slot_index: int) -> memoryview:
        """The message's bytes: writable while this process writes it, read-only while it holds
        it for reading (the view keeps its own reference to the message)."""
        attachment = self._ensure_initialized()
        with attachment.lock:
            writing = attachment.writing.get(slot_index)
            if writing is not None:
                return _writable_memory(writing.address, writing.size)
            held = attachment.reading.get(slot_index)
            if held:
                return memoryview(held[-1].duplicate())
        raise self._not_held(slot_index, "get_slot_view")

    def get_slot_address(self, slot_index: int) -> int:
        """Address of the message's first byte in this process."""
        attachment = self._ensure_initialized()
        with attachment.lock:
            writing = attachment.writing.get(slot_index)
            if writing is not None:
                return writing.address
            held = attachment.reading.get(slot_index)
            if held:
                return held[-1].address
        raise self._not_held(slot_index, "get_slot_address")

    def _not_held(self, slot_index: int, what: str) -> StaleHandleError:
        return StaleHandleError(
            f"{what}({slot_index}) on ring {self.name!r}: this process is neither writing that slot nor "
            "holding it for reading; call acquire_for_read first (False there means the message was dropped "
            "for space or released)")

    # --- statistics --------------------------------------------------------------------------
    def _stats(self) -> Dict[str, Any]:
        stats: Dict[str, Any] = json.loads(self._ensure_initialized().ring.stats_json())
        return stats

    def get_stats(self) -> Tuple[int, int]:
        """(bytes_written, bytes_read) by every process since the ring was created."""
        stats = self._stats()
        return stats["bytes_written"], stats["bytes_read"]

    def get_slot_occupancy(self) -> Dict[str, int]:
        """Messages being written and ready to read, and how many more the ring can take
        (``free``), counted in slots of the framework's meaning: one message, one slot, at most
        ``slot_count`` of them (the ring may retain more small messages than that; the newest
        ``slot_count`` are what the framework would still hold)."""
        stats = self._stats()
        writing = min(stats["writing_messages"], self.slot_count)
        ready = min(stats["committed_messages"] + stats["kept_messages"], self.slot_count - writing)
        return {"free": self.slot_count - writing - ready, "writing": writing, "ready": ready}

    # --- end ---------------------------------------------------------------------------------
    def cleanup(self) -> None:
        """Forgets the ring in this object; removes it if this object created it."""
        if self._owner and self._owner_pid == os.getpid():
            attachment = _attachments.current(self.name)
            if attachment is not None:
                _attachments.forget(self.name)
                _core.Ring.unlink(self.name)
            self._owner = False
        self._initialized = False
        self._attachment = None

    def __repr__(self) -> str:
        return (f"SharedMemoryRingBuffer(name={self.name!r}, total_size={self.total_size}, "
                f"slot_size={self.slot_size}, slot_count={self.slot_count})")


def _unlink_at_exit(name: str, inode: int, pid: int) -> None:
    # A creator that exits without cleanup() removes its ring, as long as the name still holds
    # the segment it created; fork children inherit the handler and must not run it.
    if os.getpid() != pid:
        return
    current = _attachments.current(name)
    if current is not None and current.inode == inode:
        try:
            _core.Ring.unlink(name)
        except Exception:  # Exiting: nothing useful to do with a failure here.
            pass


# --- the process's global ring ---------------------------------------------------------------
_global_ring_buffer: Optional[SharedMemoryRingBuffer] = None
_global_ring_buffer_lock = threading.Lock()


def get_global_ring_buffer(name: Optional[str] = None, total_size: Optional[int] = None,
                           slot_size: Optional[int] = None) -> SharedMemoryRingBuffer:
    """This process's ring, made on the first call; later calls return it whatever their
    arguments.

    A first call with a ``name`` (the framework's supervisor) creates or attaches the ring at
    once, owns it if it created it, and records it in the environment, so processes this one
    starts (fork or spawn) get the same ring from a call with no arguments. A first call with no
    arguments uses that record, else the default name and sizes, and attaches lazily."""
    global _global_ring_buffer
    with _global_ring_buffer_lock:
        if _global_ring_buffer is None:
            inherited = name is None
            if name is None:
                name, inherited_total, inherited_slot = _inherited_global_ring()
                total_size = total_size or inherited_total
                slot_size = slot_size or inherited_slot
            ring = SharedMemoryRingBuffer(name, total_size or DEFAULT_RING_BUFFER_SIZE, slot_size or DEFAULT_SLOT_SIZE,
                                          create=True)
            if not inherited:
                # The process that names the ring (the framework's supervisor) creates and owns
                # it now, so that its cleanup_global_ring_buffer() removes it: lazily, a job
                # would create it, and a job killed at shutdown leaves it behind.
                ring._ensure_initialized()
                os.environ[GLOBAL_RING_ENV] = json.dumps([ring.name, ring.total_size, ring.slot_size])
            _global_ring_buffer = ring
        return _global_ring_buffer


def _inherited_global_ring() -> Tuple[str, int, int]:
    try:
        name, total_size, slot_size = json.loads(os.environ[GLOBAL_RING_ENV])
        if isinstance(name, str) and isinstance(total_size, int) and isinstance(slot_size, int):
            return name, total_size, slot_size
    except (KeyError, ValueError, TypeError):
        pass
    return DEFAULT_NAME, DEFAULT_RING_BUFFER_SIZE, DEFAULT_SLOT_SIZE


def attach_to_ring_buffer(name: str = DEFAULT_NAME, total_size: int = DEFAULT_RING_BUFFER_SIZE,
                          slot_size: int = DEFAULT_SLOT_SIZE) -> SharedMemoryRingBuffer:
    """A new object for an existing ring (NoSuchRingError at first use if there is none); it
    shares this process's attachment and does not touch the global ring."""
    return SharedMemoryRingBuffer(name, total_size, slot_size, create=False)


def cleanup_global_ring_buffer() -> None:
    """Cleans the global ring up (removing it if this process created it) and forgets it."""
    global _global_ring_buffer
    with _global_ring_buffer_lock:
        if _global_ring_buffer is not None:
            _global_ring_buffer.cleanup()
            _global_ring_buffer = None


def get_global_ring_buffer_stats() -> Tuple[int, int]:
    """(bytes_written, bytes_read) of the global ring; (0, 0) before there is one."""
    ring = _global_ring_buffer
    return ring.get_stats() if ring is not None else (0, 0)
