"""The suite: every contender at every size, interleaved repetition by repetition, then the
latency, IPC sizing, fan-out, loan, kept-tables, Flight and RSS sections; medians of the
repetitions, as the dict that latest.json holds (and the latency samples, for the plots)."""
from __future__ import annotations

import datetime
import os
import platform
import statistics
import sys

import pyarrow as pa
import zmq

import arrowring as ar

from contenders import NOT_INSTALLED, PEER_MODULES, PYTHON_CASES, peer_installed
from contenders.iceoryx2_python import case_iceoryx2_latency
from contenders.ray_object_store import RAY
from contenders.zeromq_ipc import case_zeromq_ipc, case_zeromq_latency
import python_per_table
from harness import KiB, MiB, count_for, cpp_case, ring_capacity_for
from plan import (FANOUT_RING_TABLES, FIRST_LAP_SIZES, FLIGHT_CONTENDERS, FLIGHT_LATENCY_SIZES, FLIGHT_SIZES,
                  FRAMEWORK_CONTENDERS, FRAMEWORK_SIZES, KEEPING_CASES, LOAN_COMMIT_SIZES, SIZES,
                  THROUGHPUT_CONTENDERS)


def machine() -> dict:
    info = {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
            "pyarrow": pa.__version__, "arrowring": ar.__version__, "zmq": zmq.zmq_version()}
    for contender, module in PEER_MODULES.items():
        try:
            import importlib.metadata
            info[module] = importlib.metadata.version(module)
        except Exception:  # noqa: BLE001 - a missing peer is reported, not fatal
            info[module] = NOT_INSTALLED
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        info["memory_bytes"] = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (OSError, ValueError):
        pass
    return info


def median_of(rows: list, key: str) -> float:
    return statistics.median(row[key] for row in rows)


def timed_python_case(contender: str, size: int, count: int, min_seconds: float) -> dict:
    """A Python contender's run of ``count`` tables, run again with more when it was shorter
    than ``min_seconds`` (one rule for every contender: as many tables as fill ``min_seconds``
    at the rate it just measured, at most 50x)."""
    row = PYTHON_CASES[contender](size, count)
    elapsed = count / row["tables_per_s"] if row.get("tables_per_s") else min_seconds
    if elapsed < min_seconds:
        row = PYTHON_CASES[contender](size, min(50 * count, int(count * 1.2 * min_seconds / elapsed)))
    return row


def run(quick: bool) -> dict:
    reps = 2 if quick else 5
    # Bytes moved per case: enough for the fast contenders to run for a meaningful time; the
    # Python ones get less so that the slowest (pickle, ~0.4 GB/s) stays around a second.
    cpp_budget = 1024 * MiB if quick else 4096 * MiB
    budget = 192 * MiB if quick else 1024 * MiB
    cap = 1000 if quick else 5000
    latency_count = 2000 if quick else 20000
    steps, done = [], 0

    def progress(what):
        nonlocal done
        done += 1
        print(f"[{done:3d}] {what}", file=sys.stderr, flush=True)

    # The Python contenders' runs last at least this long: a run of 1,000 small tables takes
    # 20 ms, and the consumer's start and its "done" through a multiprocessing queue (fixed
    # costs of a few ms) would be a quarter of it.
    min_seconds = 0.1 if quick else 0.3

    # Throughput: every contender at every size, interleaved per repetition. A peer that is not
    # installed, or fails, is recorded as such and the run goes on.
    raw_rows: dict = {}
    unavailable: dict = {c: NOT_INSTALLED for c in THROUGHPUT_CONTENDERS if not peer_installed(c)}
    try:
        for rep in range(reps):
            for size in SIZES:
                count = count_for(size, budget, cap)
                cpp_count = count_for(size, cpp_budget, 20 * cap)
                for contender in THROUGHPUT_CONTENDERS:
                    if contender in unavailable:
                        continue
                    if contender == "memcpy":
                        row = cpp_case("--kind", "memcpy", "--size", size, "--min-seconds", min_seconds)
                        row["tables_per_s"] = row["gbps"] * 1e9 / size
                    elif contender in ("memcpy-cold", "stream-cold"):
                        row = cpp_case("--kind", contender, "--size", size, "--target-bytes", ring_capacity_for(size),
                                       "--min-seconds", min_seconds)
                        row["tables_per_s"] = row["gbps"] * 1e9 / size
                    elif contender == "arrowring-cpp":
                        row = cpp_case("--kind", "throughput", "--size", size, "--count", cpp_count)
                    elif contender in PEER_MODULES:
                        try:
                            row = timed_python_case(contender, size, count, min_seconds)
                        except Exception as error:  # noqa: BLE001 - one peer failing must not end the run
                            unavailable[contender] = f"failed: {type(error).__name__}: {str(error)[:120]}"
                            progress(f"rep {rep + 1}/{reps} {contender} {size} B {unavailable[contender]}")
                            continue
                    else:
                        row = timed_python_case(contender, size, count, min_seconds)
                    raw_rows.setdefault((contender, size), []).append(row)
                    progress(f"rep {rep + 1}/{reps} {contender} {size} B")
                row = cpp_case("--kind", "throughput", "--size", size, "--count", cpp_count, "--checksum")
                raw_rows.setdefault(("arrowring-cpp-checksum", size), []).append(row)
                progress(f"rep {rep + 1}/{reps} arrowring-cpp checksum {size} B")
    finally:
        RAY.shutdown()

    # The framework's message path, interleaved too.
    framework_rows: dict = {}
    for rep in range(reps):
        for size in FRAMEWORK_SIZES:
            for contender in FRAMEWORK_CONTENDERS:
                row = PYTHON_CASES[contender](size, count_for(size, budget, cap))
                framework_rows.setdefault((contender, size), []).append(row)
                progress(f"rep {rep + 1}/{reps} framework path {contender} {size} B")

    def summarize(contender, size, rows_by=raw_rows):
        if contender in unavailable:
            return {"contender": contender, "size_bytes": size, "gbps": None, "tables_per_s": None,
                    "status": unavailable[contender]}
        rows = rows_by[(contender, size)]
        return {"contender": contender, "size_bytes": size, "gbps": round(median_of(rows, "gbps"), 4),
                "tables_per_s": round(median_of(rows, "tables_per_s"), 1)}

    result = {"suite": "quick" if quick else "full", "machine": machine(),
              "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
              "repetitions": reps,
              "throughput": [summarize(c, s) for c in THROUGHPUT_CONTENDERS for s in SIZES],
              "throughput_checksum": [dict(summarize("arrowring-cpp-checksum", s), contender="arrowring-cpp") for s in SIZES],
              "framework_path": [summarize(c, s, framework_rows) for c in FRAMEWORK_CONTENDERS for s in FRAMEWORK_SIZES]}

    # What a small table costs each side of arrowring-python in one process, no hand-off: the
    # bound of the forked pair's rate at 1 KiB.
    per_table_rows = []
    for rep in range(reps):
        per_table_rows.append(python_per_table.measure(KiB))
        progress(f"rep {rep + 1}/{reps} python per table 1 KiB")
    result["python_per_table"] = {key: round(median_of(per_table_rows, key), 3)
                                  for key in ("publish_us", "next_us", "consume_us")}

    # Latency, interleaved too.
    latency_rows: dict = {}
    latency_unavailable: dict = {} if peer_installed("iceoryx2-python") else {"iceoryx2": NOT_INSTALLED}
    for rep in range(reps):
        for kind in ("floor-futex", "floor-spin"):  # The machine's floors, in the same run.
            row = cpp_case("--kind", kind, "--count", latency_count)
            latency_rows.setdefault((row["contender"], row["payload"]), []).append(row)
            progress(f"rep {rep + 1}/{reps} latency {kind}")
        for payload in ("1-row-table", "64B"):
            for wait in ("block", "adaptive", "spin"):  # futex at once; the default policy; polling
                row = cpp_case("--kind", "latency", "--payload", payload, "--wait", wait, "--count", latency_count)
                latency_rows.setdefault((row["contender"], payload), []).append(row)
                progress(f"rep {rep + 1}/{reps} latency {row['contender']} {payload}")
            row = case_zeromq_latency(payload == "64B", latency_count // 4 if quick else latency_count)
            latency_rows.setdefault(("zeromq-ipc", payload), []).append(row)
            progress(f"rep {rep + 1}/{reps} latency zeromq-ipc {payload}")
            for wait in ("poll", "event"):  # The peer with a latency path of its own: iceoryx2.
                if "iceoryx2" in latency_unavailable:
                    break
                try:
                    row = case_iceoryx2_latency(payload == "64B", wait, latency_count // 4 if quick else latency_count)
                except Exception as error:  # noqa: BLE001 - one peer failing must not end the run
                    latency_unavailable["iceoryx2"] = f"failed: {type(error).__name__}: {str(error)[:120]}"
                    progress(f"rep {rep + 1}/{reps} latency iceoryx2 {latency_unavailable['iceoryx2']}")
                    break
                latency_rows.setdefault((row["contender"], payload), []).append(row)
                progress(f"rep {rep + 1}/{reps} latency {row['contender']} {payload}")
    result["latency"] = []
    result["latency_unavailable"] = latency_unavailable
    samples = {}
    for (contender, payload), rows in latency_rows.items():
        if "iceoryx2" in latency_unavailable and contender.startswith("iceoryx2"):
            continue  # failed in a later repetition: not reported from fewer repetitions
        result["latency"].append({"contender": contender, "payload": payload,
                                  **{k: round(median_of(rows, k), 3) for k in ("p50_us", "p99_us", "p999_us", "msgs_per_s")}})
        samples[f"{contender} {payload}"] = rows[-1]["samples_us"]

    # Exact IPC size against serialize-to-measure.
    result["ipc_size"] = []
    for size in (KiB, 16 * KiB, 256 * KiB, 4 * MiB, 64 * MiB, 256 * MiB):
        row = cpp_case("--kind", "ipc-size", "--size", size, "--count", 2 if size >= 64 * MiB else 5)
        result["ipc_size"].append(row)
        progress(f"ipc size {size} B")

    # Fan-out: publisher throughput with 1, 2, 4, 8 subscribers, at 16 MiB and at 1 MiB tables,
    # through rings of FANOUT_RING_TABLES tables and of 4 (where the slowest of 8 consumers'
    # wake-ups, not the CPU, bounds the producer), with the CPU time per table of each side.
    result["fanout"] = []
    for ring_tables in (FANOUT_RING_TABLES, 4):
        for size in (16 * MiB, MiB):
            for subscribers in (1, 2, 4, 8):
                rows = [cpp_case("--kind", "fanout", "--size", size, "--count", count_for(size, cpp_budget, 20 * cap),
                                 "--subscribers", subscribers, "--ring-tables", ring_tables) for _ in range(reps)]
                result["fanout"].append({
                    "subscribers": subscribers, "size_bytes": size, "ring_tables": ring_tables,
                    "gbps": round(median_of(rows, "gbps"), 4),
                    "producer_cpu_us": round(median_of(rows, "producer_cpu_us"), 2),
                    "consumer_cpu_us": round(median_of(rows, "consumer_cpu_us"), 2),
                    "cpus": rows[0]["cpus"]})
                progress(f"fan-out {subscribers} x {size} B, {ring_tables}-table ring")

    # Loaned vs copying producer: both generate the same values each table, one into
    # a loan in ring memory, the other into its own table that Publish then copies; end to end
    # to a consumer process, interleaved per repetition. Then Commit() alone.
    loan_rows: dict = {}
    for rep in range(reps):
        for size in SIZES:
            for kind in ("loan-throughput", "copy-throughput"):
                row = cpp_case("--kind", kind, "--size", size, "--count", count_for(size, cpp_budget, 20 * cap))
                loan_rows.setdefault((kind, size), []).append(row)
                progress(f"rep {rep + 1}/{reps} {kind} {size} B")
    result["loan"] = [{"size_bytes": size,
                       "loaned_gbps": round(median_of(loan_rows[("loan-throughput", size)], "gbps"), 4),
                       "copying_gbps": round(median_of(loan_rows[("copy-throughput", size)], "gbps"), 4)}
                      for size in SIZES]
    # Commit() right after the table was filled (what a producer sees: the fill has evicted the
    # caches) and without a fill in between (Commit's own work).
    result["loan_commit"] = []
    for size in LOAN_COMMIT_SIZES:
        rows = {kind: [cpp_case("--kind", kind, "--size", size, "--count", 5 if size >= 64 * MiB else 20)
                       for _ in range(reps)] for kind in ("loan-commit", "loan-commit-nofill")}
        filled, alone = rows["loan-commit"], rows["loan-commit-nofill"]
        result["loan_commit"].append({"size_bytes": size, "loan_us": round(median_of(alone, "loan_us"), 3),
                                      "commit_us": round(median_of(filled, "commit_us"), 3),
                                      "commit_max_us": round(max(r["commit_max_us"] for r in filled), 3),
                                      "commit_nofill_us": round(median_of(alone, "commit_us"), 3)})
        progress(f"loan-commit {size} B")

    # Tables readers keep: the producer's rate while one subscriber keeps the latest table of 5
    # tags (one table in 50) and another every 10th of the first 200, against the same ring with
    # nothing kept (a failed publish ends the case with an error); and 1 MiB tables through a
    # 256 MiB ring against a 4 MiB one (warm writes). Interleaved per repetition.
    keep_rows: dict = {}
    for rep in range(reps):
        for label, args in KEEPING_CASES.items():
            row = cpp_case("--kind", "throughput", "--size", MiB, "--count", count_for(MiB, cpp_budget, 20 * cap), *args)
            keep_rows.setdefault(label, []).append(row)
            progress(f"rep {rep + 1}/{reps} kept tables: {label}")
    result["keeping"] = [{"case": label, "gbps": round(median_of(rows, "gbps"), 4),
                          "tables_per_s": round(median_of(rows, "tables_per_s"), 1)} for label, rows in keep_rows.items()]

    # The first lap through a fresh ring: the first publish against the same publish once every
    # page is mapped, with and without prefaulting (whose cost moves to create). Interleaved.
    lap_size = FIRST_LAP_SIZES["quick" if quick else "full"]
    lap_rows: dict = {}
    for rep in range(reps):
        for prefault in (False, True):
            row = cpp_case("--kind", "first-lap", "--size", lap_size, *(["--prefault"] if prefault else []))
            lap_rows.setdefault(prefault, []).append(row)
            progress(f"rep {rep + 1}/{reps} first lap, prefault {prefault}")
    result["first_lap"] = [{"size_bytes": lap_size, "prefault": prefault,
                            "create_s": round(median_of(rows, "create_s"), 4),
                            "first_gbps": round(median_of(rows, "first_gbps"), 3),
                            "steady_gbps": round(median_of(rows, "steady_gbps"), 3)} for prefault, rows in lap_rows.items()]

    # Rings across machines, over loopback; interleaved per repetition. A build
    # without the bridge (ARROWRING_BUILD_BRIDGE=OFF) reports the Flight rows as not built.
    flight_rows: dict = {}
    flight_unavailable = None
    flight_budget = 256 * MiB if quick else 1024 * MiB
    for rep in range(reps):
        for size in FLIGHT_SIZES:
            count = count_for(size, flight_budget, 4 * cap)
            for contender in FLIGHT_CONTENDERS:
                if contender == "zeromq-ipc":
                    row = case_zeromq_ipc(size, count)
                elif flight_unavailable:
                    continue
                else:
                    try:
                        row = cpp_case("--kind", contender, "--size", size, "--count", count)
                    except RuntimeError as error:
                        if "built without the Flight bridge" not in str(error):
                            raise
                        flight_unavailable = "not built (ARROWRING_BUILD_BRIDGE=OFF)"
                        continue
                flight_rows.setdefault((contender, size), []).append(row)
                progress(f"rep {rep + 1}/{reps} {contender} {size} B")
    result["flight"] = [] if flight_unavailable else [
        {"size_bytes": size, **{f"{c}_{k}": round(median_of(flight_rows[(c, size)], k), 4 if k == "gbps" else 1)
                                for c in FLIGHT_CONTENDERS for k in ("gbps", "tables_per_s")}}
        for size in FLIGHT_SIZES]
    result["flight_unavailable"] = flight_unavailable
    # What the bridge adds to one table's trip: one table at a time, bridged and through one ring.
    result["flight_latency"] = []
    if not flight_unavailable:
        for size in FLIGHT_LATENCY_SIZES:
            rows = [cpp_case("--kind", "flight-latency", "--size", size, "--count", 100 if quick else 500)
                    for _ in range(reps)]
            result["flight_latency"].append({"size_bytes": size, **{k: round(median_of(rows, k), 1) for k in (
                "bridge_p50_us", "bridge_p99_us", "local_p50_us", "local_p99_us")}})
            progress(f"flight-latency {size} B")

    # Consumer peak RSS against message size.
    result["rss"] = []
    for size in SIZES:
        result["rss"].append(cpp_case("--kind", "rss", "--size", size, "--count", 8))
        progress(f"rss {size} B")
    return result, samples
