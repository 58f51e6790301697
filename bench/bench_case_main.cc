// arrowring-bench-case: runs one benchmark case and prints it as a JSON line; bench/run.py
// (`make bench`) runs every case this way, interleaved with the Python contenders.
#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "bench_cases.h"
#include "flight_cases.h"
#include "floor_cases.h"

namespace {

constexpr int kExitFailure = 1, kExitUsage = 2;

struct CaseArgs {
  std::string kind, payload = "1-row-table", wait = "adaptive";
  int64_t size = 1 << 20, count = 100, target_bytes = 0;
  bool checksum = false;
  int subscribers = 1;
  int ring_tables = 4;
  double min_seconds = 0.2;
  int64_t warm_bytes = -1;  // -1: the library's default
  bool retain = false;
  bool prefault = false;
  std::vector<std::string> keep;
};

int Fail(int code, const std::string& message) {
  std::cerr << "arrowring-bench-case: " << message << "\n";
  return code;
}

std::string Json(const arrowring::bench::Latency& l, const std::string& contender, const char* payload) {
  std::ostringstream out;
  out << "{\"contender\": \"" << contender << "\", \"payload\": \"" << payload << "\", \"p50_us\": " << l.p50_us
      << ", \"p99_us\": " << l.p99_us << ", \"p999_us\": " << l.p999_us << ", \"msgs_per_s\": " << l.msgs_per_s
      << ", \"samples_us\": [";
  for (size_t i = 0; i < l.samples_us.size(); ++i) out << (i ? ", " : "") << l.samples_us[i];
  out << "]}";
  return out.str();
}

int Run(const CaseArgs& a) {
  namespace bench = arrowring::bench;
  if (a.size <= 0 || a.count <= 0) return Fail(kExitUsage, "--size and --count must be positive");
  if (a.kind == "memcpy") {
    std::printf("{\"contender\": \"memcpy\", \"size_bytes\": %lld, \"gbps\": %.4f}\n", static_cast<long long>(a.size),
                bench::MeasureMemcpy(a.size, a.min_seconds));
    return 0;
  }
  if (a.kind == "memcpy-cold" || a.kind == "stream-cold") {
    int64_t target = 0;
    const bool streaming = a.kind == "stream-cold";
    const double gbps = bench::MeasureColdMemcpy(a.size, a.target_bytes, a.min_seconds, &target, streaming);
    if (gbps <= 0) return Fail(kExitFailure, "could not map the target");
    std::printf(
        "{\"contender\": \"%s\", \"size_bytes\": %lld, \"gbps\": %.4f, \"target_bytes\": %lld, "
        "\"llc_bytes\": %lld}\n",
        a.kind.c_str(), static_cast<long long>(a.size), gbps, static_cast<long long>(target),
        static_cast<long long>(bench::LastLevelCacheBytes()));
    return 0;
  }
  if (a.kind == "floor-futex" || a.kind == "floor-spin") {
    const bool spin = a.kind == "floor-spin";
    auto l = bench::MeasureHandoffFloor(spin, a.count);
    if (!l.ok()) return Fail(kExitFailure, l.status().ToString());
    std::printf("%s\n", Json(*l, spin ? "floor-spin" : "floor-futex", "8B").c_str());
    return 0;
  }
  arrowring::SpinPolicy wait;
  if (a.wait == "block") {
    wait = arrowring::SpinPolicy::None();
  } else if (a.wait == "spin") {
    wait = {arrowring::kMaxSpinLimit, /*adaptive=*/false};
  } else if (a.wait == "adaptive") {
    wait = arrowring::SpinPolicy::Default();
  } else {
    return Fail(kExitUsage, "unknown --wait '" + a.wait + "': block, spin or adaptive");
  }
  if (a.kind == "throughput" || a.kind == "fanout") {
    for (const std::string& how : a.keep) {
      if (how != "none" && how != "per-tag" && how != "first-200") {
        return Fail(kExitUsage, "unknown --keep '" + how + "': none, per-tag or first-200");
      }
    }
    const uint64_t warm = a.warm_bytes < 0 ? arrowring::RingOptions::kWarmDefault : static_cast<uint64_t>(a.warm_bytes);
    auto t = bench::MeasureThroughput(a.size, a.count, a.checksum, a.subscribers, a.ring_tables, wait, warm, a.keep,
                                      a.retain);
    if (!t.ok()) return Fail(kExitFailure, t.status().ToString());
    std::printf(
        "{\"contender\": \"arrowring-cpp\", \"size_bytes\": %lld, \"gbps\": %.4f, \"tables_per_s\": %.1f, "
        "\"subscribers\": %d, \"ring_tables\": %d, \"warm_bytes\": %lld, \"writer_lap_bytes\": %llu, "
        "\"messages_kept\": %llu, \"producer_cpu_us\": %.2f, \"consumer_cpu_us\": %.2f, \"cpus\": %ld}\n",
        static_cast<long long>(t->table_bytes), t->gbps(), t->tables_per_s(), a.subscribers, a.ring_tables,
        static_cast<long long>(a.warm_bytes), static_cast<unsigned long long>(t->writer_lap_bytes),
        static_cast<unsigned long long>(t->messages_kept), t->producer_cpu_us, t->consumer_cpu_us,
        sysconf(_SC_NPROCESSORS_ONLN));
    return 0;
  }
  if (a.kind == "loan-throughput" || a.kind == "copy-throughput") {
    const bool loaned = a.kind == "loan-throughput";
    auto t = bench::MeasureLoanThroughput(a.size, a.count, loaned);
    if (!t.ok()) return Fail(kExitFailure, t.status().ToString());
    std::printf("{\"contender\": \"%s\", \"size_bytes\": %lld, \"gbps\": %.4f, \"tables_per_s\": %.1f}\n",
                loaned ? "arrowring-loaned" : "arrowring-copying", static_cast<long long>(t->table_bytes), t->gbps(),
                t->tables_per_s());
    return 0;
  }
  if (a.kind == "flight-bridge" || a.kind == "flight-plain") {
    const bool bridged = a.kind == "flight-bridge";
    auto t = bridged ? bench::MeasureFlightBridge(a.size, a.count) : bench::MeasureFlightPlain(a.size, a.count);
    if (!t.ok()) {
      return Fail(t.status().IsNotImplemented() ? kExitUsage : kExitFailure, t.status().message());
    }
    std::printf("{\"contender\": \"%s\", \"size_bytes\": %lld, \"gbps\": %.4f, \"tables_per_s\": %.1f}\n",
                a.kind.c_str(), static_cast<long long>(t->table_bytes), t->gbps(), t->tables_per_s());
    return 0;
  }
  if (a.kind == "flight-latency") {
    auto l = bench::MeasureFlightLatency(a.size, a.count);
    if (!l.ok()) return Fail(l.status().IsNotImplemented() ? kExitUsage : kExitFailure, l.status().message());
    std::printf(
        "{\"size_bytes\": %lld, \"bridge_p50_us\": %.1f, \"bridge_p99_us\": %.1f, \"local_p50_us\": %.1f, "
        "\"local_p99_us\": %.1f}\n",
        static_cast<long long>(l->table_bytes), l->bridge_p50_us, l->bridge_p99_us, l->local_p50_us, l->local_p99_us);
    return 0;
  }
  if (a.kind == "loan-commit" || a.kind == "loan-commit-nofill") {
    auto c = bench::MeasureLoanCommit(a.size, static_cast<int>(a.count), a.kind == "loan-commit");
    if (!c.ok()) return Fail(kExitFailure, c.status().ToString());
    std::printf(
        "{\"size_bytes\": %lld, \"loan_us\": %.3f, \"commit_us\": %.3f, \"commit_max_us\": %.3f, \"filled\": %s}\n",
        static_cast<long long>(c->table_bytes), c->loan_us, c->commit_us, c->commit_max_us,
        a.kind == "loan-commit" ? "true" : "false");
    return 0;
  }
  if (a.kind == "first-lap") {
    auto lap = bench::MeasureFirstLap(a.size, a.prefault);
    if (!lap.ok()) return Fail(kExitFailure, lap.status().ToString());
    const double bytes = static_cast<double>(lap->table_bytes);
    std::printf(
        "{\"size_bytes\": %lld, \"prefault\": %s, \"create_s\": %.6f, \"first_gbps\": %.4f, "
        "\"steady_gbps\": %.4f}\n",
        static_cast<long long>(lap->table_bytes), a.prefault ? "true" : "false", lap->create_s,
        bytes / lap->first_s / 1e9, bytes / lap->steady_s / 1e9);
    return 0;
  }
  if (a.kind == "latency") {
    const bool raw = a.payload == "64B";
    auto l = bench::MeasureLatency(raw, wait, a.count);
    if (!l.ok()) return Fail(kExitFailure, l.status().ToString());
    const std::string contender = std::string(raw ? "arrowring-raw-" : "arrowring-cpp-") + a.wait;
    std::printf("%s\n", Json(*l, contender, raw ? "64B" : "1-row-table").c_str());
    return 0;
  }
  if (a.kind == "ipc-size") {
    auto s = bench::MeasureIpcSize(a.size, static_cast<int>(a.count));
    if (!s.ok()) return Fail(kExitFailure, s.status().ToString());
    std::printf("{\"size_bytes\": %lld, \"exact_us\": %.3f, \"serialize_us\": %.3f}\n", static_cast<long long>(a.size),
                s->exact_us, s->serialize_us);
    return 0;
  }
  if (a.kind == "rss") {
    auto rss = bench::MeasureConsumerPeakRss(a.size, a.count);
    if (!rss.ok()) return Fail(kExitFailure, rss.status().ToString());
    std::printf("{\"size_bytes\": %lld, \"consumer_peak_rss_bytes\": %lld}\n", static_cast<long long>(a.size),
                static_cast<long long>(*rss));
    return 0;
  }
  return Fail(
      kExitUsage,
      "unknown --kind '" + a.kind +
          "': memcpy, memcpy-cold, stream-cold, floor-futex, floor-spin, throughput, fanout, latency, "
          "ipc-size, rss, loan-throughput, copy-throughput, loan-commit, loan-commit-nofill, first-lap, flight-bridge, "
          "flight-plain or flight-latency");
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"One arrowring benchmark case as a JSON line (run by bench/run.py: use `make bench`)"};
  CaseArgs args;
  app.add_option(
         "--kind", args.kind,
         "memcpy, memcpy-cold, stream-cold, floor-futex, floor-spin, throughput, fanout, latency, ipc-size, rss, "
         "loan-throughput, copy-throughput, loan-commit, loan-commit-nofill, first-lap, flight-bridge (ring -> "
         "Flight over 127.0.0.1 -> ring), flight-plain (plain Flight DoGet from memory) or flight-latency "
         "(one table at a time, bridged and not)")
      ->required();
  app.add_option("--size", args.size, "Table size in bytes");
  app.add_option("--count", args.count, "Tables (or samples) to measure");
  app.add_flag("--checksum", args.checksum, "The consumer sums every byte");
  app.add_option("--subscribers", args.subscribers, "Subscribers (fanout)");
  app.add_option("--ring-tables", args.ring_tables, "Ring capacity in tables");
  app.add_flag("--prefault", args.prefault, "first-lap: create the ring with RingOptions::prefault");
  app.add_flag("--retain", args.retain, "throughput: a ring that retains by space (full by design: cold writes)");
  app.add_option("--warm-bytes", args.warm_bytes,
                 "throughput: the ring's warm window in bytes (0: off; default: the library's)");
  app.add_option("--keep", args.keep,
                 "throughput: what each subscriber keeps: none, per-tag (latest of 5 tags, "
                 "one in 50) or first-200 (every 10th of the first 200)")
      ->delimiter(',');
  app.add_option("--payload", args.payload, "latency: 1-row-table or 64B");
  app.add_option("--wait", args.wait,
                 "latency, throughput: how consumers wait: adaptive (the library default), block (futex at once) or "
                 "spin (poll up to 1 s)");
  app.add_option("--min-seconds", args.min_seconds, "memcpy, memcpy-cold, stream-cold: measure at least this long");
  app.add_option("--target-bytes", args.target_bytes,
                 "memcpy-cold, stream-cold: the target to cycle through (raised to at least 4x the last-level cache)");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error) == 0 ? 0 : kExitUsage;
  }
  return Run(args);
}
