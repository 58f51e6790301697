#include "arrowring/ring/streaming_copy.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

namespace arrowring {

namespace {

// The size of the last-level cache this CPU's writes land in, as Linux describes it
// (/sys/devices/system/cpu/cpu0/cache/index3/size: "32768K"), or 0. sysconf's
// _SC_LEVEL3_CACHE_SIZE can be a whole package's: 256 MiB on the EPYC VM of
// docs/benchmarks.md, whose cores share 32 MiB slices.
uint64_t LastLevelCacheOfThisCpu() {
  std::FILE* file = std::fopen("/sys/devices/system/cpu/cpu0/cache/index3/size", "r");
  if (file == nullptr) return 0;
  unsigned long long value = 0;
  char unit = 0;
  const int fields = std::fscanf(file, "%llu%c", &value, &unit);
  std::fclose(file);
  if (fields < 1 || value == 0) return 0;
  if (fields == 2 && (unit == 'K' || unit == 'k')) return static_cast<uint64_t>(value) << 10;
  if (fields == 2 && (unit == 'M' || unit == 'm')) return static_cast<uint64_t>(value) << 20;
  return static_cast<uint64_t>(value);
}

}  // namespace

uint64_t ColdLapBytes() {
  static const uint64_t bytes = [] {
    uint64_t last_level = LastLevelCacheOfThisCpu();
    if (last_level == 0) {
      const long reported = sysconf(_SC_LEVEL3_CACHE_SIZE);
      last_level = reported > 0 ? static_cast<uint64_t>(reported) : uint64_t{32} << 20;
    }
    return std::max<uint64_t>(last_level / 2, uint64_t{64} << 10);
  }();
  return bytes;
}

#if defined(__x86_64__)
namespace {

// Whole 64-byte lines from a 64-byte aligned destination; the source may be unaligned.
__attribute__((target("avx2"))) void StreamLinesAvx2(std::byte* destination, const std::byte* source, size_t lines) {
  for (size_t i = 0; i < lines; ++i, destination += 64, source += 64) {
    const __m256i low = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(source));
    const __m256i high = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(source + 32));
    _mm256_stream_si256(reinterpret_cast<__m256i*>(destination), low);
    _mm256_stream_si256(reinterpret_cast<__m256i*>(destination + 32), high);
  }
}

void StreamLinesSse2(std::byte* destination, const std::byte* source, size_t lines) {
  for (size_t i = 0; i < lines; ++i, destination += 64, source += 64) {
    for (int part = 0; part < 64; part += 16) {
      const __m128i value = _mm_loadu_si128(reinterpret_cast<const __m128i*>(source + part));
      _mm_stream_si128(reinterpret_cast<__m128i*>(destination + part), value);
    }
  }
}

void StreamCopy(std::byte* destination, const std::byte* source, size_t n) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  // The partial line before the first whole one and after the last go through memcpy: a line
  // written partly with streaming stores would be read from memory anyway.
  const size_t head = (64 - reinterpret_cast<uintptr_t>(destination) % 64) % 64;
  std::memcpy(destination, source, head);
  const size_t lines = (n - head) / 64;
  if (avx2) {
    StreamLinesAvx2(destination + head, source + head, lines);
  } else {
    StreamLinesSse2(destination + head, source + head, lines);
  }
  const size_t done = head + lines * 64;
  std::memcpy(destination + done, source + done, n - done);
  // Streaming stores are weakly ordered: without the fence, a later release store (the
  // commit that publishes the message) could become visible before them.
  _mm_sfence();
}

}  // namespace
#endif

void CopyIntoRing(void* destination, const void* source, size_t n, bool cold) {
#if defined(__x86_64__)
  if (cold && n >= kStreamingCopyMinBytes) {
    StreamCopy(static_cast<std::byte*>(destination), static_cast<const std::byte*>(source), n);
    return;
  }
#endif
  std::memcpy(destination, source, n);
}

}  // namespace arrowring
