// The allocator: contiguous reservations at the tail of the byte ring, reclaiming the head,
// and what each full-ring policy (block, fail, drop-oldest) does when there is no room.
#include <bit>
#include <chrono>

#include "arrowring/ring/allocator_internal.h"
#include "arrowring/ring/allocator_lock_internal.h"
#include "arrowring/ring/message_lifecycle_internal.h"
#include "arrowring/ring/recovery_internal.h"

namespace arrowring {

// Returns the reserved span for a fresh allocation, or empty when there is no room.
std::optional<std::pair<uint64_t, std::span<std::byte>>> ReserveLocked(RingState& ring, uint64_t size) {
  RingHeader& h = *ring.header;
  const uint64_t reserve = RoundUp(size, layout::kMessageAlignment);
  const uint64_t head = h.head_seq.load(std::memory_order_relaxed);
  const uint64_t seq = h.next_seq.load(std::memory_order_relaxed);
  if (seq - head >= ring.message_limit) return std::nullopt;  // As many messages as allowed.
  const uint64_t tail = h.tail.load(std::memory_order_relaxed);
  uint64_t begin, head_position;
  if (head == seq) {
    // Empty: start at physical offset 0 so that the whole capacity is one contiguous run.
    begin = RoundUp(tail, ring.capacity);
    head_position = begin;
  } else {
    begin = tail;
    if (begin % ring.capacity + reserve > ring.capacity) begin = RoundUp(begin, ring.capacity);
    head_position = ring.descriptor(head).begin.load(std::memory_order_relaxed);
  }
  const uint64_t end = begin + reserve;
  if (end - head_position > ring.capacity) return std::nullopt;

  MessageDescriptor& d = ring.descriptor(seq);
  const uint64_t word = d.state.load(std::memory_order_acquire);
  d.seq.store(seq, std::memory_order_relaxed);
  d.begin.store(begin, std::memory_order_relaxed);
  d.end.store(end, std::memory_order_relaxed);
  d.size.store(0, std::memory_order_relaxed);
  d.pending.store(0, std::memory_order_relaxed);
  d.pending_deadline_s.store(0, std::memory_order_relaxed);
  // Due to exactly the subscribers registered now: joins and leaves also hold the lock.
  d.due.store(h.subscriber_mask.load(std::memory_order_relaxed), std::memory_order_relaxed);
  d.commit_ns.store(0, std::memory_order_relaxed);
  d.writer.store(ring.attachment + 1, std::memory_order_relaxed);
  // Publication order matters for AllocatorLock::Repair: state, tail, then next_seq.
  d.state.store(PackState(TagOf(word) + 1, MessageState::kWriting, 0), std::memory_order_release);
  h.tail.store(end, std::memory_order_relaxed);
  h.next_seq.store(seq + 1, std::memory_order_release);
  if (end - head_position > h.high_water_bytes.load(std::memory_order_relaxed)) {
    h.high_water_bytes.store(end - head_position, std::memory_order_relaxed);
  }
  ring.self().write_refs.fetch_add(1, std::memory_order_relaxed);
  ring.self().write_bytes.fetch_add(reserve, std::memory_order_relaxed);
  return std::pair{seq, std::span<std::byte>(ring.data + begin % ring.capacity, reserve)};
}

// Under the allocator lock: advances head_seq over messages that are free, freeing committed
// ones that nobody holds and nobody is still due to acquire. Returns bytes made reusable.
uint64_t ReclaimHeadLocked(RingState& ring) {
  RingHeader& h = *ring.header;
  uint64_t head = h.head_seq.load(std::memory_order_relaxed);
  const uint64_t next = WindowEnd(ring, head, h.next_seq.load(std::memory_order_relaxed));
  const uint64_t old_head = head;
  uint64_t begin_before = head < next ? ring.descriptor(head).begin.load(std::memory_order_relaxed) : 0;
  while (head < next) {
    MessageDescriptor& d = ring.descriptor(head);
    uint64_t word = d.state.load(std::memory_order_acquire);
    if (StateOf(word) == MessageState::kCommitted && HoldersOf(word) == 0) {
      // A message whose descriptor was scribbled on is dropped at once: its reservation cannot
      // be trusted to place the next one, and no reader can take it (they get kCorrupt).
      const Freeable freeable =
          CheckDescriptor(ring, d, head) ? CanFree(d, /*allow_lapse=*/true) : Freeable::kLapsed;
      if (freeable != Freeable::kNo) {
        if (!d.state.compare_exchange_strong(word, PackState(TagOf(word), MessageState::kFree, 0),
                                             std::memory_order_acq_rel)) {
          continue;  // A reader got in first; look again.
        }
        if (freeable == Freeable::kLapsed) {
          h.messages_dropped.fetch_add(1, std::memory_order_relaxed);
          h.bytes_dropped.fetch_add(d.size.load(std::memory_order_relaxed), std::memory_order_relaxed);
        }
        word = PackState(TagOf(word), MessageState::kFree, 0);
      }
    }
    if (StateOf(word) != MessageState::kFree) break;
    ++head;
  }
  if (head == old_head) return 0;
  h.head_seq.store(head, std::memory_order_release);
  const uint64_t begin_after =
      head < next ? ring.descriptor(head).begin.load(std::memory_order_relaxed)
                  : h.tail.load(std::memory_order_relaxed);
  return begin_after - begin_before;
}

// Under the allocator lock: drops the oldest message if it is committed and unheld.
bool DropOldestLocked(RingState& ring) {
  RingHeader& h = *ring.header;
  const uint64_t head = h.head_seq.load(std::memory_order_relaxed);
  if (head >= h.next_seq.load(std::memory_order_relaxed)) return false;
  MessageDescriptor& d = ring.descriptor(head);
  uint64_t word = d.state.load(std::memory_order_acquire);
  if (StateOf(word) != MessageState::kCommitted || HoldersOf(word) != 0) return false;
  if (!d.state.compare_exchange_strong(word, PackState(TagOf(word), MessageState::kFree, 0),
                                       std::memory_order_acq_rel)) {
    return false;
  }
  h.messages_dropped.fetch_add(1, std::memory_order_relaxed);
  h.bytes_dropped.fetch_add(d.size.load(std::memory_order_relaxed), std::memory_order_relaxed);
  // Every subscriber still due to take it missed it; its next delivery says so.
  for (uint32_t due = d.due.exchange(0, std::memory_order_acq_rel); due != 0; due &= due - 1) {
    ring.subscribers[std::countr_zero(due)].missed.fetch_add(1, std::memory_order_relaxed);
  }
  ReclaimHeadLocked(ring);
  return true;
}

Result<std::optional<WriteSlot>> Ring::TryAllocate(uint64_t size) {
  if (auto process = CheckProcess(*state_); !process) return process.error();
  if (size == 0 || size > state_->capacity) {
    return Error{size == 0 ? Errc::kInvalidArgument : Errc::kTooLarge,
                 "a message of " + std::to_string(size) + " bytes does not fit ring '" +
                     state_->name + "' (messages are 1 to " + std::to_string(state_->capacity) +
                     " bytes); use a bigger ring or the copying fallback"};
  }
  RingState& ring = *state_;
  AllocatorLock lock(ring);
  if (!lock.ok()) return lock.error();
  ReclaimHeadLocked(ring);
  auto reserved = ReserveLocked(ring, size);
  if (!reserved && ring.header->policy == static_cast<uint32_t>(Policy::kDropOldest)) {
    while (!reserved && DropOldestLocked(ring)) reserved = ReserveLocked(ring, size);
  }
  if (!reserved && !RecoverLocked(ring).empty()) reserved = ReserveLocked(ring, size);
  if (!reserved) return std::optional<WriteSlot>();
  return std::optional<WriteSlot>(WriteSlot(state_, reserved->first, reserved->second, size));
}

Result<std::optional<WriteSlot>> Ring::Allocate(uint64_t size, std::chrono::nanoseconds timeout) {
  if (timeout.count() < 0) {
    return Error{Errc::kInvalidArgument, "timeout must not be negative"};
  }
  RingHeader& h = *state_->header;
  const auto start = std::chrono::steady_clock::now();
  // How often a waiter looks for dead holders while it waits: a process killed while
  // holding space wakes nobody, so waiting is cut into slices of this length.
  constexpr std::chrono::milliseconds kRecoverySlice{50};
  while (true) {
    const uint32_t epoch = h.space_epoch.load(std::memory_order_seq_cst);
    auto slot = TryAllocate(size);
    if (!slot || slot->has_value() || h.policy == static_cast<uint32_t>(Policy::kFail)) return slot;
    const auto waited = std::chrono::steady_clock::now() - start;
    if (timeout != kWaitForever && waited >= timeout) return slot;
    const auto remaining = timeout == kWaitForever
                               ? std::chrono::nanoseconds(kRecoverySlice)
                               : std::min<std::chrono::nanoseconds>(timeout - waited, kRecoverySlice);
    h.space_waiters.fetch_add(1, std::memory_order_seq_cst);
    sys::FutexWait(&h.space_epoch, epoch, remaining);
    h.space_waiters.fetch_sub(1, std::memory_order_seq_cst);
  }
}

}  // namespace arrowring
