// Micro-benchmarks of the Arrow layer. The headline: IpcStreamSize costs the same for a
// 1 KiB and a 256 MiB table, while sizing by serializing (the seed's way) grows with the data.
#include <cstring>
#include <vector>

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/writer.h>
#include <benchmark/benchmark.h>

#include "arrowring/ipc/ipc.h"
#include "arrowring/ipc/test_tables.h"

namespace arrowring {
namespace {

std::shared_ptr<arrow::Table> TableOfBytes(int64_t bytes) {
  return testing::MakeInt64Table(std::max<int64_t>(1, bytes / 8));
}

void BM_IpcStreamSize(benchmark::State& state) {
  auto table = TableOfBytes(state.range(0));
  for (auto _ : state) {
    auto size = IpcStreamSize(*table);
    benchmark::DoNotOptimize(size);
  }
  state.counters["table_bytes"] = static_cast<double>(state.range(0));
}

// The seed's get_table_ipc_size: serialize everything into a growing buffer, take its size.
void BM_SizeBySerializing(benchmark::State& state) {
  auto table = TableOfBytes(state.range(0));
  for (auto _ : state) {
    auto sink = arrow::io::BufferOutputStream::Create().ValueOrDie();
    auto writer = arrow::ipc::MakeStreamWriter(sink, table->schema()).ValueOrDie();
    (void)writer->WriteTable(*table);
    (void)writer->Close();
    benchmark::DoNotOptimize(sink->Finish().ValueOrDie()->size());
  }
  state.counters["table_bytes"] = static_cast<double>(state.range(0));
}

void BM_WriteIpcStream(benchmark::State& state) {
  auto table = TableOfBytes(state.range(0));
  const int64_t size = IpcStreamSize(*table).ValueOrDie();
  auto memory = arrow::AllocateBuffer(size).ValueOrDie();
  std::span<std::byte> destination(reinterpret_cast<std::byte*>(memory->mutable_data()), static_cast<size_t>(size));
  for (auto _ : state) {
    benchmark::DoNotOptimize(WriteIpcStream(*table, destination));
  }
  state.SetBytesProcessed(state.iterations() * size);
}

void BM_Memcpy(benchmark::State& state) {
  std::vector<uint8_t> source(static_cast<size_t>(state.range(0)), 1);
  std::vector<uint8_t> target(source.size());
  for (auto _ : state) {
    std::memcpy(target.data(), source.data(), source.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_ReadTableZeroCopy(benchmark::State& state) {
  auto serialized = SerializeTable(*TableOfBytes(state.range(0))).ValueOrDie();
  for (auto _ : state) {
    benchmark::DoNotOptimize(ReadTable(serialized, {.validation = Validation::kNone}));
  }
  state.counters["table_bytes"] = static_cast<double>(state.range(0));
}

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;
BENCHMARK(BM_IpcStreamSize)->RangeMultiplier(16)->Range(kKiB, 256 * kMiB);
BENCHMARK(BM_SizeBySerializing)->RangeMultiplier(16)->Range(kKiB, 256 * kMiB)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_WriteIpcStream)->RangeMultiplier(16)->Range(kKiB, 256 * kMiB)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Memcpy)->RangeMultiplier(16)->Range(kKiB, 256 * kMiB)->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_ReadTableZeroCopy)->RangeMultiplier(16)->Range(kKiB, 256 * kMiB);

}  // namespace
}  // namespace arrowring

BENCHMARK_MAIN();
