// Test support: rings on heap memory, and one-line allocate/publish for tests.
#pragma once

#include <gtest/gtest.h>

#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>

#include "arrowring/ring/ring.h"

namespace arrowring::testing {

inline constexpr uint64_t kKiB = 1024;

/// Formats a ring on freshly allocated, 64-byte aligned heap memory owned by the ring.
inline Ring HeapRing(uint64_t capacity, RingOptions options = {}) {
  const uint64_t bytes = *Ring::RequiredBytes(capacity, options);
  std::shared_ptr<void> memory(std::aligned_alloc(64, bytes), std::free);
  auto ring = Ring::Format(std::span(static_cast<std::byte*>(memory.get()), bytes), capacity, options, "heap", memory);
  if (!ring) std::abort();
  return std::move(*ring);
}

/// A write slot of `size` bytes; a test failure if there is no room.
inline WriteSlot MustAllocate(Ring& ring, uint64_t size) {
  auto slot = ring.TryAllocate(size);
  EXPECT_TRUE(slot.ok()) << slot.error().ToString();
  EXPECT_TRUE(slot->has_value()) << "no room for " << size << " bytes";
  return std::move(**slot);
}

/// Publishes `size` bytes of `fill` with `deliveries` handle deliveries.
inline Handle Publish(Ring& ring, uint64_t size, uint8_t fill, uint32_t deliveries = 1,
                      std::chrono::seconds ttl = WriteSlot::kDefaultDeliveryTtl) {
  WriteSlot slot = MustAllocate(ring, size);
  std::memset(slot.data().data(), fill, size);
  auto handle = slot.Commit(size, deliveries, ttl);
  EXPECT_TRUE(handle.ok());
  return *handle;
}

/// Publishes `size` bytes of `fill` kept readable until dropped (deliveries = kUntilDropped);
/// returns its sequence number.
inline uint64_t CommitUntilDropped(Ring& ring, uint64_t size, uint8_t fill) {
  WriteSlot slot = MustAllocate(ring, size);
  std::memset(slot.data().data(), fill, size);
  const uint64_t seq = slot.sequence();
  EXPECT_TRUE(slot.Commit(size, WriteSlot::kUntilDropped).ok());
  return seq;
}

/// Whether `size` bytes could be allocated now (the slot is aborted at once).
inline bool HasRoomFor(Ring& ring, uint64_t size) {
  auto slot = ring.TryAllocate(size);
  return slot.ok() && slot->has_value();
}

}  // namespace arrowring::testing
