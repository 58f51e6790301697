"""asyncio for subscribers: ``await sub.next_async()``, ``async for table in sub.aiter()``.

The event loop never blocks and nothing polls. Each subscriber that awaits gets a
``CommitNotifier`` (C++, python/src/commit_notifier.h): an eventfd the loop watches
(``loop.add_reader``) and a thread that sleeps on the ring's commit futex while a coroutine
waits, and makes the eventfd readable when a message is committed. The coroutine then takes the
message on the loop's thread, without waiting (``next(timeout=0)``). A cancelled await (a
timeout of ``asyncio.wait_for``, a task cancelled at shutdown) took nothing, so nothing is lost.
"""
from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, AsyncIterator, Optional

import pyarrow as pa

from . import _core
from ._stream import check_limit, check_timeout
from .errors import BadStateError

if TYPE_CHECKING:
    from ._subscriber import Message, Subscriber


async def next_message_async(subscriber: "Subscriber", timeout: Optional[float]) -> Optional["Message"]:
    check_timeout(timeout)
    message = subscriber.next_message(0)
    if message is not None or timeout == 0:
        return message
    if subscriber._awaiting:
        raise BadStateError(f"subscriber {subscriber.name!r} is already awaited by another coroutine: a "
                            "subscriber delivers each message once, so await it from one task at a time "
                            "(subscribe under another name for a second reader)")
    loop = asyncio.get_running_loop()
    deadline = None if timeout is None else loop.time() + timeout
    notifier = subscriber._commit_notifier()
    subscriber._awaiting = True
    try:
        while True:
            # Read the epoch before looking: a commit after the look moves it, and arm() with
            # the old value signals at once (no lost wake-up).
            epoch = notifier.epoch
            message = subscriber.next_message(0)
            if message is not None:
                return message
            remaining = None if deadline is None else deadline - loop.time()
            if remaining is not None and remaining <= 0:
                return None
            if not await _commit_after(loop, notifier, epoch, remaining):
                return None
    finally:
        subscriber._awaiting = False


async def _commit_after(loop: asyncio.AbstractEventLoop, notifier: "_core.CommitNotifier", epoch: int,
                        timeout: Optional[float]) -> bool:
    """Waits until the ring's commit epoch moves past ``epoch``; False after ``timeout`` seconds."""
    committed: asyncio.Future[bool] = loop.create_future()
    fd = notifier.fileno()

    def on_readable() -> None:
        if not committed.done():
            committed.set_result(True)

    loop.add_reader(fd, on_readable)
    try:
        notifier.arm(epoch)
        if timeout is None:
            return await committed

        def on_timeout() -> None:
            if not committed.done():
                committed.set_result(False)

        timer = loop.call_later(timeout, on_timeout)
        try:
            return await committed
        finally:
            timer.cancel()
    finally:
        loop.remove_reader(fd)
        notifier.disarm()


async def next_async(subscriber: "Subscriber", timeout: Optional[float]) -> Optional[pa.Table]:
    message = await next_message_async(subscriber, timeout)
    return None if message is None else message.table


async def iterate(subscriber: "Subscriber", limit: Optional[int], timeout: Optional[float]) -> AsyncIterator[pa.Table]:
    check_limit(limit)
    check_timeout(timeout)
    taken = 0
    while limit is None or taken < limit:
        table = await next_async(subscriber, timeout)
        if table is None:
            return
        taken += 1
        yield table
