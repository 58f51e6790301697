"""latest.md: the tables of one results dict, side by side with the floors and the peers, their
ratios, and the targets with what bounds each where it is missed."""
from __future__ import annotations

from typing import Optional

from harness import KiB, MiB
from plan import FLOORS, FRAMEWORK_SIZES, KEEPING_CASES, SIZES, THROUGHPUT_CONTENDERS


def fanout_groups(result: dict) -> list:
    """(ring tables, table size) of the fan-out rows, deepest ring and largest table first."""
    groups = {(r.get("ring_tables", 4), r["size_bytes"]) for r in result["fanout"]}
    return sorted(groups, key=lambda g: (-g[0], -g[1]))


def fanout_cpu_bound(row: dict) -> float:
    """Tables/s the machine's CPUs allow when each table costs the producer's and every
    consumer's CPU time as measured in this row."""
    cpu_us = row["producer_cpu_us"] + row["subscribers"] * row["consumer_cpu_us"]
    return row["cpus"] * 1e6 / cpu_us if cpu_us > 0 else float("inf")


TARGETS_WHY = {
    "large": "Below 1 MiB-16 MiB the fixed per-table costs (IPC metadata, the futex hand-off between producer and "
             "consumer, ~17% of samples in perf) weigh against a memcpy that runs from L2/L3; see docs/benchmarks.md.",
    "latency_block": "Blocking waits pay the futex wake-up of a sleeping vCPU: raw 64-byte messages show the same "
                     "~25 us here, so it is the platform's wake-up latency, not the table path.",
    "latency_spin": "Spinning, what is left is the table path's own CPU work: the record batch header is patched "
                    "and recognized, not built or parsed, but each table is still a dozen Arrow objects made on "
                    "one side and freed on the other, plus the ring's bookkeeping; raw messages meet the bound.",
    "fanout": "The CPUs: the producer and 8 consumers share them, and the CPU bound in brackets is the most the "
              "CPU time per table measured in the same run allows (fan-out table); a shallow ring adds the "
              "producer's waiting to that time; see docs/benchmarks.md.",
    "framework": "Python per table on both sides of compat (sizing, the handle, load_pyarrow() and release(), "
                 "against the flow's own cost in the flow-floor column); the copy into the ring runs in C++ at "
                 "the streaming floor and is a fifth of compat's time per 1 MiB table; see docs/benchmarks.md.",
    "raw_spin": "Spinning needs a vCPU for each side: when a third process runs on this 2-vCPU VM (other builds), "
                "spinner and sender share one and the p99 jumps to the scheduler's time slice (ms); floor-spin, in the "
                "same run, shows the machine's state.",
    "floor_block": "The futex floor is the wake-up alone; a 1-row table adds its table work on both sides "
                   "(a patched header written, a recognized one read, Arrow's objects made and freed) and the "
                   "ring's bookkeeping, slower right after a vCPU wakes from a halt; see docs/benchmarks.md.",
    "floor_spin": "Spinning removes the wake-up, so what is left is the table path's own CPU work (Arrow's "
                  "objects for each table, the ring's bookkeeping, ~1 µs a side) against a floor of one "
                  "cache-line transfer (~0.1 µs); see docs/benchmarks.md.",
    "small_cpp": "At 1 KiB a table costs its fixed per-table work (Arrow's objects for the table, made and freed; "
                 "the ring's bookkeeping; the header patched and recognized) and a futex hand-off whenever the "
                 "consumer has caught up and sleeps; see docs/benchmarks.md.",
    "small_python": "Publish and next run in C++ (pyarrow hands over and takes its Table as it is), but the "
                    "consumer's own reading of one value per column through pyarrow's scalars costs more than both: "
                    "the bound in brackets, measured in the same run; see docs/benchmarks.md.",
    "peer_large": "See docs/benchmarks.md: what bounds each contender.",
    "peer_small": "At 1 KiB both pay per-table Python and Arrow IPC work; iceoryx2's subscriber polls a core "
                  "instead of sleeping, arrowring's sleeps on the futex.",
    "loan": "Both producers generate every value, so a loan saves only the copy: the speedup is at most "
            "(generate + copy + hand-off) / (generate + hand-off), and generating into cold ring pages costs what "
            "writing them costs either way; see docs/benchmarks.md.",
    "loan_commit": "Commit() writes only the framing (the no-fill column: flat); right after a fill larger than "
                   "the caches it runs cold — its code, the batch's objects and the ring's header were evicted, and "
                   "each miss queues behind the fill's write-backs; no table bytes are moved. See docs/benchmarks.md.",
    "flight_plain": "The bridge adds two copies of every table (into the source ring, into the destination ring), "
                    "the hand-offs of four processes on two shared cores and an acknowledgement per table; on this "
                    "loaded 2-vCPU VM the ratio moves between runs (16 MiB: 0.70x-0.89x); at 64 KiB the per-table "
                    "work dominates. See docs/benchmarks.md.",
    "flight_zeromq": "ZeroMQ here is ipc:// (a Unix socket, one machine only), faster than plain Flight over TCP "
                     "loopback — the bridge's own bound — so no Flight path can be 5x it; see docs/benchmarks.md.",
    "keeping": "Kept tables cost their bytes and the writer's detours around them; see docs/benchmarks.md.",
    "first_lap": "Mapping pages in costs the same per page whenever it happens (this VM: ~5 us per 4 KiB page); "
                 "see docs/benchmarks.md.",
    "big_ring": "A big ring holding little wraps early (warm writes); the rest is the run's noise; see "
                "docs/benchmarks.md.",
    "seed": "At 1 MiB the seed's path is two copies of a cache-resident table (serialize to measure, serialize into "
            "the slot) plus Python per-table overhead, within a few times one copy; its 10 MB slots send larger "
            "tables to the pickle fallback, where the gap opens to 40x.",
}
# A peer's contenders: the targets hold arrowring against the best of them at each size.
PEER_GROUPS = {"iceoryx2": ["iceoryx2-python", "iceoryx2-python-event"], "Ray": ["ray-object-store"]}


def best_of(by: dict, contenders: list, size: int):
    """The highest GB/s of `contenders` at `size`, or None when none of them was measured."""
    measured = [by[(c, size)]["gbps"] for c in contenders if by[(c, size)]["gbps"] is not None]
    return max(measured) if measured else None


def peer_status(by: dict, contenders: list) -> str:
    return by[(contenders[0], SIZES[0])].get("status", "—")


def python_bound(per_table: Optional[dict], cpp1k: float) -> str:
    """The forked pair's bound from what each side costs in one process (python_per_table.py):
    the longer side, publish or next() plus the consumer's own reading of the table."""
    if not per_table:
        return ""
    slower = max(per_table["publish_us"], per_table["next_us"] + per_table["consume_us"])
    return (f" (one process, per table: publish {per_table['publish_us']:.1f} us, next {per_table['next_us']:.1f} us, "
            f"the consumer's own reading {per_table['consume_us']:.1f} us: at most {1e6 / slower:,.0f}/s "
            f"= {1e6 / slower / cpp1k:.0%})")


def floor_and_peer_targets(by: dict, lat: dict, per_table: Optional[dict] = None) -> list:
    """Latency against the floors, the rates of small tables, and arrowring against the real
    peers, from this run. The peers are driven from Python, so the comparison with them is
    arrowring-python's (arrowring-cpp's ratio is shown beside it). `met` is None when a peer was
    not measured."""
    block, spin = lat[("arrowring-cpp-block", "1-row-table")], lat[("arrowring-cpp-spin", "1-row-table")]
    futex, spinning = lat[("floor-futex", "8B")], lat[("floor-spin", "8B")]
    cpp1k, py1k = by[("arrowring-cpp", KiB)]["tables_per_s"], by[("arrowring-python", KiB)]["tables_per_s"]
    targets = [
        ("1-row table, blocking: p50 <= 1.2x the futex floor", block["p50_us"] <= 1.2 * futex["p50_us"],
         f"{block['p50_us']:.1f} us = {block['p50_us'] / futex['p50_us']:.2f}x floor-futex ({futex['p50_us']:.1f} us)",
         "floor_block"),
        ("1-row table, spinning: p50 <= 1.5 us or <= 4x the spinning floor",
         spin["p50_us"] <= 1.5 or spin["p50_us"] <= 4 * spinning["p50_us"],
         f"{spin['p50_us']:.2f} us = {spin['p50_us'] / spinning['p50_us']:.1f}x floor-spin ({spinning['p50_us']:.2f} us)",
         "floor_spin"),
        ("1 KiB tables: C++ >= 500k tables/s", cpp1k >= 500_000, f"{cpp1k:,.0f}/s", "small_cpp"),
        ("1 KiB tables: Python >= 50% of C++", py1k >= 0.5 * cpp1k,
         f"{py1k:,.0f}/s = {py1k / cpp1k:.0%}" + python_bound(per_table, cpp1k), "small_python"),
    ]
    large = [s for s in SIZES if s >= 64 * KiB]
    small = [s for s in SIZES if s < 64 * KiB]
    for label, peers in PEER_GROUPS.items():
        if best_of(by, peers, large[0]) is None:
            targets.append((f"ahead of {label} at every size >= 64 KiB", None, f"{label}: {peer_status(by, peers)}", None))
            continue
        py = [by[("arrowring-python", s)]["gbps"] / best_of(by, peers, s) for s in large]
        cpp = [by[("arrowring-cpp", s)]["gbps"] / best_of(by, peers, s) for s in large]
        targets.append((f"ahead of {label} at every size >= 64 KiB", min(py) > 1,
                        "python / " + label + ": " + ", ".join(f"{size_label(s)} {x:.2f}x" for s, x in zip(large, py)) +
                        " (cpp: " + ", ".join(f"{x:.2f}x" for x in cpp) + ")", "peer_large"))
    peers = PEER_GROUPS["iceoryx2"]
    if best_of(by, peers, small[0]) is None:
        targets.append(("within 1.2x of iceoryx2 below 64 KiB", None, f"iceoryx2: {peer_status(by, peers)}", None))
    else:
        py = [by[("arrowring-python", s)]["gbps"] / best_of(by, peers, s) for s in small]
        cpp = [by[("arrowring-cpp", s)]["gbps"] / best_of(by, peers, s) for s in small]
        targets.append(("within 1.2x of iceoryx2 below 64 KiB", min(py) >= 1 / 1.2,
                        "python / iceoryx2: " + ", ".join(f"{size_label(s)} {x:.2f}x" for s, x in zip(small, py)) +
                        " (cpp: " + ", ".join(f"{x:.2f}x" for x in cpp) + ")", "peer_small"))
    return targets


def loan_targets(result: dict) -> list:
    """The loans' targets (loaned against copying producers, Commit() alone), when the run
    measured them (older results did not)."""
    targets = []
    if result.get("loan"):
        large = [r for r in result["loan"] if r["size_bytes"] >= MiB]
        ratios = [r["loaned_gbps"] / r["copying_gbps"] for r in large]
        targets.append(("loaned >= 1.5x copying at >= 1 MiB (values generated)", min(ratios) >= 1.5,
                        ", ".join(f"{size_label(r['size_bytes'])} {x:.2f}x" for r, x in zip(large, ratios)), "loan"))
    if result.get("loan_commit"):
        # Held to the cost a producer sees, right after its fill; Commit's own work beside it.
        worst = max(r["commit_us"] for r in result["loan_commit"])
        big = next((r for r in result["loan_commit"] if r["size_bytes"] == 128 * MiB), result["loan_commit"][-1])
        own = max((r["commit_nofill_us"] for r in result["loan_commit"] if "commit_nofill_us" in r), default=None)
        targets.append(("Commit() of a loan <= 20 us, flat from 64 KiB to 256 MiB", worst <= 20,
                        f"after the fill: {size_label(big['size_bytes'])} {big['commit_us']:.1f} us, slowest size "
                        f"{worst:.1f} us; no fill between: at most {fmt(own, 1)} us", "loan_commit"))
    return targets


def kept_tables_targets(result: dict) -> list:
    """Kept tables cost their own bytes (the producer keeps its rate); big rings stay warm."""
    if not result.get("keeping"):
        return []
    rate = {r["case"]: r["gbps"] for r in result["keeping"]}
    labels = list(KEEPING_CASES)
    kept, plain = rate[labels[1]] / rate[labels[0]], rate[labels[3]] / rate[labels[2]]
    return [("subscribers keeping tables >= 0.9x nothing kept, 0 failed publishes", kept >= 0.9,
             f"{kept:.2f}x ({rate[labels[1]]:.2f} vs {rate[labels[0]]:.2f} GB/s)", "keeping"),
            ("1 MiB tables through a 256 MiB ring >= 0.9x a 4 MiB ring", plain >= 0.9,
             f"{plain:.2f}x ({rate[labels[3]]:.2f} vs {rate[labels[2]]:.2f} GB/s)", "big_ring")]


def first_lap_targets(result: dict) -> list:
    """With prefaulting, the first publish into a fresh ring runs at the steady rate."""
    on = next((r for r in result.get("first_lap", []) if r["prefault"]), None)
    if on is None:
        return []
    share = on["first_gbps"] / on["steady_gbps"]
    return [("first publish into a fresh ring >= 0.8x the steady rate, prefaulting on", share >= 0.8,
             f"{share:.2f}x ({on['first_gbps']:.2f} vs {on['steady_gbps']:.2f} GB/s; create {on['create_s']:.2f} s)",
             "first_lap")]


def flight_added_us(row: dict) -> float:
    """What the bridge adds per table over plain Flight, in µs: the difference of their
    per-table times in the same run (1 / tables per second)."""
    return 1e6 / row["flight-bridge_tables_per_s"] - 1e6 / row["flight-plain_tables_per_s"]


def flight_bridge_targets(result: dict) -> list:
    """The Flight bridge's targets (against plain Flight and ZeroMQ), when the run measured them."""
    rows = result.get("flight") or []
    if not rows:
        status = result.get("flight_unavailable")
        return [("bridge >= 0.8x plain Flight at >= 1 MiB", None, status or "not measured", None)] if status else []
    large = [r for r in rows if r["size_bytes"] >= MiB]
    plain = [r["flight-bridge_gbps"] / r["flight-plain_gbps"] for r in large]
    zmq_ratio = [r["flight-bridge_gbps"] / r["zeromq-ipc_gbps"] for r in rows]
    return [
        ("bridge >= 0.8x plain Flight at >= 1 MiB", min(plain) >= 0.8,
         ", ".join(f"{size_label(r['size_bytes'])} {x:.2f}x" for r, x in zip(large, plain)), "flight_plain"),
        ("bridge >= 5x ZeroMQ", min(zmq_ratio) >= 5,
         ", ".join(f"{size_label(r['size_bytes'])} {x:.2f}x" for r, x in zip(rows, zmq_ratio)), "flight_zeromq"),
    ]


def fmt(value, digits=2):
    return f"{value:.{digits}f}" if isinstance(value, (int, float)) else str(value)


def ratio(a, b, digits=2) -> str:
    """a / b as "1.23x", or "—" when either is missing."""
    return f"{a / b:.{digits}f}x" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b else "—"


def size_label(size: int) -> str:
    return f"{size // MiB} MiB" if size >= MiB else f"{size // KiB} KiB"


# The floor of each latency row: blocking (and ZeroMQ, whose receiver sleeps in epoll) against a
# futex wake-up of a sleeping process, spinning against the spinning hand-off.
def latency_floor(contender: str) -> str:
    return "floor-spin" if contender.endswith("spin") else "floor-futex"


def cell(row: dict, key: str, digits: int) -> str:
    return fmt(row[key], digits) if row.get(key) is not None else row.get("status", "—")


def report(result: dict) -> str:
    by = {(r["contender"], r["size_bytes"]): r for r in result["throughput"]}
    gbps = lambda c, size: by[(c, size)]["gbps"]  # noqa: E731 - None when not installed
    movers = [c for c in THROUGHPUT_CONTENDERS if c not in FLOORS]
    lines = [f"# arrowring benchmarks ({result['suite']})", "",
             f"{result['date']} — {result['machine'].get('cpu', '?')}, {result['machine']['cpus']} CPUs, "
             f"pyarrow {result['machine']['pyarrow']}, iceoryx2 {result['machine'].get('iceoryx2', '?')}, "
             f"ray {result['machine'].get('ray', '?')}; median of {result['repetitions']} interleaved repetitions. "
             "Command: `make bench" + (" QUICK=1" if result["suite"] == "quick" else "") + "`.", "",
             "## Throughput, producer → consumer process (GB/s of table data; consumer reads one value per column)", "",
             "`memcpy`: warm (source and target reused); `memcpy-cold`: the floor, a copy into a target the size "
             "of the ring (at least 4x the last-level cache), cycling, DRAM-bound; `stream-cold`: the same copy with "
             "streaming (non-temporal) stores, as the ring writes slots it finds cold (the cold floor).", "",
             "| size | " + " | ".join(THROUGHPUT_CONTENDERS) +
             " | cpp / memcpy | cpp / seed | python / seed | python / best iceoryx2 | python / ray |",
             "|---|" + "---|" * (len(THROUGHPUT_CONTENDERS) + 5)]
    for size in SIZES:
        cells = [cell(by[(c, size)], "gbps", 3) for c in THROUGHPUT_CONTENDERS]
        cpp, py = gbps("arrowring-cpp", size), gbps("arrowring-python", size)
        lines.append(f"| {size_label(size)} | " + " | ".join(cells) +
                     f" | {ratio(cpp, gbps('memcpy', size))} | {ratio(cpp, gbps('seed-python', size), 1)} | "
                     f"{ratio(py, gbps('seed-python', size), 1)} | {ratio(py, best_of(by, PEER_GROUPS['iceoryx2'], size))} | "
                     f"{ratio(py, best_of(by, PEER_GROUPS['Ray'], size))} |")
    lines += ["", "× floor (each contender's GB/s — and tables/s — over `memcpy-cold` at the same size):", "",
              "| size | floor GB/s | " + " | ".join(movers) + " |", "|---|---|" + "---|" * len(movers)]
    for size in SIZES:
        floor = gbps("memcpy-cold", size)
        lines.append(f"| {size_label(size)} | {fmt(floor, 2)} | " +
                     " | ".join(ratio(gbps(c, size), floor) if gbps(c, size) is not None else by[(c, size)]["status"]
                                for c in movers) + " |")
    lines += ["", "Tables per second:", "", "| size | " + " | ".join(THROUGHPUT_CONTENDERS) + " |",
              "|---|" + "---|" * len(THROUGHPUT_CONTENDERS)]
    for size in SIZES:
        lines.append(f"| {size_label(size)} | " + " | ".join(cell(by[(c, size)], "tables_per_s", 0) for c in THROUGHPUT_CONTENDERS) + " |")
    lines += ["", "Consumer checksumming every byte (arrowring-cpp): " +
              ", ".join(f"{size_label(r['size_bytes'])} {r['gbps']:.2f} GB/s" for r in result["throughput_checksum"]), "",
              "## Latency, one way between two processes", "",
              "Floors in the same run: `floor-futex`, an 8-byte stamp and a futex word in shared memory, the "
              "receiver asleep in FUTEX_WAIT, woken by the sender's FUTEX_WAKE; `floor-spin`, the same with the "
              "receiver polling the word. × floor: blocking rows (and ZeroMQ, whose receiver sleeps) over "
              "floor-futex, spinning rows over floor-spin.", "",
              "| contender | payload | p50 µs | × floor | p99 µs | × floor | p99.9 µs | msgs/s | × floor |",
              "|---|---|---|---|---|---|---|---|---|"]
    lat = {(r["contender"], r["payload"]): r for r in result["latency"]}
    order = lambda r: (not r["contender"].startswith("floor"), r["payload"], r["contender"])  # noqa: E731
    for r in sorted(result["latency"], key=order):
        floor = lat[(latency_floor(r["contender"]), "8B")]
        lines.append(f"| {r['contender']} | {r['payload']} | {r['p50_us']:.2f} | {ratio(r['p50_us'], floor['p50_us'], 1)} | "
                     f"{r['p99_us']:.2f} | {ratio(r['p99_us'], floor['p99_us'], 1)} | {r['p999_us']:.2f} | "
                     f"{r['msgs_per_s']:.0f} | {ratio(r['msgs_per_s'], floor['msgs_per_s'], 3)} |")
    for peer, status in result.get("latency_unavailable", {}).items():
        lines.append(f"| {peer} | — | {status} | | | | | | |")
    lines += ["", "arrowring's latency rows are C++ at both ends; ZeroMQ's and iceoryx2's are Python at both ends "
              "(iceoryx2: `-spin` polls, `-event` sleeps on an event service; msgs/s paced, one in flight)."]
    fw = {(r["contender"], r["size_bytes"]): r for r in result["framework_path"]}
    lines += ["", "## The framework's message path: arrowring.compat against the seed's approach", "",
              "`try_zero_copy_pyarrow` → handle pickled to the consumer → `load_pyarrow()` + `release()` "
              "(compat-python), against the seed's slots re-created (seed-python). `framework-flow-floor`: the same "
              "flow with no table in it (the handle through the same queue under the same credits, nothing written "
              "or loaded), a bound on every contender of this row; `ceiling / seed` is the most any of them can "
              "reach over the seed.", "",
              "| size | compat-python GB/s | seed-python GB/s | compat tables/s | flow floor tables/s | compat / seed "
              "| ceiling / seed |", "|---|---|---|---|---|---|---|"]
    for size in FRAMEWORK_SIZES:
        c, d, f = fw[("compat-python", size)], fw[("seed-python", size)], fw[("framework-flow-floor", size)]
        lines.append(f"| {size // KiB} KiB | {c['gbps']:.3f} | {d['gbps']:.3f} | {c['tables_per_s']:.0f} | "
                     f"{f['tables_per_s']:.0f} | {c['gbps'] / d['gbps']:.1f}x | "
                     f"{f['tables_per_s'] / d['tables_per_s']:.1f}x |")
    lines += ["", "## Exact IPC size against serialize-to-measure", "", "| size | exact µs | serialize µs | ratio |", "|---|---|---|---|"]
    for r in result["ipc_size"]:
        lines.append(f"| {r['size_bytes'] // KiB} KiB | {r['exact_us']:.2f} | {r['serialize_us']:.1f} | {r['serialize_us'] / r['exact_us']:.0f}x |")
    lines += ["", "## Fan-out (publisher GB/s)", "",
              "CPU per table: the producer's process, and one consumer's on average, in the 8-subscriber run. "
              "CPU bound: the tables/s the machine's CPUs allow at that cost (CPUs / (producer + 8 x consumer)), "
              "against the 8-subscriber rate measured.", "",
              "| ring | table | 1 | 2 | 4 | 8 | 8 / 1 | CPU per table, producer / consumer (µs) | 8 subscribers: tables/s, "
              "CPU bound |", "|---|---|---|---|---|---|---|---|---|"]
    for ring_tables, size in fanout_groups(result):
        rows = {r["subscribers"]: r for r in result["fanout"]
                if r["size_bytes"] == size and r.get("ring_tables", 4) == ring_tables}
        eight = rows[8]
        cpu = (f"{eight['producer_cpu_us']:.0f} / {eight['consumer_cpu_us']:.0f} | "
               f"{eight['gbps'] * 1e9 / size:,.0f} / {fanout_cpu_bound(eight):,.0f}") if "producer_cpu_us" in eight else "— | —"
        lines.append(f"| {ring_tables} tables | {size // KiB} KiB | " + " | ".join(f"{rows[k]['gbps']:.2f}" for k in (1, 2, 4, 8))
                     + f" | {rows[8]['gbps'] / rows[1]['gbps']:.2f}x | {cpu} |")
    if result.get("loan"):
        lines += ["", "## Loaned vs copying producer (C++, values generated per table, producer → consumer process)", "",
                  "| table | loaned GB/s | copying GB/s | loaned / copying |", "|---|---|---|---|"]
        for r in result["loan"]:
            lines.append(f"| {size_label(r['size_bytes'])} | {r['loaned_gbps']:.2f} | {r['copying_gbps']:.2f} | "
                         f"{ratio(r['loaned_gbps'], r['copying_gbps'])} |")
    if result.get("loan_commit"):
        lines += ["", "## Loan and Commit() alone (µs, median)", "",
                  "| table | Loan | Commit after the fill | its max | Commit, no fill between |", "|---|---|---|---|---|"]
        for r in result["loan_commit"]:
            lines.append(f"| {size_label(r['size_bytes'])} | {r['loan_us']:.2f} | {r['commit_us']:.2f} | "
                         f"{r['commit_max_us']:.2f} | {fmt(r.get('commit_nofill_us', '—'))} |")
    if result.get("flight"):
        lines += ["", "## Rings across machines: ring → Flight over 127.0.0.1 → ring (GB/s of table data)", "",
                  "`flight-bridge`: a producer publishes into a ring, `RingServer` streams it (DoGet, 56-byte tag per "
                  "batch), a `Puller` republishes each table into a second ring and acknowledges it, a consumer "
                  "process reads that ring. `flight-plain`: one DoGet of the same tables from memory, no ring, no "
                  "acknowledgement — the bound. `zeromq-ipc`: as in the throughput table (Python, ipc://). Added "
                  "per table: the bridge's time per table minus plain Flight's.", "",
                  "| table | flight-bridge | flight-plain | zeromq-ipc | bridge / plain | bridge / ZeroMQ | bridge tables/s "
                  "| added µs per table |", "|---|---|---|---|---|---|---|---|"]
        for r in result["flight"]:
            lines.append(f"| {size_label(r['size_bytes'])} | {r['flight-bridge_gbps']:.3f} | {r['flight-plain_gbps']:.3f} | "
                         f"{r['zeromq-ipc_gbps']:.3f} | {ratio(r['flight-bridge_gbps'], r['flight-plain_gbps'])} | "
                         f"{ratio(r['flight-bridge_gbps'], r['zeromq-ipc_gbps'])} | {r['flight-bridge_tables_per_s']:.0f} | "
                         f"{flight_added_us(r):.0f} |")
    elif result.get("flight_unavailable"):
        lines += ["", f"Rings across machines (Flight bridge): {result['flight_unavailable']}."]
    if result.get("flight_latency"):
        lines += ["", "One table at a time (published once the consumer answered the previous one), publish → "
                  "consumer, µs; `local`: the same through one ring:", "",
                  "| table | bridge p50 | bridge p99 | local p50 | local p99 | added p50 |", "|---|---|---|---|---|---|"]
        for r in result["flight_latency"]:
            lines.append(f"| {size_label(r['size_bytes'])} | {r['bridge_p50_us']:.0f} | {r['bridge_p99_us']:.0f} | "
                         f"{r['local_p50_us']:.0f} | {r['local_p99_us']:.0f} | "
                         f"{r['bridge_p50_us'] - r['local_p50_us']:.0f} |")
    if result.get("keeping"):
        lines += ["", "## Tables readers keep, and big rings (1 MiB tables, C++ producer → consumer processes, GB/s)",
                  "", "| case | GB/s | tables/s |", "|---|---|---|"]
        for r in result["keeping"]:
            lines.append(f"| {r['case']} | {r['gbps']:.3f} | {r['tables_per_s']:.0f} |")
        cold = {c: by.get((c, MiB), {}).get("gbps") for c in ("memcpy-cold", "stream-cold")}
        lines += ["", f"Floors at 1 MiB in the same run: memcpy-cold {fmt(cold['memcpy-cold'])} GB/s, "
                  f"stream-cold {fmt(cold['stream-cold'])} GB/s (the retaining ring's writes are cold)."]
    if result.get("first_lap"):
        lines += ["", "## The first lap through a fresh ring (one table, C++ publisher, GB/s)", "",
                  "| table | prefault | create s | first publish | steady | first / steady |", "|---|---|---|---|---|---|"]
        for r in result["first_lap"]:
            lines.append(f"| {size_label(r['size_bytes'])} | {'on' if r['prefault'] else 'off'} | {r['create_s']:.3f} | "
                         f"{r['first_gbps']:.2f} | {r['steady_gbps']:.2f} | {ratio(r['first_gbps'], r['steady_gbps'])} |")
    lines += ["", "## Consumer peak RSS", "", "| message | peak RSS |", "|---|---|"]
    for r in result["rss"]:
        lines.append(f"| {r['size_bytes'] // KiB} KiB | {r['consumer_peak_rss_bytes'] / MiB:.1f} MiB |")

    lat = {(r["contender"], r["payload"]): r for r in result["latency"]}
    large = [by[("arrowring-cpp", s)]["gbps"] / by[("memcpy", s)]["gbps"] for s in SIZES if s >= MiB]
    seed = [by[("arrowring-cpp", s)]["gbps"] / by[("seed-python", s)]["gbps"] for s in SIZES if s >= MiB]
    framework = [fw[("compat-python", s)]["gbps"] / fw[("seed-python", s)]["gbps"] for s in FRAMEWORK_SIZES if s >= MiB]
    ceiling = [fw[("framework-flow-floor", s)]["tables_per_s"] / fw[("seed-python", s)]["tables_per_s"]
               for s in FRAMEWORK_SIZES if s >= MiB]
    ipc64 = next(r for r in result["ipc_size"] if r["size_bytes"] == 64 * MiB)
    deep = max(r.get("ring_tables", 4) for r in result["fanout"])
    fan = {(r["subscribers"], r["size_bytes"]): r["gbps"] for r in result["fanout"] if r.get("ring_tables", 4) == deep}
    fan_rows = {(r["subscribers"], r["size_bytes"]): r for r in result["fanout"] if r.get("ring_tables", 4) == deep}

    def fan_bound(size: int) -> str:  # the 8-subscriber CPU bound against one subscriber's rate
        eight = fan_rows[(8, size)]
        if "producer_cpu_us" not in eight:
            return ""
        return f" (CPU bound {fanout_cpu_bound(eight) * size / 1e9 / fan[(1, size)]:.2f}x)"
    shallow = {(r["subscribers"], r["size_bytes"]): r["gbps"] for r in result["fanout"] if r.get("ring_tables", 4) == 4}
    fan_sizes = sorted({size for _, size in fan}, reverse=True)
    targets = [
        ("tables >= 1 MiB at >= 0.8x memcpy", min(large) >= 0.8, f"{', '.join(f'{x:.2f}x' for x in large)}", "large"),
        (">= 10x seed-python at >= 1 MiB", min(seed) >= 10, f"{', '.join(f'{x:.1f}x' for x in seed)}", "seed"),
        ("framework path >= 3x the seed's at 1 MiB and 8 MiB", min(framework) >= 3,
         ", ".join(f"{x:.1f}x" for x in framework) + " (the flow's own ceiling: " +
         ", ".join(f"{x:.1f}x" for x in ceiling) + ")", "framework"),
        ("1-row table p50 <= 10 us blocking", lat[("arrowring-cpp-block", "1-row-table")]["p50_us"] <= 10,
         f"{lat[('arrowring-cpp-block', '1-row-table')]['p50_us']:.1f} us", "latency_block"),
        ("1-row table p50 <= 2 us spinning", lat[("arrowring-cpp-spin", "1-row-table")]["p50_us"] <= 2,
         f"{lat[('arrowring-cpp-spin', '1-row-table')]['p50_us']:.1f} us", "latency_spin"),
        ("raw 64 B p50 <= 1 us spinning", lat[("arrowring-raw-spin", "64B")]["p50_us"] <= 1,
         f"{lat[('arrowring-raw-spin', '64B')]['p50_us']:.2f} us (floor-spin {lat[('floor-spin', '8B')]['p50_us']:.2f} us)",
         "raw_spin"),
        ("exact size >= 100x faster than serialize at 64 MiB", ipc64["serialize_us"] / ipc64["exact_us"] >= 100,
         f"{ipc64['serialize_us'] / ipc64['exact_us']:.0f}x", None),
        (f"8 subscribers >= 0.8x one at every size ({deep}-table ring)",
         min(fan[(8, s)] / fan[(1, s)] for s in fan_sizes) >= 0.8,
         ", ".join(f"{size_label(s)} {fan[(8, s)] / fan[(1, s)]:.2f}x{fan_bound(s)}" for s in fan_sizes)
         + " (4-table ring: " + ", ".join(f"{size_label(s)} {shallow[(8, s)] / shallow[(1, s)]:.2f}x" for s in fan_sizes
                                          if (8, s) in shallow and (1, s) in shallow) + ")", "fanout"),
    ]
    targets += floor_and_peer_targets(by, lat, result.get("python_per_table"))
    targets += loan_targets(result)
    targets += flight_bridge_targets(result)
    targets += kept_tables_targets(result)
    targets += first_lap_targets(result)
    lines += ["", "## Targets", "", "| target | measured | |", "|---|---|---|"]
    for name, met, measured, why in targets:
        verdict = "not measured" if met is None else "met" if met else "missed: " + TARGETS_WHY.get(why, "")
        lines.append(f"| {name} | {measured} | {verdict} |")
    lines += ["", "Plots: `throughput.png` (GB/s against table size, log-log), `latency.png` (latency distributions)."]
    return "\n".join(lines) + "\n"
