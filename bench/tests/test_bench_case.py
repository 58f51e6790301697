"""arrowring-bench-case: every kind runs and reports the JSON keys bench/run.py reads."""
import json

import pytest


@pytest.mark.parametrize("args,keys", [
    (["--kind", "memcpy", "--size", "65536", "--min-seconds", "0.01"], {"contender", "size_bytes", "gbps"}),
    (["--kind", "memcpy-cold", "--size", "65536", "--min-seconds", "0.01"], {"contender", "gbps", "target_bytes", "llc_bytes"}),
    (["--kind", "floor-futex", "--count", "200"], {"contender", "p50_us", "p99_us", "p999_us", "msgs_per_s", "samples_us"}),
    (["--kind", "floor-spin", "--count", "200"], {"contender", "p50_us", "p99_us", "p999_us", "msgs_per_s", "samples_us"}),
    (["--kind", "throughput", "--size", "65536", "--count", "20"], {"contender", "gbps", "tables_per_s"}),
    (["--kind", "fanout", "--size", "65536", "--count", "10", "--subscribers", "2"], {"gbps", "subscribers"}),
    (["--kind", "latency", "--payload", "64B", "--wait", "block", "--count", "50"], {"p50_us", "p99_us", "p999_us", "msgs_per_s"}),
    (["--kind", "latency", "--payload", "1-row-table", "--wait", "spin", "--count", "50"], {"p50_us", "samples_us"}),
    (["--kind", "latency", "--payload", "1-row-table", "--wait", "adaptive", "--count", "50"], {"p50_us", "samples_us"}),
    (["--kind", "ipc-size", "--size", "4096", "--count", "2"], {"exact_us", "serialize_us"}),
    (["--kind", "rss", "--size", "65536", "--count", "2"], {"consumer_peak_rss_bytes"}),
    (["--kind", "stream-cold", "--size", "65536", "--min-seconds", "0.01"], {"contender", "gbps", "target_bytes"}),
    (["--kind", "first-lap", "--size", "1048576"], {"size_bytes", "create_s", "first_gbps", "steady_gbps"}),
    (["--kind", "first-lap", "--size", "1048576", "--prefault"], {"size_bytes", "create_s", "first_gbps", "steady_gbps"}),
    (["--kind", "throughput", "--size", "65536", "--count", "20", "--retain"], {"contender", "gbps", "tables_per_s"}),
    (["--kind", "flight-bridge", "--size", "65536", "--count", "20"], {"contender", "gbps", "tables_per_s"}),
    (["--kind", "flight-plain", "--size", "65536", "--count", "20"], {"contender", "gbps", "tables_per_s"}),
    (["--kind", "flight-latency", "--size", "65536", "--count", "20"], {"bridge_p50_us", "bridge_p99_us", "local_p50_us"}),
])
def test_bench_cases_run_and_report_json(bench_case, args, keys):
    result = bench_case(*args)
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert keys <= set(row)
    assert all(row[k] > 0 for k in keys if isinstance(row[k], (int, float)))


def test_an_unknown_kind_is_a_usage_error(bench_case):
    result = bench_case("--kind", "warp-speed")
    assert result.returncode == 2 and "unknown --kind" in result.stderr


def test_an_unknown_wait_is_a_usage_error(bench_case):
    result = bench_case("--kind", "latency", "--wait", "doze")
    assert result.returncode == 2 and "unknown --wait" in result.stderr


def test_cold_memcpy_cycles_through_a_target_larger_than_the_last_level_cache(bench_case):
    row = json.loads(bench_case("--kind", "memcpy-cold", "--size", "4096", "--target-bytes", "1048576",
                                "--min-seconds", "0.01").stdout)
    assert row["contender"] == "memcpy-cold" and row["size_bytes"] == 4096
    assert row["target_bytes"] >= 4 * row["llc_bytes"] > 0  # raised: a 1 MiB target would stay in cache


@pytest.mark.parametrize("kind", ["floor-futex", "floor-spin"])
def test_handoff_floors_report_one_sample_per_message(bench_case, kind):
    row = json.loads(bench_case("--kind", kind, "--count", "300").stdout)
    assert row["contender"] == kind and row["payload"] == "8B"
    assert len(row["samples_us"]) == 300 and all(s >= 0 for s in row["samples_us"])
    assert row["p50_us"] <= row["p99_us"] <= row["p999_us"]


def test_a_floor_needs_two_messages(bench_case):
    result = bench_case("--kind", "floor-futex", "--count", "1")
    assert result.returncode == 1 and "count" in result.stderr
