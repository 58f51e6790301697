// What the benchmark cases share: the clock, ring names, the 4-column table every case moves
// and what a consumer does with it, pipes and forked children, rings unlinked on the way out,
// and the forked consumer of the throughput cases. Used by bench_cases.cc, floor_cases.cc and
// flight_cases.cc; not part of the library.
#pragma once

#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/result.h>
#include <arrow/table.h>

#include "arrowring/ring/ring.h"
#include "arrowring/ring/spin.h"

namespace arrowring::bench {

int64_t MonotonicNs();

std::string UniqueName(const char* what);

// A table of about `bytes` data bytes in 4 int64 columns.
std::shared_ptr<arrow::Table> BenchTable(int64_t bytes);

// What a consumer does with a table: one value per column, or every byte.
uint64_t Consume(const arrow::Table& table, bool checksum);

struct Pipe {
  Pipe() { (void)!pipe(fds); }
  ~Pipe() {
    close(fds[0]);
    close(fds[1]);
  }
  template <typename T>
  void Put(const T& value) const {
    (void)!write(fds[1], &value, sizeof value);
  }
  template <typename T>
  bool Get(T* value) const {
    size_t got = 0;
    auto* bytes = reinterpret_cast<char*>(value);
    while (got < sizeof(T)) {
      const ssize_t n = read(fds[0], bytes + got, sizeof(T) - got);
      if (n <= 0) return false;
      got += static_cast<size_t>(n);
    }
    return true;
  }
  int fds[2];
};

template <typename Body>
pid_t Fork(Body body) {
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(600);
    _exit(body());
  }
  return pid;
}

bool ReapAll(const std::vector<pid_t>& children);

struct RingGuard {
  std::string name;
  ~RingGuard() { (void)Ring::Unlink(name); }
};

arrow::Result<Ring> CreateRing(const std::string& name, uint64_t capacity,
                               uint64_t warm_bytes = RingOptions::kWarmDefault, bool retain = false);

// What a consumer process puts on its `done` pipe: the sum of what it read (so the reads cannot
// be optimized away), and the CPU time its process spent on the `count` timed tables.
struct ConsumerReport {
  uint64_t sum = 0;
  uint64_t cpu_ns = 0;
};

// The CPU time this process has used (every thread), in nanoseconds.
uint64_t ProcessCpuNs();

// Forks a consumer process: subscribes to ring `name` as `subscriber`, says so on `ready`,
// waits as `wait` says, takes `warmup` tables (then says so again) and `count` more, reading
// each as Consume does, and puts a ConsumerReport on `done`.
pid_t ForkConsumer(const std::string& name, const std::string& subscriber_name, int64_t warmup, int64_t count,
                   bool checksum, SpinPolicy wait, Pipe& ready, Pipe& done, const std::string& keep = "");

// Room for `tables` tables of `table_bytes` (their IPC overhead is far below 64 KiB).
uint64_t RingCapacityFor(int64_t table_bytes, int tables = 4);

// Tables published before timing starts: one lap of the ring, so that every page has been
// touched once (first touches are page faults, a one-time cost of a new mapping).
int64_t WarmupCount(int64_t table_bytes, int tables);

}  // namespace arrowring::bench
