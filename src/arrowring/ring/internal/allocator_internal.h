// Internal: the allocator's steps, all under the allocator lock.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <utility>

#include "arrowring/ring/internal/ring_state_internal.h"

namespace arrowring {

/// Reserves `size` bytes (rounded up to 64) at the tail for message next_seq — around kept
/// messages, wrapping early to the front when past the warm window — or nothing when the
/// message limit or the space before the head does not allow it.
std::optional<std::pair<uint64_t, std::span<std::byte>>> ReserveLocked(RingState& ring, uint64_t size);

/// Advances head_seq over messages that are free, freeing committed ones that nobody holds
/// and nobody is still due to acquire. Returns bytes made reusable.
uint64_t ReclaimHeadLocked(RingState& ring);

/// One step of making room at the head when no free run holds a message: a retained message
/// nobody holds gives way; one only readers hold is kept outside the window (kept_internal.h);
/// under drop-oldest, one still owed to subscribers or handles is dropped for them (counted).
/// True when the head moved, or may on a second look; false when the head must be waited for.
bool MakeRoomLocked(RingState& ring);

}  // namespace arrowring
