// Internal: attachment slots and the recovery of what dead processes held.
#pragma once

#include <memory>
#include <span>

#include "arrowring/ring/internal/ring_state_internal.h"

namespace arrowring {

/// Under the allocator lock: releases everything attachments of dead processes held (read
/// references, write reservations, subscribers).
RecoveryReport RecoverLocked(RingState& ring);

/// Maps `memory` (a checked ring) into a new RingState and claims an attachment slot for it.
Result<std::shared_ptr<RingState>> AttachState(std::span<std::byte> memory, std::shared_ptr<void> keep_alive);

}  // namespace arrowring
