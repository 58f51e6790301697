"""Drop-in replacement for ENRG-tr/enrgdaq's ``arrow_ipc`` and ``shared_ring_buffer`` modules.

Change two imports::

    from arrowring.compat import arrow_ipc            # was: from enrgdaq.utils import arrow_ipc
    from arrowring.compat import shared_ring_buffer   # was: from enrgdaq.utils import shared_ring_buffer

or, to run the framework itself unchanged on arrowring, call :func:`install` before it imports
them. Everything both modules define is also importable from here. The interface is the
framework's; the behaviour is arrowring's where the framework's was unsafe (docs/python.md).
"""
from __future__ import annotations

import sys

from . import arrow_ipc, shared_ring_buffer
from ._reading import read_table_from_address
from .arrow_ipc import (get_table_ipc_size, ipc_bytes_to_table, read_table_from_buffer, table_to_ipc_bytes,
                        try_zero_copy_pyarrow, write_table_to_buffer)
from .handle import RingBufferHandle
from .shared_ring_buffer import (DEFAULT_RING_BUFFER_SIZE, DEFAULT_SLOT_SIZE, SLOT_FREE, SLOT_READY, SLOT_WRITING,
                                 RingBufferSlot, SharedMemoryRingBuffer, attach_to_ring_buffer,
                                 cleanup_global_ring_buffer, get_global_ring_buffer, get_global_ring_buffer_stats)

__all__ = [
    "install", "arrow_ipc", "shared_ring_buffer", "RingBufferHandle",
    *arrow_ipc.__all__, *shared_ring_buffer.__all__,
]

FRAMEWORK_MODULES = {
    "enrgdaq.utils.arrow_ipc": arrow_ipc,
    "enrgdaq.utils.shared_ring_buffer": shared_ring_buffer,
}


def install() -> None:
    """Makes the framework's ``enrgdaq.utils.arrow_ipc`` and ``enrgdaq.utils.shared_ring_buffer``
    this package's modules, in this process and (through ``sys.modules``) for every import that
    follows. Call it before the framework imports them: RuntimeError if it already has, since
    objects made from the framework's own modules would then be mixed with ours."""
    for name, module in FRAMEWORK_MODULES.items():
        loaded = sys.modules.get(name)
        if loaded is not None and loaded is not module:
            raise RuntimeError(f"arrowring.compat.install() after {name} was imported: call it first, before "
                               "anything imports the framework's ring modules")
    try:
        import enrgdaq.utils as framework_utils  # install() replaces two modules of this package.
    except ImportError as error:
        raise RuntimeError("arrowring.compat.install() needs the framework importable (enrgdaq.utils): put it on "
                           f"sys.path (or install it) before calling install(): {error}") from error
    for name, module in FRAMEWORK_MODULES.items():
        sys.modules[name] = module
        setattr(framework_utils, name.rsplit(".", 1)[1], module)
