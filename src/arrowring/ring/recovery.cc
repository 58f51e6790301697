// Attachments and crash recovery: claiming an attachment slot, and reclaiming what processes
// that died (or were killed) held — read references, half-written messages, subscribers.
#include <cstring>

#include "arrowring/ring/internal/allocator_internal.h"
#include "arrowring/ring/internal/allocator_lock_internal.h"
#include "arrowring/ring/internal/kept_internal.h"
#include "arrowring/ring/internal/recovery_internal.h"
#include "arrowring/ring/internal/subscription_internal.h"

namespace arrowring {

namespace {

// Logical position of the oldest byte still reserved (the tail when the ring is empty): the
// space recovery returns is how far it moves.
uint64_t HeadPosition(RingState& ring) {
  RingHeader& h = *ring.header;
  const uint64_t head = h.head_seq.load(std::memory_order_relaxed);
  const uint64_t next = WindowEnd(ring, head, h.next_seq.load(std::memory_order_relaxed));
  return head < next ? ring.descriptor(head).begin.load(std::memory_order_relaxed)
                     : h.tail.load(std::memory_order_relaxed);
}

}  // namespace

// Under the allocator lock: releases everything attachments of dead processes held.
RecoveryReport RecoverLocked(RingState& ring) {
  RecoveryReport report;
  RingHeader& h = *ring.header;
  const uint64_t head_before = HeadPosition(ring);
  for (uint32_t i = 0; i < layout::kMaxAttachments; ++i) {
    if (i == ring.attachment) continue;
    Attachment& a = ring.attachments[i];
    const uint64_t pid = a.pid.load(std::memory_order_acquire);  // SYNC POINT attachment-pid (acquire)
    if (pid == 0 || sys::ProcessAlive(pid, a.start_time.load(std::memory_order_relaxed))) continue;
    report.dead_pids.push_back(pid);
    const uint64_t bit = uint64_t{1} << i;
    const uint64_t head = h.head_seq.load(std::memory_order_relaxed);
    const uint64_t next = WindowEnd(ring, head, h.next_seq.load(std::memory_order_relaxed));
    for (uint64_t seq = head; seq < next; ++seq) {
      MessageDescriptor& d = ring.descriptor(seq);
      uint64_t word = d.state.load(std::memory_order_acquire);  // SYNC POINT message-release (acquire)
      while (StateOf(word) != MessageState::kKept) {            // kKept: its holders are in the kept table
        uint64_t desired = word;
        bool released = false, aborted = false;
        if (HoldersOf(word) & bit) {
          desired &= ~bit;
          released = true;
        }
        if (StateOf(word) == MessageState::kWriting && d.writer.load(std::memory_order_relaxed) == i + 1) {
          desired = PackState(TagOf(word), MessageState::kFree, 0);
          aborted = true;
        }
        if (!released && !aborted) break;
        // SYNC POINT message-release (acq_rel CAS: a dead holder released, a dead write aborted)
        if (d.state.compare_exchange_weak(word, desired, std::memory_order_acq_rel)) {
          report.released_references += released;
          report.aborted_writes += aborted;
          if (aborted) {
            d.writer.store(0, std::memory_order_relaxed);
            h.messages_aborted.fetch_add(1, std::memory_order_relaxed);
          }
          break;
        }
      }
    }
    const auto [kept_released, kept_freed] = ReleaseKeptOfLocked(ring, bit);
    report.released_references += kept_released;
    report.reclaimed_bytes += kept_freed;
    for (uint32_t s = 0; s < layout::kMaxSubscribers; ++s) {
      // SYNC POINT subscriber-owner (acquire)
      if (ring.subscribers[s].owner.load(std::memory_order_acquire) == i + 1) {
        RemoveSubscriberLocked(ring, s);
        ++report.removed_subscribers;
      }
    }
    RingState::FreeAttachmentSlot(a);
  }
  if (!report.empty()) {
    h.recoveries.fetch_add(1, std::memory_order_relaxed);
    // Removing a dead subscriber already reclaims what only it was due to read: count the
    // head's whole move since the start, not only this last step's.
    ReclaimHeadLocked(ring);
    report.reclaimed_bytes += HeadPosition(ring) - head_before;
    BumpAndWake(h.space_epoch, h.space_waiters);
    // Subscribers waiting at an aborted message move on.
    BumpAndWake(h.commit_epoch, h.commit_waiters);
  }
  return report;
}

namespace {

Result<uint32_t> ClaimAttachment(RingState& ring) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (uint32_t i = 0; i < layout::kMaxAttachments; ++i) {
      uint64_t expected = 0;
      // SYNC POINT attachment-pid (acq_rel RMW)
      if (ring.attachments[i].pid.compare_exchange_strong(expected, ring.pid, std::memory_order_acq_rel)) {
        ring.attachments[i].start_time.store(sys::ProcessStartTime(ring.pid), std::memory_order_relaxed);
        return i;
      }
    }
    // Full: free the slots of dead processes and look again.
    ring.attachment = layout::kMaxAttachments;  // Not one of ours yet: recover every slot.
    AllocatorLock lock(ring);
    if (!lock.ok()) return lock.error();
    RecoverLocked(ring);
  }
  return Error{Errc::kTooManyAttachments, "all " + std::to_string(layout::kMaxAttachments) +
                                              " attachment slots of ring '" + ring.name +
                                              "' are held by live processes; detach some first"};
}

std::shared_ptr<RingState> MakeState(std::span<std::byte> memory, std::shared_ptr<void> keep_alive) {
  auto state = std::make_shared<RingState>();
  state->keep_alive = std::move(keep_alive);
  auto* base = memory.data();
  state->header = reinterpret_cast<RingHeader*>(base);
  state->attachments = reinterpret_cast<Attachment*>(base + layout::AttachmentsOffset());
  state->subscribers = reinterpret_cast<layout::Subscriber*>(base + layout::SubscribersOffset());
  state->descriptors = reinterpret_cast<MessageDescriptor*>(base + layout::DescriptorsOffset());
  state->kept = reinterpret_cast<KeptMessage*>(base + state->header->kept_offset);
  state->max_kept = state->header->max_kept;
  state->retain = (state->header->flags & layout::kFlagRetain) != 0;
  state->warm_bytes = state->header->warm_bytes;
  state->data = base + state->header->data_offset;
  state->capacity = state->header->capacity;
  state->index_mask = state->header->max_messages - 1;
  state->message_limit = state->header->message_limit;
  state->pid = sys::CurrentPid();
  state->fork_generation = sys::ForkGeneration();
  state->name.assign(state->header->name, strnlen(state->header->name, layout::kMaxNameLength));
  return state;
}

}  // namespace

Result<std::shared_ptr<RingState>> AttachState(std::span<std::byte> memory, std::shared_ptr<void> keep_alive) {
  auto state = MakeState(memory, std::move(keep_alive));
  auto index = ClaimAttachment(*state);
  if (!index) return index.error();  // attachment == kMaxAttachments: nothing to free.
  state->attachment = *index;
  state->bit = uint64_t{1} << *index;
  return state;
}

RecoveryReport Ring::Recover() {
  AllocatorLock lock(*state_);
  if (!lock.ok()) return {};  // A scribbled allocator mutex: allocations say so (kCorrupt).
  auto report = RecoverLocked(*state_);
  report.reclaimed_bytes += ReclaimHeadLocked(*state_);
  return report;
}

}  // namespace arrowring
