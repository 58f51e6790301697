#include "case_support.h"

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>

#include <arrow/api.h>

#include "arrowring/ipc/pubsub.h"

namespace arrowring::bench {
namespace {

using namespace std::chrono_literals;

}  // namespace

int64_t MonotonicNs() {
  timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<int64_t>(now.tv_sec) * 1'000'000'000 + now.tv_nsec;
}

std::string UniqueName(const char* what) {
  static std::atomic<int> counter{0};
  return std::string("bench-") + what + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

std::shared_ptr<arrow::Table> BenchTable(int64_t bytes) {
  const int64_t rows = std::max<int64_t>(1, bytes / 32);
  std::vector<std::shared_ptr<arrow::Array>> columns;
  std::vector<std::shared_ptr<arrow::Field>> fields;
  for (int c = 0; c < 4; ++c) {
    auto buffer = *arrow::AllocateBuffer(rows * 8);
    auto* values = reinterpret_cast<int64_t*>(buffer->mutable_data());
    for (int64_t i = 0; i < rows; ++i) values[i] = i * (c + 1);
    columns.push_back(arrow::MakeArray(arrow::ArrayData::Make(arrow::int64(), rows, {nullptr, std::move(buffer)})));
    fields.push_back(arrow::field("c" + std::to_string(c), arrow::int64()));
  }
  return arrow::Table::Make(arrow::schema(fields), columns, rows);
}

uint64_t Consume(const arrow::Table& table, bool checksum) {
  uint64_t sum = 0;
  for (const auto& column : table.columns()) {
    for (const auto& chunk : column->chunks()) {
      const auto& buffer = chunk->data()->buffers[1];
      if (!checksum) {
        sum += static_cast<uint64_t>(static_cast<const arrow::Int64Array&>(*chunk).Value(0));
        continue;
      }
      const auto* words = reinterpret_cast<const uint64_t*>(buffer->data());
      const int64_t n = buffer->size() / 8;
      for (int64_t i = 0; i < n; ++i) sum += words[i];
    }
  }
  return sum;
}

bool ReapAll(const std::vector<pid_t>& children) {
  bool ok = true;
  for (pid_t child : children) {
    int status = 0;
    waitpid(child, &status, 0);
    ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  }
  return ok;
}

arrow::Result<Ring> CreateRing(const std::string& name, uint64_t capacity, uint64_t warm_bytes, bool retain) {
  auto ring = Ring::Create(name, capacity, {.policy = Policy::kBlock, .retain = retain, .warm_bytes = warm_bytes});
  if (!ring.ok()) return ToStatus(ring.error());
  return *ring;
}

uint64_t ProcessCpuNs() {
  timespec now{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
  return static_cast<uint64_t>(now.tv_sec) * 1'000'000'000u + static_cast<uint64_t>(now.tv_nsec);
}

pid_t ForkConsumer(const std::string& name, const std::string& subscriber_name, int64_t warmup, int64_t count,
                   bool checksum, SpinPolicy wait, Pipe& ready, Pipe& done, const std::string& keep) {
  return Fork([&] {
    auto attached = Ring::Attach(name);
    if (!attached.ok()) return 2;
    auto subscriber = Subscriber::Make(*attached, subscriber_name, {.spin = wait});
    if (!subscriber.ok()) return 3;
    ready.Put(char{1});
    ConsumerReport report;
    uint64_t timed_from = ProcessCpuNs();
    std::vector<std::shared_ptr<arrow::Table>> kept;  // what a store or cache keeps (see header)
    for (int64_t i = 0; i < warmup + count; ++i) {
      auto message = subscriber->Next(60s);
      if (!message.ok() || !message->has_value()) return 4;
      report.sum += Consume(*(*message)->table, checksum);
      if (i + 1 == warmup) {
        ready.Put(char{2});
        timed_from = ProcessCpuNs();
      }
      const int64_t n = i - warmup;  // kept from the timed tables on
      if (keep == "per-tag" && n >= 0 && n % 50 < 5) {
        kept.resize(5);
        kept[static_cast<size_t>(n % 5)] = (*message)->table;
      } else if (keep == "first-200" && n >= 0 && n < 200 && n % 10 == 0) {
        kept.push_back((*message)->table);
      }
    }
    report.cpu_ns = ProcessCpuNs() - timed_from;
    done.Put(report);
    return 0;
  });
}

uint64_t RingCapacityFor(int64_t table_bytes, int tables) {
  return std::max<uint64_t>(1ull << 20,
                            static_cast<uint64_t>(table_bytes + (64 << 10)) * static_cast<uint64_t>(tables));
}

int64_t WarmupCount(int64_t table_bytes, int tables) {
  return static_cast<int64_t>(RingCapacityFor(table_bytes, tables) / static_cast<uint64_t>(table_bytes)) + 1;
}

}  // namespace arrowring::bench
