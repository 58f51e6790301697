// bench: the arrowring-only benchmarks with a progress bar; bench-case: one case as a JSON line
// (bench/run.py runs the full comparison against the alternatives through it).
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "bench_cases.h"
#include "cli_util.h"
#include "commands.h"

namespace arrowring::cli {
namespace {

constexpr int64_t kKiB = 1024, kMiB = 1024 * kKiB;

int64_t CountFor(int64_t bytes, int64_t budget) { return std::clamp<int64_t>(budget / bytes, 3, 2000); }

std::string Json(const bench::Throughput& t, const char* contender) {
  char text[256];
  std::snprintf(text, sizeof text, "{\"contender\": \"%s\", \"size_bytes\": %lld, \"gbps\": %.4f, \"tables_per_s\": %.1f}",
                contender, static_cast<long long>(t.table_bytes), t.gbps(), t.tables_per_s());
  return text;
}

std::string Json(const bench::Latency& l, const std::string& contender, const char* payload, bool samples) {
  std::ostringstream out;
  out << "{\"contender\": \"" << contender << "\", \"payload\": \"" << payload << "\", \"p50_us\": " << l.p50_us
      << ", \"p99_us\": " << l.p99_us << ", \"p999_us\": " << l.p999_us << ", \"msgs_per_s\": " << l.msgs_per_s;
  if (samples) {
    out << ", \"samples_us\": [";
    for (size_t i = 0; i < l.samples_us.size(); ++i) out << (i ? ", " : "") << l.samples_us[i];
    out << "]";
  }
  out << "}";
  return out.str();
}

void Progress(int done, int total, const std::string& what) {
  if (!isatty(STDERR_FILENO)) return;
  const int width = 30, filled = total ? done * width / total : width;
  std::fprintf(stderr, "\r[%s%s] %d/%d %-40s", std::string(static_cast<size_t>(filled), '#').c_str(),
               std::string(static_cast<size_t>(width - filled), '.').c_str(), done, total, what.c_str());
  if (done == total) std::fprintf(stderr, "\n");
  std::fflush(stderr);
}

}  // namespace

int RunBenchCase(const BenchCaseArgs& a) {
  if (a.size <= 0 || a.count <= 0) return Fail("bench-case", Errc::kInvalidArgument, "--size and --count must be positive");
  if (a.kind == "memcpy") {
    std::printf("{\"contender\": \"memcpy\", \"size_bytes\": %lld, \"gbps\": %.4f}\n", static_cast<long long>(a.size),
                bench::MeasureMemcpy(a.size, a.min_seconds));
    return kExitOk;
  }
  if (a.kind == "throughput" || a.kind == "fanout") {
    auto t = bench::MeasureThroughput(a.size, a.count, a.checksum, a.subscribers, a.ring_tables);
    if (!t.ok()) return Fail("bench-case", t.status());
    std::string line = Json(*t, "arrowring-cpp");
    line.insert(line.size() - 1, ", \"subscribers\": " + std::to_string(a.subscribers));
    std::printf("%s\n", line.c_str());
    return kExitOk;
  }
  if (a.kind == "latency") {
    const bool raw = a.payload == "64B", spin = a.wait == "spin";
    auto l = bench::MeasureLatency(raw, spin, a.count);
    if (!l.ok()) return Fail("bench-case", l.status());
    const std::string contender = std::string(raw ? "arrowring-raw-" : "arrowring-cpp-") + (spin ? "spin" : "block");
    std::printf("%s\n", Json(*l, contender, raw ? "64B" : "1-row-table", true).c_str());
    return kExitOk;
  }
  if (a.kind == "ipc-size") {
    auto s = bench::MeasureIpcSize(a.size, static_cast<int>(a.count));
    if (!s.ok()) return Fail("bench-case", s.status());
    std::printf("{\"size_bytes\": %lld, \"exact_us\": %.3f, \"serialize_us\": %.3f}\n", static_cast<long long>(a.size),
                s->exact_us, s->serialize_us);
    return kExitOk;
  }
  if (a.kind == "rss") {
    auto rss = bench::MeasureConsumerPeakRss(a.size, a.count);
    if (!rss.ok()) return Fail("bench-case", rss.status());
    std::printf("{\"size_bytes\": %lld, \"consumer_peak_rss_bytes\": %lld}\n", static_cast<long long>(a.size),
                static_cast<long long>(*rss));
    return kExitOk;
  }
  return Fail("bench-case", Errc::kInvalidArgument,
              "unknown --kind '" + a.kind + "': memcpy, throughput, fanout, latency, ipc-size or rss");
}

int RunBench(const BenchArgs& args) {
  const std::vector<int64_t> sizes = {kKiB, 64 * kKiB, kMiB, 16 * kMiB, 128 * kMiB};
  const int64_t budget = args.quick ? 256 * kMiB : 2048 * kMiB;
  const int64_t latency_count = args.quick ? 2000 : 20000;
  std::vector<std::function<std::string()>> steps;
  std::vector<std::string> names;
  for (int64_t size : sizes) {
    names.push_back("memcpy " + HumanBytes(static_cast<double>(size)));
    steps.push_back([=] {
      return "{\"contender\": \"memcpy\", \"size_bytes\": " + std::to_string(size) +
             ", \"gbps\": " + std::to_string(bench::MeasureMemcpy(size, args.quick ? 0.1 : 0.5)) + "}";
    });
    for (bool checksum : {false, true}) {
      names.push_back(std::string("arrowring-cpp ") + (checksum ? "checksum " : "") + HumanBytes(static_cast<double>(size)));
      steps.push_back([=] {
        auto t = bench::MeasureThroughput(size, CountFor(size, budget), checksum);
        std::string line = t.ok() ? Json(*t, "arrowring-cpp") : "{\"error\": \"" + t.status().message() + "\"}";
        if (checksum && t.ok()) line.insert(line.size() - 1, ", \"variant\": \"checksum\"");
        return line;
      });
    }
  }
  for (bool raw : {false, true}) {
    for (bool spin : {false, true}) {
      names.push_back(std::string("latency ") + (raw ? "64 B " : "1-row table ") + (spin ? "spin" : "block"));
      steps.push_back([=] {
        auto l = bench::MeasureLatency(raw, spin, latency_count);
        const std::string contender = std::string(raw ? "arrowring-raw-" : "arrowring-cpp-") + (spin ? "spin" : "block");
        return l.ok() ? Json(*l, contender, raw ? "64B" : "1-row-table", false) : "{\"error\": \"" + l.status().message() + "\"}";
      });
    }
  }
  for (int64_t size = kKiB; size <= 256 * kMiB; size *= 16) {
    names.push_back("exact IPC size " + HumanBytes(static_cast<double>(size)));
    steps.push_back([=] {
      auto s = bench::MeasureIpcSize(size, size >= 64 * kMiB ? 2 : 5);
      if (!s.ok()) return "{\"error\": \"" + s.status().message() + "\"}";
      char text[160];
      std::snprintf(text, sizeof text, "{\"size_bytes\": %lld, \"exact_us\": %.3f, \"serialize_us\": %.3f}",
                    static_cast<long long>(size), s->exact_us, s->serialize_us);
      return std::string(text);
    });
  }
  for (int subscribers : {1, 2, 4, 8}) {
    names.push_back("fan-out " + std::to_string(subscribers) + " subscriber(s)");
    steps.push_back([=] {
      auto t = bench::MeasureThroughput(kMiB, CountFor(kMiB, budget / 2), false, subscribers);
      return t.ok() ? "{\"subscribers\": " + std::to_string(subscribers) + ", \"gbps\": " + std::to_string(t->gbps()) + "}"
                    : "{\"error\": \"" + t.status().message() + "\"}";
    });
  }
  for (int64_t size : sizes) {
    names.push_back("consumer RSS " + HumanBytes(static_cast<double>(size)));
    steps.push_back([=] {
      auto rss = bench::MeasureConsumerPeakRss(size, 8);
      return rss.ok() ? "{\"size_bytes\": " + std::to_string(size) + ", \"consumer_peak_rss_bytes\": " + std::to_string(*rss) + "}"
                      : "{\"error\": \"" + rss.status().message() + "\"}";
    });
  }
  std::vector<std::string> results;
  for (size_t i = 0; i < steps.size(); ++i) {
    Progress(static_cast<int>(i), static_cast<int>(steps.size()), names[i]);
    results.push_back(steps[i]());
    if (!args.json) std::printf("%-36s %s\n", names[i].c_str(), results.back().c_str());
  }
  Progress(static_cast<int>(steps.size()), static_cast<int>(steps.size()), "done");
  if (args.json) {
    std::printf("[");
    for (size_t i = 0; i < results.size(); ++i) {
      std::printf("%s{\"case\": %s, \"result\": %s}", i ? ", " : "", JsonString(names[i]).c_str(), results[i].c_str());
    }
    std::printf("]\n");
  }
  return kExitOk;
}

}  // namespace arrowring::cli
