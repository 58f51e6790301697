"""Test support: whether a thread sleeps inside a ring's wait, read from /proc."""


def asleep_on_the_ring(thread, ring):
    """Whether `thread` sleeps in a futex whose word lies in `ring`'s shared memory (the wait
    inside next()), from /proc: the syscall it is blocked in, and the mapping of the ring."""
    segment = f"/dev/shm/arrowring.{ring.name}"
    ranges = []
    with open("/proc/self/maps") as maps:
        for line in maps:
            if line.rstrip().endswith(segment):
                low, high = line.split()[0].split("-")
                ranges.append((int(low, 16), int(high, 16)))
    try:
        with open(f"/proc/self/task/{thread.native_id}/syscall") as syscall:
            fields = syscall.read().split()
    except FileNotFoundError:  # the thread ended
        return False
    futex = "202"  # x86_64; the address of the futex word is the first argument
    return len(fields) > 1 and fields[0] == futex and any(low <= int(fields[1], 16) < high for low, high in ranges)
