// Test support: rings on heap memory.
#pragma once

#include <cstdlib>
#include <memory>
#include <span>

#include "arrowring/ring/ring.h"

namespace arrowring::testing {

/// Formats a ring on freshly allocated, 64-byte aligned heap memory owned by the ring.
inline Ring HeapRing(uint64_t capacity, RingOptions options = {}) {
  const uint64_t bytes = *Ring::RequiredBytes(capacity, options);
  std::shared_ptr<void> memory(std::aligned_alloc(64, bytes), std::free);
  auto ring = Ring::Format(std::span(static_cast<std::byte*>(memory.get()), bytes), capacity,
                           options, "heap", memory);
  if (!ring) std::abort();
  return std::move(*ring);
}

}  // namespace arrowring::testing
