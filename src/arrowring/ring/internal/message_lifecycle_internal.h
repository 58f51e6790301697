// Internal: the message state machine's shared steps (free decisions, holder bits).
#pragma once

#include <string_view>

#include "arrowring/ring/internal/ring_state_internal.h"

namespace arrowring {

// Whether a committed message that no attachment holds may be freed: no subscriber is still
// due to take it and its handle deliveries are done — or lapsed (kLapsed: counted as dropped;
// in a retaining ring lapsed deliveries leave the message retained instead).
enum class Freeable { kNo, kDone, kLapsed };
inline bool DeliveriesLapsed(const MessageDescriptor& d) {
  return sys::MonotonicSeconds() >= d.pending_deadline_s.load(std::memory_order_relaxed);
}
inline Freeable CanFree(const MessageDescriptor& d, bool allow_lapse, bool retain) {
  if (d.due.load(std::memory_order_acquire) != 0) return Freeable::kNo;  // SYNC POINT due-mask (acquire)
  const uint32_t pending = d.pending.load(std::memory_order_acquire);    // SYNC POINT pending-count (acquire)
  if (pending == 0) return Freeable::kDone;
  // Only the allocator's need for space, or Retire(), ends these.
  if (pending == WriteSlot::kUntilDropped || pending == layout::kRetained) return Freeable::kNo;
  if (allow_lapse && !retain && DeliveriesLapsed(d)) return Freeable::kLapsed;
  return Freeable::kNo;
}

/// Checks the fields of committed message `seq`'s descriptor against the ring's invariants
/// before anything trusts them (begin aligned, the reservation inside the ring and not across
/// its end, 1 <= size <= reservation). kCorrupt names the field: any process with write access
/// can scribble on the segment, and a reader must not follow such a value out of the ring.
Status CheckDescriptor(const RingState& ring, const MessageDescriptor& d, uint64_t seq);

/// The StaleHandle error for `handle`, saying why.
Error Stale(const RingState& ring, const Handle& handle, std::string_view why);

}  // namespace arrowring
