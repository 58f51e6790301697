"""bench/report.py: floors, peers and ratios side by side, and a peer that is not installed."""
import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))
report = pytest.importorskip("report")
contenders = pytest.importorskip("contenders")
import plan  # noqa: E402
from harness import KiB, MiB  # noqa: E402


def fake_result(missing=()):
    def row(contender, size):
        if contender in missing:
            return {"contender": contender, "size_bytes": size, "gbps": None, "tables_per_s": None,
                    "status": contenders.NOT_INSTALLED}
        gbps = {"memcpy": 40.0, "memcpy-cold": 10.0}.get(contender, 2.0)
        return {"contender": contender, "size_bytes": size, "gbps": gbps, "tables_per_s": gbps * 1e9 / size}

    def latency(contender, payload, p50):
        return {"contender": contender, "payload": payload, "p50_us": p50, "p99_us": 2 * p50, "p999_us": 4 * p50,
                "msgs_per_s": 1e6 / p50}

    return {
        "suite": "quick", "date": "2026-11-24T00:00:00+00:00", "repetitions": 2,
        "machine": {"cpus": 2, "cpu": "test", "pyarrow": "26", "iceoryx2": contenders.NOT_INSTALLED, "ray": "2.60.0"},
        "throughput": [row(c, s) for c in plan.THROUGHPUT_CONTENDERS for s in plan.SIZES],
        "throughput_checksum": [row("arrowring-cpp", s) for s in plan.SIZES],
        "framework_path": [row(c, s) for c in plan.FRAMEWORK_CONTENDERS for s in plan.FRAMEWORK_SIZES],
        "latency": [latency("floor-futex", "8B", 20.0), latency("floor-spin", "8B", 0.1),
                    latency("arrowring-cpp-block", "1-row-table", 22.0), latency("arrowring-cpp-spin", "1-row-table", 1.0),
                    latency("arrowring-raw-block", "64B", 21.0), latency("arrowring-raw-spin", "64B", 0.4),
                    latency("zeromq-ipc", "1-row-table", 70.0), latency("zeromq-ipc", "64B", 40.0)],
        "ipc_size": [{"size_bytes": 64 * MiB, "exact_us": 2.0, "serialize_us": 9000.0}],
        "fanout": [{"subscribers": n, "size_bytes": s, "ring_tables": t, "gbps": 10.0 if t == plan.FANOUT_RING_TABLES else 2.0 / n,
                    "producer_cpu_us": 100.0, "consumer_cpu_us": 10.0, "cpus": 2}
                   for t in (plan.FANOUT_RING_TABLES, 4) for s in (16 * MiB, MiB) for n in (1, 2, 4, 8)],
        "rss": [{"size_bytes": s, "consumer_peak_rss_bytes": 10 * MiB} for s in plan.SIZES],
    }


def test_the_report_shows_floors_peers_and_ratios_side_by_side():
    text = report.report(fake_result())
    for contender in plan.THROUGHPUT_CONTENDERS + ["floor-futex", "floor-spin"]:
        assert contender in text
    assert "× floor" in text
    assert "| 1-row table, blocking: p50 <= 1.2x the futex floor | 22.0 us = 1.10x floor-futex (20.0 us) | met |" in text
    assert "0.20x" in text  # a contender at 2 GB/s over the 10 GB/s cold-memcpy floor
    assert "ahead of iceoryx2 at every size >= 64 KiB" in text and "ahead of Ray" in text


def test_a_peer_that_is_not_installed_is_reported_so_and_its_targets_not_measured():
    result = fake_result(missing=("iceoryx2-python", "iceoryx2-python-event"))
    result["latency_unavailable"] = {"iceoryx2": contenders.NOT_INSTALLED}
    text = report.report(result)
    assert "| iceoryx2 | — | not installed |" in text
    assert "not installed" in text
    assert "| ahead of iceoryx2 at every size >= 64 KiB | iceoryx2: not installed | not measured |" in text
    assert "| within 1.2x of iceoryx2 below 64 KiB | iceoryx2: not installed | not measured |" in text


def test_peers_are_optional_packages(monkeypatch):
    monkeypatch.setitem(contenders.PEER_MODULES, "ray-object-store", "no_such_module_for_arrowring_tests")
    assert not contenders.peer_installed("ray-object-store")
    assert contenders.peer_installed("arrowring-python")  # not a peer: always there


def test_the_peer_targets_hold_arrowring_against_the_best_variant_of_a_peer():
    result = fake_result()
    for row in result["throughput"]:
        if row["contender"] == "iceoryx2-python-event":
            row["gbps"] = 4.0  # twice arrowring-python's 2 GB/s
    text = report.report(result)
    assert "python / iceoryx2: 64 KiB 0.50x" in text and "python / iceoryx2: 1 KiB 0.50x" in text


def test_the_framework_row_shows_the_flows_own_ceiling_over_the_seed():
    result = fake_result()
    for row in result["framework_path"]:
        if row["contender"] == "framework-flow-floor":
            row["tables_per_s"] *= 1.5  # the flow alone runs 1.5x as many tables as the seed moves
    text = report.report(result)
    assert "framework-flow-floor" in text
    assert "| 1024 KiB | 2.000 | 2.000 | 1907 | 2861 | 1.0x | 1.5x |" in text
    assert "1.0x, 1.0x (the flow's own ceiling: 1.5x, 1.5x)" in text


def test_loan_rows_and_their_targets_are_reported_when_measured():
    result = fake_result()
    assert "Loaned vs copying" not in report.report(result)  # results from before loans still render
    result["loan"] = [{"size_bytes": s, "loaned_gbps": 6.0 if s >= MiB else 2.0, "copying_gbps": 3.0}
                      for s in plan.SIZES]
    result["loan_commit"] = [{"size_bytes": s, "loan_us": 3.0, "commit_us": 4.0 if s < 256 * MiB else 25.0,
                              "commit_max_us": 30.0, "commit_nofill_us": 1.5} for s in plan.LOAN_COMMIT_SIZES]
    text = report.report(result)
    assert "| 1 MiB | 6.00 | 3.00 | 2.00x |" in text and "| 1 KiB | 2.00 | 3.00 | 0.67x |" in text
    assert "| 128 MiB | 3.00 | 4.00 | 30.00 | 1.50 |" in text
    assert "| loaned >= 1.5x copying at >= 1 MiB (values generated) | 1 MiB 2.00x, 16 MiB 2.00x, 128 MiB 2.00x | met |" in text
    assert ("| Commit() of a loan <= 20 us, flat from 64 KiB to 256 MiB | after the fill: 128 MiB 4.0 us, slowest "
            "size 25.0 us; no fill between: at most 1.5 us | missed: Commit() writes only the framing") in text


def test_the_flight_rows_show_the_ratios_and_the_added_time_per_table():
    result = fake_result()
    result["flight"] = [{"size_bytes": s, "flight-bridge_gbps": 0.9, "flight-bridge_tables_per_s": 0.9e9 / s,
                         "flight-plain_gbps": 1.0, "flight-plain_tables_per_s": 1e9 / s,
                         "zeromq-ipc_gbps": 0.1, "zeromq-ipc_tables_per_s": 1e8 / s} for s in plan.FLIGHT_SIZES]
    text = report.report(result)
    assert "| 1 MiB | 0.900 | 1.000 | 0.100 | 0.90x | 9.00x |" in text
    assert "| bridge >= 0.8x plain Flight at >= 1 MiB | 1 MiB 0.90x, 16 MiB 0.90x, 64 MiB 0.90x | met |" in text
    assert "| bridge >= 5x ZeroMQ | 64 KiB 9.00x" in text
    result["flight_latency"] = [{"size_bytes": 64 * KiB, "bridge_p50_us": 300.0, "bridge_p99_us": 900.0,
                                 "local_p50_us": 50.0, "local_p99_us": 80.0}]
    assert "| 64 KiB | 300 | 900 | 50 | 80 | 250 |" in report.report(result)


def test_a_build_without_the_bridge_reports_the_flight_rows_as_not_built():
    result = fake_result()
    result["flight"], result["flight_unavailable"] = [], "not built (ARROWRING_BUILD_BRIDGE=OFF)"
    text = report.report(result)
    assert "Rings across machines (Flight bridge): not built" in text
    assert "| bridge >= 0.8x plain Flight at >= 1 MiB | not built (ARROWRING_BUILD_BRIDGE=OFF) | not measured |" in text


def test_the_fan_out_target_is_judged_on_the_deep_ring_and_shows_the_shallow_one_and_the_cpu_bound():
    text = report.report(fake_result())
    target = next(line for line in text.splitlines() if line.startswith("| 8 subscribers >= 0.8x one"))
    assert f"({plan.FANOUT_RING_TABLES}-table ring)" in target and "| met |" in target
    assert "4-table ring: 16 MiB 0.12x, 1 MiB 0.12x" in target
    assert "1 MiB 1.00x (CPU bound 1.17x)" in target  # 11,111 tables/s of 1 MiB against 10 GB/s
    # 2 CPUs / (100 µs + 8 x 10 µs) = 11,111 tables/s; 10 GB/s of 1 MiB tables = 9,537/s.
    assert f"| {plan.FANOUT_RING_TABLES} tables | 1024 KiB | 10.00 | 10.00 | 10.00 | 10.00 | 1.00x | 100 / 10 | 9,537 / 11,111 |" in text


def test_the_python_small_table_target_shows_the_bound_of_each_sides_cost_in_one_process():
    result = fake_result()
    result["python_per_table"] = {"publish_us": 4.0, "next_us": 6.0, "consume_us": 14.0}
    text = report.report(result)
    # 2 GB/s of 1 KiB tables from C++ (fake_result): 1,953,125/s; the consumer's side, 20 us: 50,000/s.
    assert "publish 4.0 us, next 6.0 us, the consumer's own reading 14.0 us: at most 50,000/s = 3%" in text
    assert "at most" not in report.report(fake_result()).split("1 KiB tables: Python")[1].split("\n")[0]


def test_the_python_bound_is_the_slower_side():
    result = fake_result()
    result["python_per_table"] = {"publish_us": 40.0, "next_us": 6.0, "consume_us": 14.0}
    assert "at most 25,000/s" in report.report(result)  # the producer's 40 us, not the consumer's 20
