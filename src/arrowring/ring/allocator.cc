// The allocator: contiguous reservations at the tail of the byte ring (around kept messages,
// wrapping early while the ring holds little), reclaiming the head, and making room when no
// free run holds a message: retained messages give way, held ones are kept outside the
// window, and drop-oldest drops what subscribers or handles are still owed.
#include <bit>
#include <chrono>

#include "arrowring/ring/internal/allocator_internal.h"
#include "arrowring/ring/internal/allocator_lock_internal.h"
#include "arrowring/ring/internal/kept_internal.h"
#include "arrowring/ring/internal/message_lifecycle_internal.h"
#include "arrowring/ring/internal/recovery_internal.h"
#include "arrowring/ring/streaming_copy.h"

namespace arrowring {

// Messages of the size being placed that a warm window holds at least.
constexpr uint64_t kWarmMessages = 8;

namespace {

// Under the allocator lock: moves the window's oldest message to the kept table if only readers
// still hold it (committed, no subscriber due, no handle load owed) and advances the head.
bool KeepHeadIfOnlyReadersHoldItLocked(RingState& ring) {
  const uint64_t head = ring.header->head_seq.load(std::memory_order_relaxed);
  const MessageDescriptor& d = ring.descriptor(head);
  const uint32_t pending = d.pending.load(std::memory_order_acquire);  // SYNC POINT pending-count (acquire)
  if (pending != 0 && pending != layout::kRetained) return false;
  if (!KeepLocked(ring, head)) return false;
  ReclaimHeadLocked(ring);
  return true;
}

}  // namespace

// Returns the reserved span for a fresh allocation, or empty when there is no room.
std::optional<std::pair<uint64_t, std::span<std::byte>>> ReserveLocked(RingState& ring, uint64_t size) {
  RingHeader& h = *ring.header;
  const uint64_t reserve = RoundUp(size, layout::kMessageAlignment);
  const uint64_t seq = h.next_seq.load(std::memory_order_relaxed);
  if (seq - h.head_seq.load(std::memory_order_relaxed) >= ring.message_limit) {
    return std::nullopt;  // As many messages as allowed.
  }
  const uint64_t tail = h.tail.load(std::memory_order_relaxed);
  const uint64_t lap = RoundUp(tail, ring.capacity);
  std::optional<uint64_t> begin;
  uint64_t head_position;
  // Warm writes: once the tail is a warm window of free bytes past where a message would land
  // at the front (the first free run there, around kept messages), wrap early rather than
  // cycle through the whole capacity (cold memory) while the ring holds little. A retaining
  // ring keeps history in that capacity instead. The window counts free bytes only — kept
  // messages inside it would otherwise shrink it to a message or two — and holds at least
  // kWarmMessages messages of this size, so that wrapping early keeps that many in flight
  // between the writer and the slowest reader (with fewer, they take turns: 1-2 MiB windows
  // moved 1 MiB tables at 0.4-1.3 GB/s, docs/design.md).
  const uint64_t window = std::max(ring.warm_bytes, kWarmMessages * reserve);
  const bool warm = !ring.retain && ring.warm_bytes != 0 && tail % ring.capacity >= window;
  for (int moved = 0;; ++moved) {
    const uint64_t head = h.head_seq.load(std::memory_order_relaxed);
    if (head == seq) {
      // Empty window: start at the front (physical 0 of the next lap), so that the whole
      // capacity but what readers keep is one run, and the bytes written last are the warmest.
      begin = FitAroundKeptLocked(ring, lap, reserve, lap + ring.capacity);
      head_position = begin.value_or(lap);
      break;
    }
    head_position = ring.descriptor(head).begin.load(std::memory_order_relaxed);
    const uint64_t limit = head_position + ring.capacity;  // never past the oldest message
    if (!warm) break;
    const auto early = FitAroundKeptLocked(ring, lap, reserve, limit);
    if (early) {
      const uint64_t landing = *early % ring.capacity, end = tail % ring.capacity;
      if (landing < end && end - landing - KeptBytesWithinLocked(ring, landing, end) >= window) begin = early;
      break;
    }
    // The front is held by the oldest message of the window: if only readers hold it, it is
    // kept out of the window now (as it would be once the writer came round to it), so the
    // writer stays warm instead of cycling through the whole ring to get there.
    if (moved == static_cast<int>(kWarmMessages) || !KeepHeadIfOnlyReadersHoldItLocked(ring)) break;
  }
  if (!begin && h.head_seq.load(std::memory_order_relaxed) != seq) {
    begin = FitAroundKeptLocked(ring, tail, reserve, head_position + ring.capacity);
  }
  if (!begin) return std::nullopt;
  const uint64_t end = *begin + reserve;
  // Wrapping to a later lap: the lap just finished says how many bytes the writer writes
  // before it writes the same place again (WriteSlot::cold): the lap's length less the kept
  // messages in it, which it went around (mostly kept from earlier laps: a hint, not a count).
  const uint64_t tail_lap = tail == 0 ? 0 : (tail - 1) / ring.capacity;
  if (tail != 0 && *begin / ring.capacity > tail_lap) {
    const uint64_t used = tail - tail_lap * ring.capacity;
    h.last_lap_bytes.store(used - std::min(used, KeptBytesWithinLocked(ring, 0, used)), std::memory_order_relaxed);
  }

  MessageDescriptor& d = ring.descriptor(seq);
  // SYNC POINT message-release (acquire: the previous occupant is done)
  const uint64_t word = d.state.load(std::memory_order_acquire);
  d.seq.store(seq, std::memory_order_relaxed);
  d.begin.store(*begin, std::memory_order_relaxed);
  d.end.store(end, std::memory_order_relaxed);
  d.size.store(0, std::memory_order_relaxed);
  d.pending.store(0, std::memory_order_relaxed);
  d.pending_deadline_s.store(0, std::memory_order_relaxed);
  // Due to exactly the subscribers registered now: joins and leaves also hold the lock.
  d.due.store(h.subscriber_mask.load(std::memory_order_relaxed), std::memory_order_relaxed);
  d.commit_ns.store(0, std::memory_order_relaxed);
  d.writer.store(ring.attachment + 1, std::memory_order_relaxed);
  // Publication order matters for AllocatorLock::Repair: state, tail, then next_seq.
  // SYNC POINT next-seq (release)
  d.state.store(PackState(TagOf(word) + 1, MessageState::kWriting, 0), std::memory_order_release);
  h.tail.store(end, std::memory_order_relaxed);
  h.next_seq.store(seq + 1, std::memory_order_release);  // SYNC POINT next-seq (release)
  if (end - head_position > h.high_water_bytes.load(std::memory_order_relaxed)) {
    h.high_water_bytes.store(end - head_position, std::memory_order_relaxed);
  }
  ring.self().write_refs.fetch_add(1, std::memory_order_relaxed);
  ring.self().write_bytes.fetch_add(reserve, std::memory_order_relaxed);
  return std::pair{seq, std::span<std::byte>(ring.data + *begin % ring.capacity, reserve)};
}

// Under the allocator lock: advances head_seq over messages that are free or kept elsewhere,
// freeing committed ones that nobody holds and nobody is still due to acquire. Returns bytes
// made reusable.
uint64_t ReclaimHeadLocked(RingState& ring) {
  RingHeader& h = *ring.header;
  uint64_t head = h.head_seq.load(std::memory_order_relaxed);
  const uint64_t next = WindowEnd(ring, head, h.next_seq.load(std::memory_order_relaxed));
  const uint64_t old_head = head;
  uint64_t begin_before = head < next ? ring.descriptor(head).begin.load(std::memory_order_relaxed) : 0;
  while (head < next) {
    MessageDescriptor& d = ring.descriptor(head);
    // SYNC POINT message-release (acquire): the last holder's release CAS is seen before the
    // space is reused.
    uint64_t word = d.state.load(std::memory_order_acquire);
    if (StateOf(word) == MessageState::kCommitted && HoldersOf(word) == 0) {
      // A message whose descriptor was scribbled on is dropped at once: its reservation cannot
      // be trusted to place the next one, and no reader can take it (they get kCorrupt).
      const Freeable freeable =
          CheckDescriptor(ring, d, head) ? CanFree(d, /*allow_lapse=*/true, ring.retain) : Freeable::kLapsed;
      if (freeable != Freeable::kNo) {
        // SYNC POINT message-release (acq_rel CAS: freed)
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
    if (StateOf(word) != MessageState::kFree && StateOf(word) != MessageState::kKept) break;
    ++head;
  }
  if (head == old_head) return 0;
  h.head_seq.store(head, std::memory_order_release);  // SYNC POINT head-seq (release)
  const uint64_t begin_after = head < next ? ring.descriptor(head).begin.load(std::memory_order_relaxed)
                                           : h.tail.load(std::memory_order_relaxed);
  return begin_after - begin_before;
}

// Under the allocator lock: one step of making room at the head of the window, as the policy
// and the ring's retention allow. True when the head moved (or may move on a second look).
bool MakeRoomLocked(RingState& ring) {
  RingHeader& h = *ring.header;
  const uint64_t head = h.head_seq.load(std::memory_order_relaxed);
  if (head >= h.next_seq.load(std::memory_order_relaxed)) return false;
  MessageDescriptor& d = ring.descriptor(head);
  uint64_t word = d.state.load(std::memory_order_acquire);  // SYNC POINT message-commit, message-release (acquire)
  // Being written (wait for it), or not what the descriptor should hold (ReclaimHeadLocked
  // drops a scribbled one).
  if (StateOf(word) != MessageState::kCommitted || d.seq.load(std::memory_order_relaxed) != head ||
      !CheckDescriptor(ring, d, head)) {
    return false;
  }
  const uint32_t pending = d.pending.load(std::memory_order_acquire);  // SYNC POINT pending-count (acquire)
  const bool retained = pending == layout::kRetained;
  const bool lapsed = pending != 0 && !retained && pending != WriteSlot::kUntilDropped && DeliveriesLapsed(d);
  // SYNC POINT due-mask (acquire)
  const bool owed = d.due.load(std::memory_order_acquire) != 0 || (pending != 0 && !retained && !lapsed);
  // Owed to a subscriber or to handle loads: only drop-oldest takes it from them. Lapsed
  // deliveries are gone under every policy.
  if (owed && h.policy != static_cast<uint32_t>(Policy::kDropOldest)) return false;
  // Each subscriber still due misses it, counted; the message counts as dropped when someone
  // missed it or its bytes go (a held one stays loadable, kept by its readers).
  uint32_t missed_by = 0;
  if (owed) {
    missed_by = d.due.exchange(0, std::memory_order_acq_rel);  // SYNC POINT due-mask (acq_rel RMW)
    for (uint32_t due = missed_by; due != 0; due &= due - 1) {
      ring.subscribers[std::countr_zero(due)].missed.fetch_add(1, std::memory_order_relaxed);
    }
  }
  if (owed || lapsed) {
    // SYNC POINT pending-count (release)
    d.pending.store(ring.retain ? layout::kRetained : 0, std::memory_order_release);
    word = d.state.load(std::memory_order_acquire);  // SYNC POINT message-release (acquire)
  }
  bool dropped = missed_by != 0;
  bool moved = false;
  if (StateOf(word) != MessageState::kCommitted) {
    moved = true;  // Its last holder freed it meanwhile (and read it: not dropped).
  } else if (HoldersOf(word) == 0) {
    // Nobody holds it: free it (a retained message gives way).
    // SYNC POINT message-release (acq_rel CAS: freed)
    if (d.state.compare_exchange_strong(word, PackState(TagOf(word), MessageState::kFree, 0),
                                        std::memory_order_acq_rel)) {
      dropped = dropped || owed || (lapsed && !ring.retain);
      if (!dropped && retained) {
        h.messages_given_way.fetch_add(1, std::memory_order_relaxed);
        h.bytes_given_way.fetch_add(d.size.load(std::memory_order_relaxed), std::memory_order_relaxed);
      }
    }
    moved = true;  // Freed, or a reader got in first: look again.
  } else {
    // Held by readers only: they keep it outside the window, and new messages go around it.
    moved = KeepLocked(ring, head);
  }
  if (dropped) {
    h.messages_dropped.fetch_add(1, std::memory_order_relaxed);
    h.bytes_dropped.fetch_add(d.size.load(std::memory_order_relaxed), std::memory_order_relaxed);
  }
  if (moved) ReclaimHeadLocked(ring);
  return moved;
}

namespace {

// Under the allocator lock, when no room was made: whether a dead process could be what holds
// the space. Not when the head is committed, unheld and owed only to handle loads and nothing
// is kept: no process holds anything there, and recovery's look at every attached process
// (/proc reads, ~15 µs each) would run under the lock on every attempt of every waiting writer.
bool RecoveryCouldHelpLocked(const RingState& ring) {
  const RingHeader& h = *ring.header;
  const uint64_t head = h.head_seq.load(std::memory_order_relaxed);
  if (head >= h.next_seq.load(std::memory_order_relaxed) || ring.kept_bound() != 0) return true;
  const MessageDescriptor& d = ring.descriptor(head);
  const uint64_t word = d.state.load(std::memory_order_acquire);  // SYNC POINT message-release (acquire)
  return StateOf(word) != MessageState::kCommitted || HoldersOf(word) != 0 ||
         d.due.load(std::memory_order_acquire) != 0;  // SYNC POINT due-mask (acquire)
}

}  // namespace

Result<std::optional<WriteSlot>> Ring::TryAllocate(uint64_t size) {
  if (auto process = CheckProcess(*state_); !process) return process.error();
  if (size == 0 || size > state_->capacity) {
    return Error{size == 0 ? Errc::kInvalidArgument : Errc::kTooLarge,
                 "a message of " + std::to_string(size) + " bytes does not fit ring '" + state_->name +
                     "' (messages are 1 to " + std::to_string(state_->capacity) +
                     " bytes); use a bigger ring or the copying fallback"};
  }
  RingState& ring = *state_;
  AllocatorLock lock(ring);
  if (!lock.ok()) return lock.error();
  ReclaimHeadLocked(ring);
  ShrinkKeptHighLocked(ring);
  auto reserved = ReserveLocked(ring, size);
  // No free run holds it: give way, keep, or drop at the head, one message at a time, as
  // retention and the policy allow; then look for dead processes' holds.
  while (!reserved && MakeRoomLocked(ring)) reserved = ReserveLocked(ring, size);
  if (!reserved && RecoveryCouldHelpLocked(ring) && !RecoverLocked(ring).empty()) {
    reserved = ReserveLocked(ring, size);
    while (!reserved && MakeRoomLocked(ring)) reserved = ReserveLocked(ring, size);
  }
  if (!reserved) return std::optional<WriteSlot>();
  // Cold: the writer comes back to these bytes only after a lap longer than the cache keeps, or
  // the message alone is that long (its start is evicted before its end is written; this also
  // covers a ring's first lap, which has no last lap yet).
  const bool cold = IsColdLap(ring.header->last_lap_bytes.load(std::memory_order_relaxed)) || size >= ColdLapBytes();
  return std::optional<WriteSlot>(WriteSlot(state_, reserved->first, reserved->second, size, cold));
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
    const uint32_t epoch = h.space_epoch.load(std::memory_order_seq_cst);  // SYNC POINT space-epoch (seq_cst)
    auto slot = TryAllocate(size);
    if (!slot || slot->has_value() || h.policy == static_cast<uint32_t>(Policy::kFail)) return slot;
    const auto waited = std::chrono::steady_clock::now() - start;
    if (timeout != kWaitForever && waited >= timeout) return slot;
    const auto remaining = timeout == kWaitForever
                               ? std::chrono::nanoseconds(kRecoverySlice)
                               : std::min<std::chrono::nanoseconds>(timeout - waited, kRecoverySlice);
    h.space_waiters.fetch_add(1, std::memory_order_seq_cst);  // SYNC POINT space-epoch (seq_cst)
    sys::FutexWait(&h.space_epoch, epoch, remaining);
    h.space_waiters.fetch_sub(1, std::memory_order_seq_cst);  // SYNC POINT space-epoch (seq_cst)
  }
}

}  // namespace arrowring
