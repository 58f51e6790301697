#include "floor_cases.h"

#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "arrowring/ring/streaming_copy.h"
#include "case_support.h"

namespace arrowring::bench {
namespace {

// The words one hand-off floor shares between its two processes (an anonymous shared mapping,
// created before the fork: nothing in /dev/shm). `seq` counts messages, `sleepers` says that
// the receiver is (about to be) in FUTEX_WAIT on `seq`, so the sender only makes the syscall
// when it must, like a real ring.
struct alignas(64) Channel {
  std::atomic<uint32_t> seq{0};
  std::atomic<uint32_t> sleepers{0};
  std::atomic<int64_t> stamp{0};
  char pad[64 - 16];
};
static_assert(std::atomic<uint32_t>::is_always_lock_free);

struct FloorShared {
  Channel ping, pong;
  std::atomic<int64_t> burst_start_ns{0};
};

long Futex(std::atomic<uint32_t>* word, int op, uint32_t value) {
  return syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), op, value, nullptr, nullptr, 0);
}

inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// One message: the stamp, then the sequence word (release), then a wake-up if the peer sleeps.
void Post(Channel& channel, int64_t stamp) {
  channel.stamp.store(stamp, std::memory_order_relaxed);
  channel.seq.fetch_add(1, std::memory_order_seq_cst);
  if (channel.sleepers.load(std::memory_order_seq_cst) != 0) Futex(&channel.seq, FUTEX_WAKE, 1);
}

// Waits until the sequence word differs from `seen`; returns its new value.
uint32_t Await(Channel& channel, uint32_t seen, uint32_t spins) {
  for (uint32_t i = 0; i < spins; ++i) {
    const uint32_t now = channel.seq.load(std::memory_order_acquire);
    if (now != seen) return now;
    CpuRelax();
  }
  for (;;) {
    uint32_t now = channel.seq.load(std::memory_order_acquire);
    if (now != seen) return now;
    channel.sleepers.fetch_add(1, std::memory_order_seq_cst);
    now = channel.seq.load(std::memory_order_seq_cst);
    if (now == seen) Futex(&channel.seq, FUTEX_WAIT, seen);
    channel.sleepers.fetch_sub(1, std::memory_order_seq_cst);
  }
}

}  // namespace

double MeasureMemcpy(int64_t bytes, double min_seconds) {
  std::vector<uint8_t> source(static_cast<size_t>(bytes), 1), target(static_cast<size_t>(bytes), 0);
  std::memcpy(target.data(), source.data(), source.size());  // Fault every page in first.
  int64_t copies = 0;
  const int64_t start = MonotonicNs();
  int64_t elapsed = 0;
  do {
    std::memcpy(target.data(), source.data(), source.size());
    asm volatile("" : : "r"(target.data()) : "memory");
    ++copies;
    elapsed = MonotonicNs() - start;
  } while (static_cast<double>(elapsed) / 1e9 < min_seconds);
  return static_cast<double>(copies * bytes) / (static_cast<double>(elapsed) / 1e9) / 1e9;
}

int64_t LastLevelCacheBytes() {
  int64_t largest = 0;
  for (int index = 0; index < 8; ++index) {
    std::ifstream file("/sys/devices/system/cpu/cpu0/cache/index" + std::to_string(index) + "/size");
    std::string text;
    if (!(file >> text) || text.empty()) continue;
    int64_t value = std::atoll(text.c_str());
    const char unit = text.back();
    if (unit == 'K') value <<= 10;
    if (unit == 'M') value <<= 20;
    largest = std::max(largest, value);
  }
  if (largest <= 0) largest = sysconf(_SC_LEVEL3_CACHE_SIZE);
  return largest > 0 ? largest : (32ll << 20);
}

double MeasureColdMemcpy(int64_t bytes, int64_t target_bytes, double min_seconds, int64_t* used_target_bytes,
                         bool streaming) {
  const int64_t stride = (bytes + 63) & ~int64_t{63};
  target_bytes = std::max({target_bytes, 4 * LastLevelCacheBytes(), 2 * stride});
  const int64_t blocks = target_bytes / stride;
  const size_t length = static_cast<size_t>(blocks * stride);
  if (used_target_bytes != nullptr) *used_target_bytes = static_cast<int64_t>(length);
  std::vector<uint8_t> source(static_cast<size_t>(bytes), 1);
  void* mapping = mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) return 0;
  auto* target = static_cast<uint8_t*>(mapping);
  std::memset(target, 0, length);  // Fault every page in first: the floor is DRAM, not page faults.
  int64_t copies = 0, block = 0;
  const int64_t start = MonotonicNs();
  int64_t elapsed = 0;
  do {  // At least one lap, so that every block written is cold.
    // The ring's own copy: memcpy, or streaming stores as RingOutputStream uses for cold slots.
    arrowring::CopyIntoRing(target + block * stride, source.data(), source.size(), streaming);
    asm volatile("" : : "r"(target) : "memory");
    ++copies;
    if (++block == blocks) block = 0;
    elapsed = MonotonicNs() - start;
  } while (static_cast<double>(elapsed) / 1e9 < min_seconds || copies < blocks);
  munmap(mapping, length);
  return static_cast<double>(copies * bytes) / (static_cast<double>(elapsed) / 1e9) / 1e9;
}

arrow::Result<Latency> MeasureHandoffFloor(bool spin, int64_t count) {
  if (count < 2 || count > (int64_t{1} << 30)) return arrow::Status::Invalid("count must be in [2, 2^30]");
  void* mapping = mmap(nullptr, sizeof(FloorShared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) return arrow::Status::IOError("mmap failed");
  auto* shared = new (mapping) FloorShared();
  struct Unmap {
    void* p;
    ~Unmap() { munmap(p, sizeof(FloorShared)); }
  } unmap{mapping};
  const uint32_t spins = spin ? 10'000'000 : 0;
  Pipe report;
  const pid_t child = Fork([&] {
    std::vector<double> samples;
    samples.reserve(static_cast<size_t>(count));
    uint32_t seen = 0;
    for (int64_t i = 0; i < count; ++i) {  // Paced: one message in flight.
      seen = Await(shared->ping, seen, spins);
      const int64_t now = MonotonicNs();
      samples.push_back(static_cast<double>(now - shared->ping.stamp.load(std::memory_order_relaxed)) / 1e3);
      Post(shared->pong, now);
    }
    // Burst: `count` messages back to back; a receiver woken once takes every message posted
    // since, as a ring's subscriber does.
    const uint32_t last = seen + static_cast<uint32_t>(count);
    while (seen != last) seen = Await(shared->ping, seen, spins);
    const int64_t burst_ns = MonotonicNs() - shared->burst_start_ns.load(std::memory_order_relaxed);
    report.Put(burst_ns);
    for (double sample : samples) report.Put(sample);
    return 0;
  });
  if (child < 0) return arrow::Status::IOError("fork failed");
  uint32_t seen = 0;
  for (int64_t i = 0; i < count; ++i) {
    Post(shared->ping, MonotonicNs());
    seen = Await(shared->pong, seen, spins);
  }
  shared->burst_start_ns.store(MonotonicNs(), std::memory_order_relaxed);  // Published by the first Post.
  for (int64_t i = 0; i < count; ++i) Post(shared->ping, MonotonicNs());
  Latency latency;
  int64_t burst_ns = 0;
  if (!report.Get(&burst_ns)) return arrow::Status::IOError("the receiver failed");
  latency.samples_us.resize(static_cast<size_t>(count));
  for (double& sample : latency.samples_us) {
    if (!report.Get(&sample)) return arrow::Status::IOError("the receiver failed");
  }
  if (!ReapAll({child})) return arrow::Status::IOError("the receiver process failed");
  Percentiles(latency);
  latency.msgs_per_s = burst_ns > 0 ? static_cast<double>(count) / (static_cast<double>(burst_ns) / 1e9) : 0;
  return latency;
}

}  // namespace arrowring::bench
