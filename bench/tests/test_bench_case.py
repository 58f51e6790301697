"""arrowring-bench-case: every kind runs and reports the JSON keys bench/run.py reads."""
import json

import pytest


@pytest.mark.parametrize("args,keys", [
    (["--kind", "memcpy", "--size", "65536", "--min-seconds", "0.01"], {"contender", "size_bytes", "gbps"}),
    (["--kind", "throughput", "--size", "65536", "--count", "20"], {"contender", "gbps", "tables_per_s"}),
    (["--kind", "fanout", "--size", "65536", "--count", "10", "--subscribers", "2"], {"gbps", "subscribers"}),
    (["--kind", "latency", "--payload", "64B", "--wait", "block", "--count", "50"], {"p50_us", "p99_us", "p999_us", "msgs_per_s"}),
    (["--kind", "latency", "--payload", "1-row-table", "--wait", "spin", "--count", "50"], {"p50_us", "samples_us"}),
    (["--kind", "ipc-size", "--size", "4096", "--count", "2"], {"exact_us", "serialize_us"}),
    (["--kind", "rss", "--size", "65536", "--count", "2"], {"consumer_peak_rss_bytes"}),
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
