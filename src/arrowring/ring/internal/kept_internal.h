// Internal: kept messages — committed messages that only readers still hold, moved out of the
// sequence window into the kept table so that they cost the ring their own bytes and nothing
// more (layout.h has the table; docs/design.md the protocol).
#pragma once

#include <cstdint>
#include <optional>

#include "arrowring/ring/internal/ring_state_internal.h"

namespace arrowring {

/// Under the allocator lock: moves held message `seq` (committed, no subscriber due, handle
/// deliveries done) from its descriptor into a free kept entry. False when the message is not
/// (or no longer) such a message, or when the kept table is full (counted in kept_full).
bool KeepLocked(RingState& ring, uint64_t seq);

/// Where a message that may have moved out of the window lives: its window descriptor, when
/// that still holds it as kCommitted, or else its kept entry; nullptr when neither does.
/// `word` is the state word found there (acquire).
MessageDescriptor* LocateMessage(RingState& ring, uint64_t seq, uint64_t& word);

/// Clears this attachment's holder bit on message `seq`, wherever it lives; the last holder
/// frees it when nothing else is owed (a window message: no subscriber due, no delivery
/// pending, not retained; a kept message: always).
void ReleaseHold(RingState& ring, uint64_t seq);

/// Under the allocator lock: the first byte at or after logical position `begin` from which
/// `reserve` bytes lie clear of every kept message and of the end of the ring, provided the
/// run ends at or before `limit`; empty when there is none.
std::optional<uint64_t> FitAroundKeptLocked(RingState& ring, uint64_t begin, uint64_t reserve, uint64_t limit);

/// Under the allocator lock: bytes of kept messages lying within physical [from, to).
uint64_t KeptBytesWithinLocked(const RingState& ring, uint64_t from, uint64_t to);

/// Under the allocator lock: lowers kept_high over free entries at the top of the table.
void ShrinkKeptHighLocked(RingState& ring);

/// Under the allocator lock: clears holder `bit` (a dead attachment) from every kept message,
/// freeing those nobody holds any more. Returns the references released and bytes freed.
std::pair<uint64_t, uint64_t> ReleaseKeptOfLocked(RingState& ring, uint64_t bit);

/// Under the allocator lock, after a dead allocator's EOWNERDEAD: frees a kept entry whose
/// message its descriptor still holds (the move was cut between its two steps).
void RepairKeptLocked(RingState& ring);

}  // namespace arrowring
