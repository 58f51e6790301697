// Internal: the allocator's steps, all under the allocator lock.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "arrowring/ring/ring_state_internal.h"

namespace arrowring {

/// Reserves `size` bytes (rounded up to 64) at the tail for message next_seq, or nothing when
/// the message limit or the space before the head does not allow it.
std::optional<std::pair<uint64_t, std::span<std::byte>>> ReserveLocked(RingState& ring, uint64_t size);

/// Advances head_seq over messages that are free, freeing committed ones that nobody holds
/// and nobody is still due to acquire. Returns bytes made reusable.
uint64_t ReclaimHeadLocked(RingState& ring);

/// The drop-oldest policy: drops the oldest message if it is committed and unheld.
bool DropOldestLocked(RingState& ring);

}  // namespace arrowring
