"""asyncio: await sub.next_async() and async for ... in sub.aiter() wait without blocking the
event loop (an eventfd the loop watches, signalled from the ring's futex), and a cancelled await
takes no message."""
import asyncio
import multiprocessing as mp
import os

import pyarrow as pa
import pytest

import arrowring as ar


def row(value: int) -> pa.Table:
    return pa.table({"value": pa.array([value], pa.int64())})


def test_a_message_already_there_is_returned_at_once(ring):
    with ring.subscribe("async") as sub:
        ring.publisher().publish(row(1))
        table = asyncio.run(sub.next_async(timeout=0))
        assert table.column("value").to_pylist() == [1]
        low, high = ring.data_address, ring.data_address + ring.data_size
        assert low <= table.column(0).chunks[0].buffers()[1].address < high  # zero-copy as next()


def test_the_loop_runs_while_a_coroutine_waits(ring):
    async def main():
        with ring.subscribe("async") as sub:
            waiting = asyncio.create_task(sub.next_async())
            await asyncio.sleep(0)  # let it start waiting
            assert not waiting.done()
            # This runs on the loop's own thread: it could not if the wait blocked the loop.
            ring.publisher().publish(row(7))
            table = await waiting
            assert table.column("value").to_pylist() == [7]

    asyncio.run(main())


def test_a_publish_from_another_thread_wakes_the_coroutine(ring):
    async def main():
        with ring.subscribe("async") as sub:
            waiting = asyncio.create_task(sub.next_message_async())
            await asyncio.sleep(0)
            await asyncio.get_running_loop().run_in_executor(None, lambda: ring.publisher().publish(row(3)))
            message = await waiting
            assert message.table.column("value").to_pylist() == [3] and message.missed == 0

    asyncio.run(main())


def publish_when_told(name: str, go, values):
    ring = ar.Ring.attach(name)
    for value in values:
        go.recv()
        ring.publisher().publish(row(value))


def test_a_publisher_in_another_process_wakes_the_coroutine(ring):
    parent, child = mp.get_context("fork").Pipe()
    producer = mp.get_context("fork").Process(target=publish_when_told, args=(ring.name, child, [10, 11, 12]))

    async def main():
        got = []
        with ring.subscribe("async") as sub:
            async for table in sub.aiter(limit=3):
                got.extend(table.column("value").to_pylist())
                if len(got) < 3:
                    parent.send(True)
        return got

    async def run():
        asyncio.get_running_loop().call_soon(parent.send, True)
        return await main()

    producer.start()
    try:
        assert asyncio.run(run()) == [10, 11, 12]
    finally:
        producer.join()
    assert producer.exitcode == 0


def test_a_timeout_returns_none(ring):
    with ring.subscribe("async") as sub:
        assert asyncio.run(sub.next_async(timeout=0)) is None
        assert asyncio.run(sub.next_async(timeout=0.01)) is None
        assert asyncio.run(sub.next_message_async(timeout=0.01)) is None


def test_a_cancelled_await_takes_no_message(ring):
    async def main(sub):
        waiting = asyncio.create_task(sub.next_async())
        await asyncio.sleep(0)
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        with pytest.raises(asyncio.TimeoutError):  # asyncio.wait_for cancels the same way
            await asyncio.wait_for(sub.next_async(), timeout=0.01)
        ring.publisher().publish(row(5))

    with ring.subscribe("async") as sub:
        asyncio.run(main(sub))
        assert sub.next(timeout=0).column("value").to_pylist() == [5]


def test_aiter_ends_at_its_limit_or_after_the_timeout(ring):
    async def collect(sub, **options):
        return [t.column("value")[0].as_py() async for t in sub.aiter(**options)]

    with ring.subscribe("async") as sub:
        publisher = ring.publisher()
        for value in range(5):
            publisher.publish(row(value))
        assert asyncio.run(collect(sub, limit=2)) == [0, 1]
        assert asyncio.run(collect(sub, timeout=0)) == [2, 3, 4]
        with pytest.raises(ar.InvalidArgumentError):
            asyncio.run(collect(sub, limit=-1))
        with pytest.raises(ar.InvalidArgumentError):
            asyncio.run(sub.next_async(timeout=-1))


def test_two_coroutines_cannot_await_one_subscriber(ring):
    async def main(sub):
        first = asyncio.create_task(sub.next_async())
        await asyncio.sleep(0)
        with pytest.raises(ar.BadStateError, match="one task at a time"):
            await sub.next_async()
        ring.publisher().publish(row(9))
        assert (await first).column("value").to_pylist() == [9]

    with ring.subscribe("async") as sub:
        asyncio.run(main(sub))


def notifier_threads() -> int:
    """Threads of this process named as the notifier's (arrowring-async)."""
    count = 0
    for task in os.listdir("/proc/self/task"):
        try:
            with open(f"/proc/self/task/{task}/comm") as comm:
                count += comm.read().strip() == "arrowring-async"
        except FileNotFoundError:  # a thread that just ended
            pass
    return count


def test_closing_a_subscriber_ends_its_waiter_thread(ring):
    before = notifier_threads()

    async def main(sub):
        waiting = asyncio.create_task(sub.next_async())
        await asyncio.sleep(0)
        assert notifier_threads() == before + 1
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting

    sub = ring.subscribe("async")
    asyncio.run(main(sub))
    sub.close()  # wakes the thread from the futex and joins it
    assert notifier_threads() == before
