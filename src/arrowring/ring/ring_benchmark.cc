// Micro-benchmarks of the core ring in one process: the cost of a message's round trip
// (allocate, fill, commit, acquire, release) against a plain memcpy of the same bytes.
#include <cstring>
#include <vector>

#include <benchmark/benchmark.h>

#include "arrowring/ring/ring.h"
#include "arrowring/ring/test_memory.h"

namespace arrowring {
namespace {

void BM_RingRoundTrip(benchmark::State& state) {
  const auto size = static_cast<uint64_t>(state.range(0));
  Ring ring = testing::HeapRing(std::max<uint64_t>(64 << 20, 4 * size));
  std::vector<std::byte> source(size, std::byte{1});
  for (auto _ : state) {
    auto slot = ring.TryAllocate(size);
    std::memcpy((**slot).data().data(), source.data(), size);
    auto handle = (**slot).Commit(size);
    auto read = ring.Acquire(*handle);
    benchmark::DoNotOptimize(read->data().data());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

// The round trip without touching the payload: the ring's own overhead per message.
void BM_RingRoundTripNoCopy(benchmark::State& state) {
  Ring ring = testing::HeapRing(64 << 20);
  for (auto _ : state) {
    auto slot = ring.TryAllocate(64);
    auto handle = (**slot).Commit(64);
    auto read = ring.Acquire(*handle);
    benchmark::DoNotOptimize(read->data().data());
  }
}

void BM_Memcpy(benchmark::State& state) {
  const auto size = static_cast<size_t>(state.range(0));
  std::vector<std::byte> source(size, std::byte{1}), target(size);
  for (auto _ : state) {
    std::memcpy(target.data(), source.data(), size);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

BENCHMARK(BM_RingRoundTripNoCopy);
BENCHMARK(BM_RingRoundTrip)->RangeMultiplier(16)->Range(64, 16 << 20);
BENCHMARK(BM_Memcpy)->RangeMultiplier(16)->Range(64, 16 << 20);

}  // namespace
}  // namespace arrowring

BENCHMARK_MAIN();
