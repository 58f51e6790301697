// libFuzzer target: a segment's bytes are untrusted (any process with write access, or a file
// that is not a ring at all). Ring::Open on arbitrary bytes must refuse or attach, and a ring it
// attaches must answer every reader's call with a value or an error — never a crash or a hang.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

#include "arrowring/ring/layout.h"
#include "arrowring/ring/ring.h"

using namespace std::chrono_literals;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Rings live on 64-byte aligned memory; give the bytes that, as a mapping would.
  std::shared_ptr<void> memory(std::aligned_alloc(64, (size + 63) / 64 * 64 + 64), std::free);
  std::memcpy(memory.get(), data, size);
  auto ring = arrowring::Ring::Open(std::span(static_cast<std::byte*>(memory.get()), size), memory);
  if (!ring.ok()) return 0;
  (void)ring->Stats();
  const uint64_t next = ring->next_sequence();
  for (uint64_t seq = next > 4 ? next - 4 : 0; seq < next + 1; ++seq) {
    if (auto handle = ring->HandleOf(seq)) (void)ring->Acquire(*handle);
    (void)ring->AcquireSequence(seq);
  }
  auto subscription = ring->Subscribe("fuzz");
  if (subscription.ok()) {
    for (int i = 0; i < 4; ++i) (void)subscription->Next(0ms);
  }
  return 0;
}
