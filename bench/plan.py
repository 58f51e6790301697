"""What the suite measures: the table sizes, the contenders of each section, and the cases of
the kept-tables and Flight sections. suite.py runs them; report.py and plots.py render them."""
from __future__ import annotations

from harness import KiB, MiB


SIZES = [KiB, 64 * KiB, MiB, 16 * MiB, 128 * MiB]
LOAN_COMMIT_SIZES = [64 * KiB, MiB, 16 * MiB, 128 * MiB, 256 * MiB]  # Commit() of a loan: held flat over this range
FLOORS = ("memcpy", "memcpy-cold", "stream-cold")  # copies in one process, no ring: the machine's floors
THROUGHPUT_CONTENDERS = ["memcpy", "memcpy-cold", "stream-cold", "arrowring-cpp", "arrowring-python", "iceoryx2-python",
                         "iceoryx2-python-event", "ray-object-store", "seed-python", "pickle-mp-queue", "zeromq-ipc"]
# The framework's own message path (arrowring.compat) against the seed's, at the sizes its users
# reported: 16 KB, 1 MiB and 8 MiB tables.
FRAMEWORK_SIZES = [16 * KiB, MiB, 8 * MiB]
FRAMEWORK_CONTENDERS = ["compat-python", "seed-python", "framework-flow-floor"]
# The kept-tables cases (1 MiB tables): label -> arguments of the throughput case.
KEEPING_CASES = {
    "nothing kept, 2 subscribers, 64 MiB ring": ["--subscribers", 2, "--ring-tables", 64],
    "kept per tag + first 200, 64 MiB ring": ["--subscribers", 2, "--ring-tables", 64, "--keep", "per-tag,first-200"],
    "4 MiB ring": ["--subscribers", 1, "--ring-tables", 4],
    "256 MiB ring": ["--subscribers", 1, "--ring-tables", 256],
    "256 MiB retaining ring (full by design: cold writes, streaming stores)":
        ["--subscribers", 1, "--ring-tables", 256, "--retain"],
}
# Fan-out rings hold this many tables (16 MiB for 1 MiB tables, 256 MiB — the README's ring —
# for 16 MiB ones); the 4-table ring is measured beside it.
FANOUT_RING_TABLES = 16
# The first lap through a fresh ring (one table of this size, the ring just big enough), with
# and without prefaulting, against the same publish once the pages are mapped.
FIRST_LAP_SIZES = {"quick": 256 * MiB, "full": 768 * MiB}
# Rings across machines: rings joined through Arrow Flight over 127.0.0.1 (C++: ring ->
# RingServer -> DoGet -> Puller -> ring), against plain Flight DoGet of the same tables from
# memory (the bound) and ZeroMQ (Python at both ends, as in the throughput table).
FLIGHT_SIZES = [64 * KiB, MiB, 16 * MiB, 64 * MiB]
FLIGHT_CONTENDERS = ["flight-bridge", "flight-plain", "zeromq-ipc"]
FLIGHT_LATENCY_SIZES = [64 * KiB, MiB]
