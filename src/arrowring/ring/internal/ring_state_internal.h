// Internal: what an attachment knows of its ring, shared by the core's files (not installed).
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "arrowring/ring/internal/system.h"
#include "arrowring/ring/layout.h"
#include "arrowring/ring/ring.h"

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

// Memory orderings, once for the whole core. Each release/acquire pair has a name, and every
// site of a pair carries `SYNC POINT <name>` with its role, so `grep -rn "SYNC POINT <name>"
// src/arrowring/ring` finds both sides. docs/design.md ("Memory orderings") has the same table.
//
//  - next-seq: an allocation writes the descriptor's fields, stores its `state` kWriting
//    with a new tag (release), then `next_seq` (release; also AllocatorLock::Repair finishing
//    a dead allocator's). A reader that loads next_seq > s (acquire) sees descriptor s
//    initialized (Ring::AcquireFor, Subscription::Next, stats).
//  - message-commit: a writer fills the payload and the plain descriptor fields, then turns
//    `state` kWriting -> kCommitted (acq_rel CAS, WriteSlot::Commit). Readers load `state`
//    (acquire load or acquire CAS) and see kCommitted before they touch fields or payload.
//  - message-release: every end of a use of a message's bytes — a holder's release CAS
//    (ReleaseHold, ReleaseKeptOfLocked, recovery's for a dead holder), a free CAS (reclaim,
//    drop, abort, Retire, recovery), a kept entry's free store — is acq_rel or release on its
//    `state` word. Whoever frees or reuses the bytes or the descriptor first loads that word
//    with acquire (ReserveLocked, ReclaimHeadLocked, MakeRoomLocked, FitAroundKeptLocked,
//    KeptBytesWithinLocked): a reader's last access happens before the next writer's first.
//    Every transition being acq_rel, the last releaser, the reclaimer and recovery also see
//    each other's writes to `pending` and `due`.
//  - pending-count: `pending` is decremented only by a holder (acq_rel CAS), and stored
//    (release) by Retire and by the allocator when it drops or lapses deliveries; whoever is
//    about to free the message loads it with acquire after an acquire load of `state` that
//    saw the last holder's release, so the free decision sees the final count.
//  - due-mask: a subscriber clears its bit from `due` (acq_rel RMW) while it holds the
//    message; leaving, recovery and drop-oldest clear bits the same way. A would-be freer
//    loads `due` with acquire (CanFree, MakeRoomLocked, KeepLocked, the subscriber's look).
//  - head-seq: the allocator stores `head_seq` (release) after the messages it passes are
//    freed or kept; a reader that loads it (acquire) past s knows s has left the window.
//  - kept-entry: KeepLocked writes a kept entry's fields, then its `state` (release); a
//    lookup loads the entry's state (acquire) before its fields (LocateMessage, the
//    allocator's scans, recovery, stats). Entries are freed by a release store or an acq_rel
//    CAS on that word (message-release).
//  - kept-move: KeepLocked's acq_rel CAS of the descriptor to kKept pairs with every holder's
//    acquire load of the descriptor: whoever sees kKept sees the entry (kept-entry).
//  - kept-high: `kept_high` is raised (release) before an entry above it can be found, and
//    lowered over free entries; lookups bound their scan by an acquire load (kept_bound).
//  - attachment-pid: an attachment slot is claimed by an acq_rel CAS of its `pid` and freed
//    by a release store of 0 after its other fields are reset; readers of the slot (recovery,
//    the allocator lock's owner check, stats) load `pid` with acquire first.
//  - subscriber-owner: a subscriber entry's fields are written before its `owner` is stored
//    (release) on join, and its bits are cleared before `owner` is stored 0 on leave; readers
//    (join's search, Next, Leave, recovery, stats) load `owner` with acquire first.
//  - segment-magic: Ring::Format stores the header's magic last (release), so a header
//    checked on the same mapping is whole once its magic reads right; across processes
//    renameat2 publishes the formatted segment's name, and attachers check the magic first.
//  - space-epoch, commit-epoch: futex epochs, seq_cst on both sides — the waker bumps the
//    epoch, then checks the waiter count (BumpAndWake); the waiter reads the epoch, looks for
//    work, registers, then FUTEX_WAITs on the value it read. The Dekker pattern that rules
//    out a lost wake-up.
//  - Everything else is relaxed: statistics, never used to decide anything, and fields read
//    only under a pair above or under alloc_mutex (next_seq, head_seq and tail change only
//    under it; they are atomics so readers and statistics may read them without it).

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
    return std::min(header->kept_high.load(std::memory_order_acquire), max_kept);  // SYNC POINT kept-high (acquire)
  }
  /// Whether this object was attached by the calling process (not inherited across fork()).
  bool owned_by_this_process() const { return sys::ForkGeneration() == fork_generation; }

  ~RingState() {
    if (attachments == nullptr || attachment >= layout::kMaxAttachments) return;  // Never attached.
    if (!owned_by_this_process()) return;  // A fork child's copy: the slot is the parent's.
    FreeAttachmentSlot(self());
  }

  /// Empties an attachment slot (its counters, then its pid, which frees it for the next
  /// attacher): at detach, and by recovery for a dead process.
  static void FreeAttachmentSlot(Attachment& slot) {
    slot.write_bytes.store(0, std::memory_order_relaxed);
    slot.read_bytes.store(0, std::memory_order_relaxed);
    slot.write_refs.store(0, std::memory_order_relaxed);
    slot.read_refs.store(0, std::memory_order_relaxed);
    slot.start_time.store(0, std::memory_order_relaxed);
    slot.pid.store(0, std::memory_order_release);  // SYNC POINT attachment-pid (release)
  }
};

constexpr uint64_t RoundUp(uint64_t value, uint64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

/// Bumps a futex epoch and wakes its waiters, if any (the waiter registers before it waits).
inline void BumpAndWake(std::atomic<uint32_t>& epoch, std::atomic<uint32_t>& waiters) {
  // SYNC POINT space-epoch, commit-epoch (seq_cst: bump, then check waiters)
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
                                      " (before a fork); attach again in process " + std::to_string(sys::CurrentPid())};
  }
  return Ok();
}

}  // namespace arrowring
