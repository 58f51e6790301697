"""One attachment per ring name and process, shared by every compat ring object of that name.

The framework makes a new ``SharedMemoryRingBuffer`` object for every handle it loads and
another for every handle it releases (``attach_to_ring_buffer`` each time). If each object held
its own attachment, a reference taken through one could not be released through the next, and a
busy consumer would use up the ring's attachment slots. So the objects are thin: they name a
ring, and everything this process holds in it lives here, once:

- the core attachment, renewed when the segment under the name is a different one (removed
  and created again: compared by inode) and after ``fork()``;
- the open write reservations, by slot index;
- the read references taken with ``acquire_for_read``, by slot index (a stack: each release
  drops one);
- the same references by address, so that ``read_table_from_address`` can give the table its
  own reference to the message (the message then outlives ``release()`` for as long as the
  table lives, instead of being overwritten under it).

Slot indices are the core's sequence numbers tagged with 23 bits of the ring's id (see
:func:`index_of`): an index from another incarnation of the same name is stale, never another
message. The tag keeps indices below 2**63, inside msgspec's and C's int64.
"""
from __future__ import annotations

import atexit
import os
import threading
from typing import Any, Dict, List, Optional

from .. import _core
from ..errors import Error, NoSuchRingError

_SEQUENCE_BITS = 40
_SEQUENCE_MASK = (1 << _SEQUENCE_BITS) - 1
_TAG_MASK = (1 << 23) - 1


class Attachment:
    """This process's attachment to one ring and the slots it holds in it."""

    def __init__(self, ring: "_core.Ring", inode: int, created: bool):
        self.ring = ring
        self.created = created  # by this process
        self.inode = inode
        self.tag = ring.ring_id & _TAG_MASK
        self.data_address = ring.data_address
        self.lock = threading.RLock()
        self.writing: Dict[int, "_core.WriteSlot"] = {}
        self.reading: Dict[int, List["_core.ReadSlot"]] = {}
        self.by_address: Dict[int, "_core.ReadSlot"] = {}
        # ring.messages_read when this process last waived every unloaded message for space:
        # while it has not moved, nobody loads, and senders waive at once instead of waiting.
        self.reads_when_waived = -1
        # The messages this process committed owing a load and not yet seen loaded or waived,
        # in commit order, which is the order their handles are sent in; of those, when a
        # sender of this process first saw that readers had passed one (loaded a later one);
        # and when one last looked (SharedMemoryRingBuffer._waive_lost).
        self.owed: List[int] = []
        self.passed_since: Dict[int, float] = {}
        self.observed_at = 0.0

    def index_of(self, sequence: int) -> int:
        """The slot index naming message ``sequence`` of this ring."""
        return (self.tag << _SEQUENCE_BITS) | (sequence & _SEQUENCE_MASK)

    def sequence_of(self, index: int) -> Optional[int]:
        """The message sequence an index names, or None when it names another ring (or none).

        Only 40 bits of the sequence are in the index; the rest is the latest lap of 2**40
        messages that does not lie in the future (a ring passes 2**40 messages in 12 days at a
        million a second, so this matters for a DAQ that runs for months)."""
        if index < 0 or index >> _SEQUENCE_BITS != self.tag:
            return None
        low = index & _SEQUENCE_MASK
        newest = self.ring.next_sequence
        sequence = (newest & ~_SEQUENCE_MASK) | low
        if sequence >= newest:
            sequence -= 1 << _SEQUENCE_BITS
        return sequence if sequence >= 0 else None

    def sent(self, sequence: int) -> None:
        """Notes message ``sequence``, just committed by this process owing a load."""
        with self.lock:
            self.owed.append(sequence)

    def hold_read(self, index: int, slot: "_core.ReadSlot") -> None:
        self.reading.setdefault(index, []).append(slot)
        self.by_address.setdefault(slot.address, slot)

    def drop_read(self, index: int) -> bool:
        """Releases one read reference to ``index``; False if this process holds none."""
        held = self.reading.get(index)
        if not held:
            return False
        slot = held.pop()
        if not held:
            del self.reading[index]
            self.by_address.pop(slot.address, None)
        elif self.by_address.get(slot.address) is slot:
            self.by_address[slot.address] = held[-1]
        slot.release()
        return True


_lock = threading.Lock()
_pid = os.getpid()
_by_name: Dict[str, Attachment] = {}


def _inode(name: str) -> Optional[int]:
    try:
        return os.stat(_core.segment_path(name)).st_ino
    except FileNotFoundError:
        return None


def current(name: str) -> Optional[Attachment]:
    """This process's attachment to ring ``name`` if it has one to the segment now under that
    name; None otherwise (never attached, the ring was removed, or it was created again)."""
    global _pid
    with _lock:
        if _pid != os.getpid():  # A fork child: the parent's references are not ours to use.
            _by_name.clear()
            _pid = os.getpid()
        attachment = _by_name.get(name)
        if attachment is None:
            return None
        if attachment.inode != _inode(name):
            del _by_name[name]
            return None
        return attachment


def attach(name: str, create: Optional[Dict[str, Any]] = None) -> Attachment:
    """This process's attachment to ring ``name``, made if needed. With ``create`` (the keyword
    arguments of ``_core.Ring.create`` after the name), a missing ring is created first.

    Raises the arrowring error of the failure (NoSuchRingError when there is no ring and
    ``create`` is None)."""
    attachment = current(name)
    if attachment is not None:
        return attachment
    from ..errors import RingExistsError
    created = False
    if create is not None:
        try:
            ring = _core.Ring.create(name, **create)
            created = True
        except RingExistsError:
            ring = _core.Ring.attach(name)
    else:
        ring = _core.Ring.attach(name)
    inode = _inode(name)
    if inode is None:
        raise NoSuchRingError(f"ring {name!r} was removed while attaching to it; create it again")
    with _lock:
        existing = _by_name.get(name)
        if existing is not None and existing.inode == inode:
            return existing  # Another thread attached first: keep one attachment.
        attachment = _by_name[name] = Attachment(ring, inode, created)
        return attachment


def _waive_owed_at_exit() -> None:
    """A process on its way out can no longer judge its own handles lost (the senders of
    SharedMemoryRingBuffer do, and only for their own messages): it waives the loads its
    messages still owe, which keeps them loadable until their space is needed instead of
    holding writers back until the loads lapse. (A forked multiprocessing child ends with
    os._exit and a killed process not at all; theirs lapse after 60 s, or go when nobody
    loads for LOAD_STALL_S.)"""
    with _lock:
        attachments = list(_by_name.values()) if _pid == os.getpid() else []
    for attachment in attachments:
        with attachment.lock:
            owed, attachment.owed = attachment.owed, []
        for sequence in owed:
            try:
                if attachment.ring.pending_deliveries(sequence):
                    attachment.ring.waive_deliveries(sequence)
            except Error:
                pass  # Gone, or the ring is: nothing to give back.


atexit.register(_waive_owed_at_exit)


def held_read_slot(address: int) -> Optional["_core.ReadSlot"]:
    """A read reference this process holds to the message that starts at ``address``."""
    with _lock:
        attachments = list(_by_name.values()) if _pid == os.getpid() else []
    for attachment in attachments:
        with attachment.lock:
            slot = attachment.by_address.get(address)
            if slot is not None and slot.held:
                return slot
    return None


def forget(name: str) -> None:
    """Drops this process's attachment to ``name`` (its open reservations are aborted and its
    read references released when the last object using them goes)."""
    with _lock:
        _by_name.pop(name, None)
