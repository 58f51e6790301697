// Internal: what an attachment knows of its ring, shared by the core's files (not installed).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "arrowring/ring/layout.h"
#include "arrowring/ring/ring.h"
#include "arrowring/ring/system.h"

namespace arrowring {

using layout::Attachment;
using layout::HoldersOf;
using layout::KeptMessage;
using layout::MessageDescriptor;
using layout::MessageState;
using layout::PackState;
using layout::RingHeader;
using layout::StateOf;
using layout::TagOf;

// Memory orderings, once for the whole file:
//  - A descriptor's `state` word is the synchronization point for its message. Writers fill
//    the payload and the plain descriptor fields, then publish with a release CAS to
//    kCommitted; readers load `state` with acquire before touching fields or payload.
//    Every transition is a CAS with acq_rel so that the last releaser, the reclaimer and
//    recovery all see each other's prior writes (pending count, holder bits).
//  - `pending` is only decremented by a reader that holds its bit in `state`, and read by
//    whoever is about to free the message after an acquire load of `state`; so the free
//    decision always sees the final count (see Release).
//  - The allocator words (next_seq, head_seq, tail) change only under alloc_mutex; they are
//    atomics so that readers and statistics may read them without the lock. next_seq is
//    stored with release after the new descriptor is written, so a reader that sees
//    next_seq > s (acquire) sees descriptor s initialized.
//  - Futex epochs use seq_cst on both sides (bump-then-check-waiters vs register-then-wait):
//    the Dekker pattern that rules out a lost wake-up.
//  - Counters are relaxed: statistics, never used to decide anything.

/// One attachment's view of a mapped ring: pointers into the segment, its geometry as checked
/// at attach, and this attachment's slot. Shared (shared_ptr) by the Ring and every slot and
/// subscription made from it, so the mapping outlives them all.
struct RingState {
  std::shared_ptr<void> keep_alive;
  RingHeader* header = nullptr;
  Attachment* attachments = nullptr;
  layout::Subscriber* subscribers = nullptr;
  MessageDescriptor* descriptors = nullptr;
  KeptMessage* kept = nullptr;
  std::byte* data = nullptr;
  uint64_t capacity = 0;
  uint64_t index_mask = 0;
  uint64_t message_limit = 0;  // header's, checked at attach (1..M)
  uint32_t max_kept = 0;       // header's, checked at attach (1..kMaxKeptLimit)
  bool retain = false;         // header flag kFlagRetain
  uint64_t warm_bytes = 0;     // header's
  uint32_t attachment = 0;
  uint64_t bit = 0;
  uint64_t pid = 0;
  uint64_t fork_generation = 0;  // sys::ForkGeneration() when attached
  std::string name;
  bool named = false;  // a named segment (Create/Attach), not caller-provided memory
  // steady_clock nanoseconds of the last look at whether the name still holds this ring.
  std::atomic<int64_t> name_checked_ns{0};

  // Read references of this attachment per message: the shared holder bit is set while the
  // count is positive. Guarded by local_mutex.
  std::mutex local_mutex;
  std::unordered_map<uint64_t, uint32_t> local_refs;

  MessageDescriptor& descriptor(uint64_t seq) const { return descriptors[seq & index_mask]; }
  Attachment& self() const { return attachments[attachment]; }
  /// Kept entries worth looking at: [0, this); a scribbled kept_high cannot exceed K.
  uint32_t kept_bound() const {
    return std::min(header->kept_high.load(std::memory_order_acquire), max_kept);
  }
  /// Whether this object was attached by the calling process (not inherited across fork()).
  bool owned_by_this_process() const { return sys::ForkGeneration() == fork_generation; }

  ~RingState() {
    if (attachments == nullptr || attachment >= layout::kMaxAttachments) return;  // Never attached.
    if (!owned_by_this_process()) return;  // A fork child's copy: the slot is the parent's.
    Attachment& me = self();
    me.write_bytes.store(0, std::memory_order_relaxed);
    me.read_bytes.store(0, std::memory_order_relaxed);
    me.write_refs.store(0, std::memory_order_relaxed);
    me.read_refs.store(0, std::memory_order_relaxed);
    me.start_time.store(0, std::memory_order_relaxed);
    me.pid.store(0, std::memory_order_release);
  }
};

constexpr uint64_t RoundUp(uint64_t value, uint64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

/// Bumps a futex epoch and wakes its waiters, if any (the waiter registers before it waits).
inline void BumpAndWake(std::atomic<uint32_t>& epoch, std::atomic<uint32_t>& waiters) {
  epoch.fetch_add(1, std::memory_order_seq_cst);
  if (waiters.load(std::memory_order_seq_cst) != 0) sys::FutexWakeAll(&epoch);
}

/// End of the sequence window [head, end) that can hold messages. In a sound ring
/// next - head <= M (the descriptor count); a scribbled head_seq or next_seq must not send a
/// loop through 2^64 descriptors.
inline uint64_t WindowEnd(const RingState& ring, uint64_t head, uint64_t next) {
  const uint64_t descriptors = ring.index_mask + 1;
  if (next < head) return head;
  return next - head > descriptors ? head + descriptors : next;
}

/// A Ring, slot or subscription inherited across fork() must not act for the parent.
inline Status CheckProcess(const RingState& ring) {
  if (sys::ForkGeneration() != ring.fork_generation) {
    return Error{Errc::kBadState, "this Ring was attached by process " + std::to_string(ring.pid) +
                                      " (before a fork); attach again in process " +
                                      std::to_string(sys::CurrentPid())};
  }
  return Ok();
}

}  // namespace arrowring
