"""Ring: a process's attachment to a named ring; load(): a handle's table from whichever ring holds it."""
from __future__ import annotations

import json
import os
import threading
from typing import Any, Callable, Dict, List, Optional, Tuple

import pyarrow as pa

from . import _core
from ._core import Handle
from ._ipc import table_over
from ._publisher import Publisher
from ._subscriber import Subscriber


class Ring:
    """A process's attachment to a named ring. Pickles by name (re-attaches on unpickling),
    and re-attaches by itself in a child after ``fork()``."""

    def __init__(self, core: "_core.Ring"):
        self._core_ring = core
        self._pid = os.getpid()
        self._name = core.name

    @classmethod
    def create(cls, name: str, capacity: int, policy: str = "block", mode: int = 0o600,
               max_messages: int = 0, *, retain: bool = False, max_kept: int = 0,
               warm_bytes: Optional[int] = None, prefault: bool = False) -> "Ring":
        """Creates ring ``name`` with ``capacity`` data bytes. ``policy``: what publishing into
        a full ring does — "block" (wait, lossless), "fail" (RingFullError at once) or
        "drop-oldest" (drop the oldest messages nobody holds, counted). ``mode``: 0o600 or 0o660.

        Tables a reader keeps cost the ring their own bytes: new messages go around them.
        ``retain=True`` keeps every message loadable until its space is needed (then the oldest
        one nobody holds gives way), so ``subscribe(name, start="oldest")`` reads history.
        ``max_kept``: most messages readers may keep outside the ring's sequence window (0:
        1024). ``warm_bytes``: past this offset the writer wraps early to the ring's front when
        it is free (None: the measured default; 0: never). ``prefault=True``: this process and
        every process attaching map the whole ring in at once, so that the first lap through the
        ring takes no page faults (create and attach take that time instead)."""
        return cls(_core.Ring.create(name, capacity, policy, mode, max_messages, retain, max_kept, warm_bytes,
                                     prefault))

    @classmethod
    def attach(cls, name: str) -> "Ring":
        """Attaches to an existing ring; NoSuchRingError if there is none."""
        return cls(_core.Ring.attach(name))

    @staticmethod
    def list() -> List[str]:
        """Names of every arrowring ring on this machine."""
        return _core.Ring.list()

    @property
    def _core(self) -> "_core.Ring":
        if os.getpid() != self._pid:  # Inherited across fork: attach anew in this process.
            self._core_ring = _core.Ring.attach(self._name)
            self._pid = os.getpid()
        return self._core_ring

    def __reduce__(self) -> Tuple[Callable[[str], Ring], Tuple[str]]:
        return (Ring.attach, (self._name,))

    @property
    def name(self) -> str:
        return self._name

    @property
    def capacity(self) -> int:
        return self._core.capacity

    @property
    def policy(self) -> str:
        return self._core.policy

    @property
    def ring_id(self) -> int:
        return self._core.ring_id

    @property
    def data_address(self) -> int:
        """Address of this process's mapping of the data area (zero-copy checks)."""
        return self._core.data_address

    @property
    def data_size(self) -> int:
        return self._core.data_size

    def stats(self) -> Dict[str, Any]:
        """The same object as ``arrowring stat NAME --json``."""
        stats: Dict[str, Any] = json.loads(self._core.stats_json())
        return stats

    def recover(self) -> Dict[str, Any]:
        """Reclaims what dead processes held; returns what was reclaimed."""
        return self._core.recover()

    def unlink(self) -> None:
        """Removes the ring's name; attached processes keep their mapping until they detach."""
        _core.Ring.unlink(self._name)

    def publisher(self, *, timeout: Optional[float] = 10.0, deliveries: int = 0, delivery_ttl: int = 60,
                  compression: Optional[str] = None) -> "Publisher":
        return Publisher(self, timeout=timeout, deliveries=deliveries, delivery_ttl=delivery_ttl,
                         compression=compression)

    def subscribe(self, name: str, *, start: str = "new", spin: Optional[float] = None,
                  adaptive: bool = True) -> "Subscriber":
        """Registers subscriber ``name``: it receives every message published from now on, and
        with ``start="oldest"`` first every message still in the ring, oldest first (a
        retaining ring keeps them until their space is needed).

        ``spin``: seconds ``next`` polls for a message before it sleeps (at most 1). None: the
        default, 20 µs adaptive (polling stops while messages arrive later than that), none
        when one CPU is online; 0: sleep at once. ``adaptive=False`` polls the whole ``spin``
        before every sleep, for a consumer that owns a core."""
        return Subscriber(self, name, start=start, spin=spin, adaptive=adaptive)

    def load(self, handle: Handle) -> pa.Table:
        """The table a handle names, zero-copy (consumes one of its deliveries)."""
        return table_over(self._core.acquire(handle), self._name)

    def __repr__(self) -> str:
        return f"Ring({self._name!r}, capacity={self.capacity}, policy={self.policy!r})"


_rings_by_id: Dict[int, Ring] = {}
_rings_lock = threading.Lock()


def load(handle: Handle) -> pa.Table:
    """The table ``handle`` names, zero-copy. Its ring is found by the id the handle carries,
    reading the rings' headers without attaching to any other ring; the attachment is kept for
    the next handle of the same ring."""
    with _rings_lock:
        ring = _rings_by_id.get(handle.ring_id)
        if ring is None or ring._pid != os.getpid():
            ring = _rings_by_id[handle.ring_id] = Ring.attach(_core.Ring.find(handle.ring_id))
    return ring.load(handle)
