"""Rate-limited WARNINGs on the ``arrowring.compat`` logger: every refusal is said, none floods.

The framework takes its copying fallback silently whenever the ring refuses a table, so a ring
that is too small or pinned would only show as a slow system. Each distinct cause is logged at
most once a second, with the count of repeats held back since.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Dict

logger = logging.getLogger("arrowring.compat")

_INTERVAL_S = 1.0
_lock = threading.Lock()
_last: Dict[str, float] = {}  # cause -> when it was last logged (monotonic seconds)
_held_back: Dict[str, int] = {}


def warn(cause: str, message: str) -> None:
    """Logs ``message`` unless ``cause`` was logged less than a second ago."""
    now = time.monotonic()
    with _lock:
        last = _last.get(cause)
        if last is not None and now - last < _INTERVAL_S:
            _held_back[cause] = _held_back.get(cause, 0) + 1
            return
        _last[cause] = now
        held_back = _held_back.pop(cause, 0)
    suffix = f" ({held_back} more like this since the last report)" if held_back else ""
    logger.warning("%s%s", message, suffix)


def no_room(name: str, size: int, capacity: int) -> None:
    """Says why ring ``name`` refused ``size`` bytes."""
    if size > capacity:
        warn(f"too-large:{name}", f"arrowring.compat: a table of {size} bytes does not fit ring {name!r} "
             f"({capacity} bytes); it takes the copying fallback. Give the ring a larger total_size.")
    else:
        warn(f"full:{name}", f"arrowring.compat: ring {name!r} has no room for {size} bytes: tables loaded from "
             "it and still alive hold the rest (each costs its own bytes; 'arrowring stat' shows them as kept); "
             "the message takes the copying fallback. Drop tables sooner or give the ring more space.")
