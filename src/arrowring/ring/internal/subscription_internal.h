// Internal: removing a subscriber from the ring's table (on leave, and by recovery).
#pragma once

#include <cstdint>

#include "arrowring/ring/internal/ring_state_internal.h"

namespace arrowring {

/// Under the allocator lock: unregisters subscriber `index` and releases every message still
/// due to it (the same whether it left or its process died).
void RemoveSubscriberLocked(RingState& ring, uint32_t index);

}  // namespace arrowring
