#include "arrowring/ring/ring.h"

#include <sys/random.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <unordered_map>

#include "arrowring/ring/layout.h"
#include "arrowring/ring/segment.h"
#include "arrowring/ring/system.h"

namespace arrowring {

using layout::Attachment;
using layout::HoldersOf;
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

struct RingState {
  std::shared_ptr<void> keep_alive;
  RingHeader* header = nullptr;
  Attachment* attachments = nullptr;
  layout::Subscriber* subscribers = nullptr;
  MessageDescriptor* descriptors = nullptr;
  std::byte* data = nullptr;
  uint64_t capacity = 0;
  uint64_t index_mask = 0;
  uint64_t message_limit = 0;  // header's, checked at attach (1..M)
  uint32_t attachment = 0;
  uint64_t bit = 0;
  uint64_t pid = 0;
  uint64_t fork_generation = 0;  // sys::ForkGeneration() when attached
  std::string name;

  // Read references of this attachment per message: the shared holder bit is set while the
  // count is positive. Guarded by local_mutex.
  std::mutex local_mutex;
  std::unordered_map<uint64_t, uint32_t> local_refs;

  MessageDescriptor& descriptor(uint64_t seq) const { return descriptors[seq & index_mask]; }
  Attachment& self() const { return attachments[attachment]; }

  ~RingState() {
    if (attachments == nullptr || attachment >= layout::kMaxAttachments) return;  // Never attached.
    Attachment& me = self();
    me.write_bytes.store(0, std::memory_order_relaxed);
    me.read_bytes.store(0, std::memory_order_relaxed);
    me.write_refs.store(0, std::memory_order_relaxed);
    me.read_refs.store(0, std::memory_order_relaxed);
    me.start_time.store(0, std::memory_order_relaxed);
    me.pid.store(0, std::memory_order_release);
  }
};

namespace {

constexpr uint64_t RoundUp(uint64_t value, uint64_t multiple) {
  return (value + multiple - 1) / multiple * multiple;
}

uint32_t RoundUpPowerOfTwo(uint64_t value) {
  uint32_t result = 1;
  while (result < value) result <<= 1;
  return result;
}

void BumpAndWake(std::atomic<uint32_t>& epoch, std::atomic<uint32_t>& waiters) {
  epoch.fetch_add(1, std::memory_order_seq_cst);
  if (waiters.load(std::memory_order_seq_cst) != 0) sys::FutexWakeAll(&epoch);
}

// Holds alloc_mutex; repairs the allocator if its previous owner died inside (the robust
// mutex tells us with EOWNERDEAD).
class AllocatorLock {
 public:
  explicit AllocatorLock(RingState& ring) : ring_(ring) {
    const int result = pthread_mutex_lock(&ring_.header->alloc_mutex);
    if (result == EOWNERDEAD) {
      Repair();
      pthread_mutex_consistent(&ring_.header->alloc_mutex);
    }
  }
  ~AllocatorLock() { pthread_mutex_unlock(&ring_.header->alloc_mutex); }
  AllocatorLock(const AllocatorLock&) = delete;
  AllocatorLock& operator=(const AllocatorLock&) = delete;

 private:
  // An allocation publishes in this order: descriptor fields, descriptor state kWriting,
  // tail, next_seq. A dead allocator may have stopped anywhere; finish what it published.
  void Repair() {
    RingHeader& h = *ring_.header;
    const uint64_t next = h.next_seq.load(std::memory_order_relaxed);
    MessageDescriptor& d = ring_.descriptor(next);
    const uint64_t word = d.state.load(std::memory_order_acquire);
    if (StateOf(word) == MessageState::kWriting && d.seq.load(std::memory_order_relaxed) == next) {
      h.tail.store(std::max(h.tail.load(std::memory_order_relaxed),
                            d.end.load(std::memory_order_relaxed)),
                   std::memory_order_relaxed);
      h.next_seq.store(next + 1, std::memory_order_release);
    }
    h.recoveries.fetch_add(1, std::memory_order_relaxed);
  }
  RingState& ring_;
};

// Whether a committed message that no attachment holds may be freed: no subscriber is still
// due to take it and its handle deliveries are done — or lapsed (kLapsed: counted as dropped).
enum class Freeable { kNo, kDone, kLapsed };
Freeable CanFree(const MessageDescriptor& d, bool allow_lapse) {
  if (d.due.load(std::memory_order_acquire) != 0) return Freeable::kNo;
  const uint32_t pending = d.pending.load(std::memory_order_acquire);
  if (pending == 0) return Freeable::kDone;
  if (pending == WriteSlot::kUntilDropped) return Freeable::kNo;  // Only a drop or Retire().
  if (allow_lapse &&
      sys::MonotonicSeconds() >= d.pending_deadline_s.load(std::memory_order_relaxed)) {
    return Freeable::kLapsed;
  }
  return Freeable::kNo;
}

Error Stale(const Handle& handle, std::string_view why) {
  return {Errc::kStaleHandle, "message " + std::to_string(handle.sequence) + " of ring " +
                                  handle.ToString() + " " + std::string(why)};
}

// Under the allocator lock: advances head_seq over messages that are free, freeing committed
// ones that nobody holds and nobody is still due to acquire. Returns bytes made reusable.
uint64_t ReclaimHeadLocked(RingState& ring) {
  RingHeader& h = *ring.header;
  uint64_t head = h.head_seq.load(std::memory_order_relaxed);
  const uint64_t next = h.next_seq.load(std::memory_order_relaxed);
  const uint64_t old_head = head;
  uint64_t begin_before = head < next ? ring.descriptor(head).begin.load(std::memory_order_relaxed) : 0;
  while (head < next) {
    MessageDescriptor& d = ring.descriptor(head);
    uint64_t word = d.state.load(std::memory_order_acquire);
    if (StateOf(word) == MessageState::kCommitted && HoldersOf(word) == 0) {
      const Freeable freeable = CanFree(d, /*allow_lapse=*/true);
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

// Under the allocator lock: unregisters subscriber `index` and releases every message still
// due to it (the same whether it left or its process died).
void RemoveSubscriberLocked(RingState& ring, uint32_t index) {
  RingHeader& h = *ring.header;
  const uint32_t bit = uint32_t{1} << index;
  h.subscriber_mask.fetch_and(~bit, std::memory_order_relaxed);
  const uint64_t head = h.head_seq.load(std::memory_order_relaxed);
  const uint64_t next = h.next_seq.load(std::memory_order_relaxed);
  for (uint64_t seq = head; seq < next; ++seq) {
    ring.descriptor(seq).due.fetch_and(~bit, std::memory_order_acq_rel);
  }
  ring.subscribers[index].owner.store(0, std::memory_order_release);
  ReclaimHeadLocked(ring);
  BumpAndWake(h.space_epoch, h.space_waiters);
}

// Under the allocator lock: releases everything attachments of dead processes held.
RecoveryReport RecoverLocked(RingState& ring) {
  RecoveryReport report;
  RingHeader& h = *ring.header;
  for (uint32_t i = 0; i < layout::kMaxAttachments; ++i) {
    if (i == ring.attachment) continue;
    Attachment& a = ring.attachments[i];
    const uint64_t pid = a.pid.load(std::memory_order_acquire);
    if (pid == 0 || sys::ProcessAlive(pid, a.start_time.load(std::memory_order_relaxed))) continue;
    report.dead_pids.push_back(pid);
    const uint64_t bit = uint64_t{1} << i;
    const uint64_t head = h.head_seq.load(std::memory_order_relaxed);
    const uint64_t next = h.next_seq.load(std::memory_order_relaxed);
    for (uint64_t seq = head; seq < next; ++seq) {
      MessageDescriptor& d = ring.descriptor(seq);
      uint64_t word = d.state.load(std::memory_order_acquire);
      while (true) {
        uint64_t desired = word;
        bool released = false, aborted = false;
        if (HoldersOf(word) & bit) {
          desired &= ~bit;
          released = true;
        }
        if (StateOf(word) == MessageState::kWriting &&
            d.writer.load(std::memory_order_relaxed) == i + 1) {
          desired = PackState(TagOf(word), MessageState::kFree, 0);
          aborted = true;
        }
        if (!released && !aborted) break;
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
    for (uint32_t s = 0; s < layout::kMaxSubscribers; ++s) {
      if (ring.subscribers[s].owner.load(std::memory_order_acquire) == i + 1) {
        RemoveSubscriberLocked(ring, s);
        ++report.removed_subscribers;
      }
    }
    a.write_bytes.store(0, std::memory_order_relaxed);
    a.read_bytes.store(0, std::memory_order_relaxed);
    a.write_refs.store(0, std::memory_order_relaxed);
    a.read_refs.store(0, std::memory_order_relaxed);
    a.start_time.store(0, std::memory_order_relaxed);
    a.pid.store(0, std::memory_order_release);
  }
  if (!report.empty()) {
    h.recoveries.fetch_add(1, std::memory_order_relaxed);
    report.reclaimed_bytes = ReclaimHeadLocked(ring);
    BumpAndWake(h.space_epoch, h.space_waiters);
    // Subscribers waiting at an aborted message move on.
    BumpAndWake(h.commit_epoch, h.commit_waiters);
  }
  return report;
}

Result<uint32_t> ClaimAttachment(RingState& ring) {
  for (int attempt = 0; attempt < 2; ++attempt) {
    for (uint32_t i = 0; i < layout::kMaxAttachments; ++i) {
      uint64_t expected = 0;
      if (ring.attachments[i].pid.compare_exchange_strong(expected, ring.pid,
                                                          std::memory_order_acq_rel)) {
        ring.attachments[i].start_time.store(sys::ProcessStartTime(ring.pid),
                                             std::memory_order_relaxed);
        return i;
      }
    }
    // Full: free the slots of dead processes and look again.
    ring.attachment = layout::kMaxAttachments;  // Not one of ours yet: recover every slot.
    AllocatorLock lock(ring);
    RecoverLocked(ring);
  }
  return Error{Errc::kTooManyAttachments,
               "all " + std::to_string(layout::kMaxAttachments) + " attachment slots of ring '" +
                   ring.name + "' are held by live processes; detach some first"};
}

Error Mismatch(std::string_view what, uint64_t found, uint64_t expected) {
  return {Errc::kIncompatible, "ring header " + std::string(what) + " is " + std::to_string(found) +
                                   ", expected " + std::to_string(expected)};
}

Status CheckHeader(const RingHeader& h, uint64_t memory_bytes) {
  if (h.magic != layout::kMagic) {
    char found[20];
    std::snprintf(found, sizeof found, "0x%016llx", static_cast<unsigned long long>(h.magic));
    return Error{Errc::kIncompatible, std::string("not an arrowring ring: magic ") + found +
                                          ", expected 0x474e4952574f5241 (\"AROWRING\")"};
  }
  if (h.layout_version != layout::kLayoutVersion) {
    return Error{Errc::kIncompatible,
                 "ring layout version " + std::to_string(h.layout_version) +
                     ", this build of arrowring reads version " +
                     std::to_string(layout::kLayoutVersion) + ": use a matching arrowring"};
  }
  if (h.header_bytes != layout::kHeaderBytes) return Mismatch("size", h.header_bytes, layout::kHeaderBytes);
  if (h.max_attachments != layout::kMaxAttachments) {
    return Mismatch("attachment count", h.max_attachments, layout::kMaxAttachments);
  }
  if (h.max_messages == 0 || (h.max_messages & (h.max_messages - 1)) != 0 || h.max_messages > (1u << 24)) {
    return Error{Errc::kIncompatible, "ring header message count " + std::to_string(h.max_messages) +
                                          " is not a power of two up to 2^24"};
  }
  if (h.capacity == 0 || h.capacity % layout::kPageBytes != 0 || h.capacity > (uint64_t{1} << 44)) {
    return Error{Errc::kIncompatible, "ring header capacity " + std::to_string(h.capacity) +
                                          " is not a positive multiple of 4096 below 16 TiB"};
  }
  if (h.message_limit == 0 || h.message_limit > h.max_messages) {
    return Error{Errc::kIncompatible, "ring header message limit " + std::to_string(h.message_limit) +
                                          " is not 1 to its " + std::to_string(h.max_messages) +
                                          " descriptors"};
  }
  if (h.max_subscribers != layout::kMaxSubscribers) {
    return Mismatch("subscriber count", h.max_subscribers, layout::kMaxSubscribers);
  }
  if (h.subscribers_offset != layout::SubscribersOffset()) {
    return Mismatch("subscriber table offset", h.subscribers_offset, layout::SubscribersOffset());
  }
  if (h.attachments_offset != layout::AttachmentsOffset()) {
    return Mismatch("attachment table offset", h.attachments_offset, layout::AttachmentsOffset());
  }
  if (h.descriptors_offset != layout::DescriptorsOffset()) {
    return Mismatch("descriptor table offset", h.descriptors_offset, layout::DescriptorsOffset());
  }
  if (h.data_offset != layout::DataOffset(h.max_messages)) {
    return Mismatch("data offset", h.data_offset, layout::DataOffset(h.max_messages));
  }
  const uint64_t total = layout::TotalBytes(h.capacity, h.max_messages);
  if (h.total_bytes != total) return Mismatch("total size", h.total_bytes, total);
  if (memory_bytes != total) {
    return Error{Errc::kIncompatible, "segment is " + std::to_string(memory_bytes) +
                                          " bytes but its header describes " +
                                          std::to_string(total) + " bytes (truncated or resized)"};
  }
  if (h.policy > static_cast<uint32_t>(Policy::kDropOldest)) {
    return Error{Errc::kIncompatible, "ring header policy " + std::to_string(h.policy) + " is unknown"};
  }
  return Ok();
}

std::shared_ptr<RingState> MakeState(std::span<std::byte> memory, std::shared_ptr<void> keep_alive) {
  auto state = std::make_shared<RingState>();
  state->keep_alive = std::move(keep_alive);
  auto* base = memory.data();
  state->header = reinterpret_cast<RingHeader*>(base);
  state->attachments = reinterpret_cast<Attachment*>(base + layout::AttachmentsOffset());
  state->subscribers = reinterpret_cast<layout::Subscriber*>(base + layout::SubscribersOffset());
  state->descriptors = reinterpret_cast<MessageDescriptor*>(base + layout::DescriptorsOffset());
  state->data = base + state->header->data_offset;
  state->capacity = state->header->capacity;
  state->index_mask = state->header->max_messages - 1;
  state->message_limit = state->header->message_limit;
  state->pid = sys::CurrentPid();
  state->fork_generation = sys::ForkGeneration();
  state->name.assign(state->header->name, strnlen(state->header->name, layout::kMaxNameLength));
  return state;
}

Result<std::shared_ptr<RingState>> AttachState(std::span<std::byte> memory,
                                               std::shared_ptr<void> keep_alive) {
  auto state = MakeState(memory, std::move(keep_alive));
  auto index = ClaimAttachment(*state);
  if (!index) return index.error();  // attachment == kMaxAttachments: nothing to free.
  state->attachment = *index;
  state->bit = uint64_t{1} << *index;
  return state;
}

Status CheckProcess(const RingState& ring) {
  if (sys::ForkGeneration() != ring.fork_generation) {
    return Error{Errc::kBadState, "this Ring was attached by process " + std::to_string(ring.pid) +
                                      " (before a fork); attach again in process " +
                                      std::to_string(sys::CurrentPid())};
  }
  return Ok();
}

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

// Clears this attachment's holder bit; the last holder frees the message if nobody is still
// due to acquire it.
void ReleaseBit(RingState& ring, MessageDescriptor& d) {
  RingHeader& h = *ring.header;
  uint64_t word = d.state.load(std::memory_order_acquire);
  while (true) {
    uint64_t desired = word & ~ring.bit;
    // pending is read after an acquire load of `state` that saw the last holder's release,
    // so it includes every decrement (only holders decrement).
    if (HoldersOf(desired) == 0 && StateOf(word) == MessageState::kCommitted &&
        CanFree(d, /*allow_lapse=*/false) == Freeable::kDone) {
      desired = PackState(TagOf(word), MessageState::kFree, 0);
    }
    if (d.state.compare_exchange_weak(word, desired, std::memory_order_acq_rel)) {
      if (StateOf(desired) == MessageState::kFree) BumpAndWake(h.space_epoch, h.space_waiters);
      return;
    }
  }
}

}  // namespace

// ---------------------------------------------------------------------------------------
std::string_view ErrcName(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument: return "InvalidArgument";
    case Errc::kNotFound: return "NotFound";
    case Errc::kAlreadyExists: return "AlreadyExists";
    case Errc::kPermissionDenied: return "PermissionDenied";
    case Errc::kIncompatible: return "Incompatible";
    case Errc::kNoSpace: return "NoSpace";
    case Errc::kTooLarge: return "TooLarge";
    case Errc::kStaleHandle: return "StaleHandle";
    case Errc::kWrongRing: return "WrongRing";
    case Errc::kTooManyAttachments: return "TooManyAttachments";
    case Errc::kBadState: return "BadState";
    case Errc::kRingFull: return "RingFull";
    case Errc::kSystem: return "System";
  }
  return "Unknown";
}

std::string_view PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kBlock: return "block";
    case Policy::kFail: return "fail";
    case Policy::kDropOldest: return "drop-oldest";
  }
  return "unknown";
}

Result<Policy> ParsePolicy(std::string_view name) {
  if (name == "block") return Policy::kBlock;
  if (name == "fail") return Policy::kFail;
  if (name == "drop-oldest") return Policy::kDropOldest;
  return Error{Errc::kInvalidArgument,
               "unknown policy '" + std::string(name) + "'; use block, fail or drop-oldest"};
}

// --- WriteSlot ---------------------------------------------------------------------------
WriteSlot::WriteSlot(std::shared_ptr<RingState> ring, uint64_t seq, std::span<std::byte> data,
                     uint64_t requested)
    : ring_(std::move(ring)), seq_(seq), data_(data), requested_(requested) {}
WriteSlot::WriteSlot(WriteSlot&& other) noexcept
    : ring_(std::move(other.ring_)), seq_(other.seq_), data_(other.data_), requested_(other.requested_) {}
WriteSlot& WriteSlot::operator=(WriteSlot&& other) noexcept {
  if (this != &other) {
    Abort();
    ring_ = std::move(other.ring_);
    seq_ = other.seq_;
    data_ = other.data_;
    requested_ = other.requested_;
  }
  return *this;
}
WriteSlot::~WriteSlot() { Abort(); }

Result<Handle> WriteSlot::Commit(uint64_t bytes_used, uint32_t deliveries,
                                 std::chrono::seconds delivery_ttl) {
  if (!ring_) return Error{Errc::kBadState, "commit on a write slot that was moved from or already finished"};
  if (bytes_used == 0 || bytes_used > requested_) {
    return Error{Errc::kInvalidArgument, "commit of " + std::to_string(bytes_used) +
                                             " bytes into a slot of " + std::to_string(requested_) +
                                             " bytes; commit 1 to " + std::to_string(requested_)};
  }
  RingState& ring = *ring_;
  RingHeader& h = *ring.header;
  MessageDescriptor& d = ring.descriptor(seq_);
  d.size.store(bytes_used, std::memory_order_relaxed);
  d.pending.store(deliveries, std::memory_order_relaxed);
  const uint64_t deadline = deliveries == kUntilDropped
                                ? UINT32_MAX
                                : uint64_t{sys::MonotonicSeconds()} +
                                      static_cast<uint64_t>(std::max<int64_t>(0, delivery_ttl.count()));
  d.pending_deadline_s.store(static_cast<uint32_t>(std::min<uint64_t>(deadline, UINT32_MAX)),
                             std::memory_order_relaxed);
  d.commit_ns.store(sys::RealtimeNs(), std::memory_order_relaxed);
  uint64_t word = d.state.load(std::memory_order_relaxed);
  // Release: the payload and the fields above become visible with kCommitted.
  const bool committed =
      StateOf(word) == MessageState::kWriting &&
      d.state.compare_exchange_strong(word, PackState(TagOf(word), MessageState::kCommitted, 0),
                                      std::memory_order_acq_rel);
  d.writer.store(0, std::memory_order_relaxed);
  ring.self().write_refs.fetch_sub(1, std::memory_order_relaxed);
  ring.self().write_bytes.fetch_sub(data_.size(), std::memory_order_relaxed);
  const Handle handle{h.ring_id, seq_,
                      d.begin.load(std::memory_order_relaxed) % ring.capacity, bytes_used};
  ring_.reset();
  if (!committed) {
    return Error{Errc::kStaleHandle, "message " + std::to_string(seq_) +
                                         " was aborted by recovery before its commit"};
  }
  h.messages_written.fetch_add(1, std::memory_order_relaxed);
  h.bytes_written.fetch_add(bytes_used, std::memory_order_relaxed);
  BumpAndWake(h.commit_epoch, h.commit_waiters);
  if (deliveries == 0 && d.due.load(std::memory_order_relaxed) == 0) {
    BumpAndWake(h.space_epoch, h.space_waiters);  // Nobody will take it: reclaimable now.
  }
  return handle;
}

void WriteSlot::Abort() {
  if (!ring_) return;
  RingState& ring = *ring_;
  RingHeader& h = *ring.header;
  MessageDescriptor& d = ring.descriptor(seq_);
  uint64_t word = d.state.load(std::memory_order_relaxed);
  if (StateOf(word) == MessageState::kWriting &&
      d.state.compare_exchange_strong(word, PackState(TagOf(word), MessageState::kFree, 0),
                                      std::memory_order_acq_rel)) {
    h.messages_aborted.fetch_add(1, std::memory_order_relaxed);
  }
  d.writer.store(0, std::memory_order_relaxed);
  ring.self().write_refs.fetch_sub(1, std::memory_order_relaxed);
  ring.self().write_bytes.fetch_sub(data_.size(), std::memory_order_relaxed);
  BumpAndWake(h.space_epoch, h.space_waiters);
  BumpAndWake(h.commit_epoch, h.commit_waiters);  // Subscribers waiting at it move on.
  ring_.reset();
}

// --- ReadSlot ----------------------------------------------------------------------------
ReadSlot::ReadSlot(std::shared_ptr<RingState> ring, Handle handle, std::span<const std::byte> data,
                   uint64_t commit_ns)
    : ring_(std::move(ring)), handle_(handle), data_(data), commit_ns_(commit_ns) {}
ReadSlot::ReadSlot(ReadSlot&& other) noexcept
    : ring_(std::move(other.ring_)), handle_(other.handle_), data_(other.data_), commit_ns_(other.commit_ns_) {}
ReadSlot& ReadSlot::operator=(ReadSlot&& other) noexcept {
  if (this != &other) {
    Release();
    ring_ = std::move(other.ring_);
    handle_ = other.handle_;
    data_ = other.data_;
    commit_ns_ = other.commit_ns_;
  }
  return *this;
}
ReadSlot::~ReadSlot() { Release(); }

Result<ReadSlot> ReadSlot::Duplicate() const {
  if (!ring_) return Error{Errc::kBadState, "Duplicate() of a read slot that was released or moved from"};
  if (auto process = CheckProcess(*ring_); !process) return process.error();
  {
    std::lock_guard lock(ring_->local_mutex);
    // This slot's reference keeps the count positive and the shared holder bit set.
    ++ring_->local_refs[handle_.sequence];
  }
  return ReadSlot(ring_, handle_, data_, commit_ns_);
}

void ReadSlot::Release() {
  if (!ring_) return;
  RingState& ring = *ring_;
  {
    std::lock_guard lock(ring.local_mutex);
    auto it = ring.local_refs.find(handle_.sequence);
    if (it != ring.local_refs.end() && --it->second == 0) {
      ring.local_refs.erase(it);
      // Clear the shared bit while still holding local_mutex, so that a concurrent Acquire
      // in this process cannot see count 0 and rely on a bit we are about to clear.
      ReleaseBit(ring, ring.descriptor(handle_.sequence));
      ring.self().read_refs.fetch_sub(1, std::memory_order_relaxed);
      ring.self().read_bytes.fetch_sub(handle_.size, std::memory_order_relaxed);
    }
  }
  ring_.reset();
}

// --- Ring --------------------------------------------------------------------------------
Ring::Ring(std::shared_ptr<RingState> state) : state_(std::move(state)) {}

Result<uint64_t> Ring::RequiredBytes(uint64_t capacity, const RingOptions& options) {
  if (capacity == 0 || capacity > (uint64_t{1} << 44)) {
    return Error{Errc::kInvalidArgument, "ring capacity must be 1 byte to 16 TiB, got " +
                                             std::to_string(capacity)};
  }
  const uint64_t data = RoundUp(capacity, layout::kPageBytes);
  uint64_t messages = options.max_messages;
  if (messages == 0) messages = std::clamp<uint64_t>(data / 4096, 64, 65536);
  if (messages > (1u << 24)) {
    return Error{Errc::kInvalidArgument, "max_messages is at most 16777216"};
  }
  return layout::TotalBytes(data, RoundUpPowerOfTwo(messages));
}

Result<Ring> Ring::Format(std::span<std::byte> memory, uint64_t capacity, RingOptions options,
                          std::string_view name, std::shared_ptr<void> keep_alive) {
  auto required = RequiredBytes(capacity, options);
  if (!required) return required.error();
  if (memory.size() != *required || reinterpret_cast<uintptr_t>(memory.data()) % 64 != 0) {
    return Error{Errc::kInvalidArgument,
                 "a ring of capacity " + std::to_string(capacity) + " needs " +
                     std::to_string(*required) + " bytes at a 64-byte aligned address; got " +
                     std::to_string(memory.size())};
  }
  if (options.policy > Policy::kDropOldest) return Error{Errc::kInvalidArgument, "unknown policy"};
  if (name.size() > layout::kMaxNameLength) return Error{Errc::kInvalidArgument, "name too long"};
  const uint64_t data = RoundUp(capacity, layout::kPageBytes);
  const auto limit = static_cast<uint32_t>(
      options.max_messages ? options.max_messages : std::clamp<uint64_t>(data / 4096, 64, 65536));
  const uint32_t messages = RoundUpPowerOfTwo(limit);

  std::memset(memory.data(), 0, layout::DataOffset(messages));
  auto* h = new (memory.data()) RingHeader();
  h->layout_version = layout::kLayoutVersion;
  h->header_bytes = layout::kHeaderBytes;
  h->total_bytes = *required;
  h->capacity = data;
  h->data_offset = layout::DataOffset(messages);
  h->descriptors_offset = layout::DescriptorsOffset();
  h->attachments_offset = layout::AttachmentsOffset();
  h->subscribers_offset = layout::SubscribersOffset();
  h->max_subscribers = layout::kMaxSubscribers;
  h->max_messages = messages;
  h->message_limit = limit;
  h->max_attachments = layout::kMaxAttachments;
  h->policy = static_cast<uint32_t>(options.policy);
  h->mode = options.mode;
  if (getrandom(&h->ring_id, sizeof h->ring_id, 0) != sizeof h->ring_id) {
    h->ring_id = sys::RealtimeNs() ^ (sys::CurrentPid() << 32);
  }
  h->created_ns = sys::RealtimeNs();
  std::memcpy(h->name, name.data(), name.size());
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&h->alloc_mutex, &attributes);
  pthread_mutexattr_destroy(&attributes);
  auto* attachments = reinterpret_cast<Attachment*>(memory.data() + layout::AttachmentsOffset());
  for (uint32_t i = 0; i < layout::kMaxAttachments; ++i) new (&attachments[i]) Attachment();
  auto* subscribers = reinterpret_cast<layout::Subscriber*>(memory.data() + layout::SubscribersOffset());
  for (uint32_t i = 0; i < layout::kMaxSubscribers; ++i) new (&subscribers[i]) layout::Subscriber();
  auto* descriptors = reinterpret_cast<MessageDescriptor*>(memory.data() + layout::DescriptorsOffset());
  for (uint32_t i = 0; i < messages; ++i) new (&descriptors[i]) MessageDescriptor();
  // The magic goes last: a ring is recognisable only once it is fully formatted.
  std::atomic_ref<uint64_t>(h->magic).store(layout::kMagic, std::memory_order_release);
  return Open(memory, std::move(keep_alive));
}

Result<Ring> Ring::Open(std::span<std::byte> memory, std::shared_ptr<void> keep_alive) {
  if (memory.size() < layout::kHeaderBytes) {
    return Error{Errc::kIncompatible, "memory of " + std::to_string(memory.size()) +
                                          " bytes cannot hold an arrowring header (4096 bytes)"};
  }
  const auto& header = *reinterpret_cast<const RingHeader*>(memory.data());
  if (auto checked = CheckHeader(header, memory.size()); !checked) return checked.error();
  auto state = AttachState(memory, std::move(keep_alive));
  if (!state) return state.error();
  return Ring(std::move(*state));
}

Result<Ring> Ring::Create(std::string_view name, uint64_t capacity, RingOptions options) {
  auto required = RequiredBytes(capacity, options);
  if (!required) return required.error();
  auto segment = MappedSegment::Create(name, *required, options.mode);
  if (!segment) return segment.error();
  auto ring = Format((*segment)->bytes(), capacity, options, name, *segment);
  if (!ring) (void)MappedSegment::Unlink(name);
  return ring;
}

Result<Ring> Ring::Attach(std::string_view name) {
  auto segment = MappedSegment::Open(name, layout::kHeaderBytes);
  if (!segment) return segment.error();
  auto ring = Open((*segment)->bytes(), *segment);
  if (!ring) {
    return Error{ring.error().code, "ring '" + std::string(name) + "': " + ring.error().message};
  }
  return ring;
}

Status Ring::Unlink(std::string_view name) { return MappedSegment::Unlink(name); }

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

Result<ReadSlot> Ring::Acquire(const Handle& handle) { return AcquireFor(handle, -1, handle.size); }

Result<ReadSlot> Ring::AcquireSequence(uint64_t seq, uint64_t length) {
  if (auto process = CheckProcess(*state_); !process) return process.error();
  const std::optional<Handle> handle = HandleOf(seq);
  if (!handle) {
    return Error{Errc::kStaleHandle, "message " + std::to_string(seq) + " of ring '" + state_->name +
                                         "' is not committed: not yet, or freed (or dropped) since"};
  }
  if (length > handle->size) {
    return Error{Errc::kInvalidArgument, "message " + std::to_string(seq) + " of ring '" + state_->name +
                                             "' holds " + std::to_string(handle->size) + " bytes; " +
                                             std::to_string(length) + " were asked for"};
  }
  return AcquireFor(*handle, -1, length == 0 ? handle->size : length);
}

Status Ring::Retire(uint64_t seq) {
  if (auto process = CheckProcess(*state_); !process) return process.error();
  RingState& ring = *state_;
  MessageDescriptor& d = ring.descriptor(seq);
  uint64_t word = d.state.load(std::memory_order_acquire);
  auto not_committed = [&] {
    return Error{Errc::kStaleHandle, "message " + std::to_string(seq) + " of ring '" + ring.name +
                                         "' is not committed: not yet, or freed (or dropped) since"};
  };
  if (StateOf(word) != MessageState::kCommitted || d.seq.load(std::memory_order_relaxed) != seq) {
    return not_committed();
  }
  // No more deliveries through handles. A holder releasing concurrently may still read the
  // old count and leave the message committed and unheld; it is then freed by the next
  // allocation's head reclaim, which reads pending under the allocator lock.
  d.pending.store(0, std::memory_order_release);
  while (true) {
    if (StateOf(word) != MessageState::kCommitted || d.seq.load(std::memory_order_relaxed) != seq) {
      return Ok();  // Freed meanwhile (by a releaser that saw pending == 0, or dropped).
    }
    if (HoldersOf(word) != 0 || CanFree(d, /*allow_lapse=*/false) != Freeable::kDone) return Ok();
    if (d.state.compare_exchange_weak(word, PackState(TagOf(word), MessageState::kFree, 0),
                                      std::memory_order_acq_rel)) {
      BumpAndWake(ring.header->space_epoch, ring.header->space_waiters);
      return Ok();
    }
  }
}

Result<ReadSlot> Ring::AcquireFor(const Handle& handle, int subscriber, uint64_t length) {
  if (auto process = CheckProcess(*state_); !process) return process.error();
  RingState& ring = *state_;
  RingHeader& h = *ring.header;
  if (handle.ring_id != h.ring_id) {
    char id[20];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(h.ring_id));
    return Error{Errc::kWrongRing, "handle " + handle.ToString() + " names another ring than '" +
                                       ring.name + "' (id " + id + ")"};
  }
  if (handle.sequence >= h.next_seq.load(std::memory_order_acquire)) {
    return Error{Errc::kInvalidArgument, "handle " + handle.ToString() +
                                             " names a message this ring has not allocated yet"};
  }
  MessageDescriptor& d = ring.descriptor(handle.sequence);
  std::lock_guard lock(ring.local_mutex);
  auto& count = ring.local_refs[handle.sequence];
  if (count == 0) {
    uint64_t word = d.state.load(std::memory_order_acquire);
    while (true) {
      if (StateOf(word) != MessageState::kCommitted ||
          d.seq.load(std::memory_order_relaxed) != handle.sequence) {
        ring.local_refs.erase(handle.sequence);
        return Stale(handle, "was freed (or dropped) and its space may hold another message");
      }
      // The tag in `word` makes this fail if the descriptor was reused since we loaded it.
      if (d.state.compare_exchange_weak(word, word | ring.bit, std::memory_order_acq_rel)) break;
    }
    // Holding our bit, the message cannot be freed: its fields are stable now.
    if (d.seq.load(std::memory_order_relaxed) != handle.sequence ||
        d.begin.load(std::memory_order_relaxed) % ring.capacity != handle.offset ||
        d.size.load(std::memory_order_relaxed) != handle.size) {
      ring.local_refs.erase(handle.sequence);
      ReleaseBit(ring, d);
      return Error{Errc::kInvalidArgument, "handle " + handle.ToString() +
                                               " does not match the message it names (offset or "
                                               "size differ): it was altered or forged"};
    }
    ring.self().read_refs.fetch_add(1, std::memory_order_relaxed);
    ring.self().read_bytes.fetch_add(handle.size, std::memory_order_relaxed);
  }
  // Every acquisition is one delivery, also a second one through the same attachment. We
  // hold our bit here, so the message cannot be freed while we count.
  if (subscriber >= 0) {
    d.due.fetch_and(~(uint32_t{1} << subscriber), std::memory_order_acq_rel);
  } else {
    uint32_t pending = d.pending.load(std::memory_order_relaxed);
    while (pending > 0 && pending != WriteSlot::kUntilDropped &&
           !d.pending.compare_exchange_weak(pending, pending - 1, std::memory_order_acq_rel)) {
    }
  }
  ++count;
  h.messages_read.fetch_add(1, std::memory_order_relaxed);
  h.bytes_read.fetch_add(length, std::memory_order_relaxed);
  return ReadSlot(state_, handle, std::span<const std::byte>(ring.data + handle.offset, length),
                  d.commit_ns.load(std::memory_order_relaxed));
}

uint64_t Ring::next_sequence() const { return state_->header->next_seq.load(std::memory_order_acquire); }
uint64_t Ring::oldest_sequence() const { return state_->header->head_seq.load(std::memory_order_acquire); }

std::optional<Handle> Ring::HandleOf(uint64_t seq) const {
  RingState& ring = *state_;
  MessageDescriptor& d = ring.descriptor(seq);
  const uint64_t word = d.state.load(std::memory_order_acquire);
  if (StateOf(word) != MessageState::kCommitted) return std::nullopt;
  Handle handle{ring.header->ring_id, seq, d.begin.load(std::memory_order_relaxed) % ring.capacity,
                d.size.load(std::memory_order_relaxed)};
  // Re-check: if the descriptor changed meanwhile, the fields may belong to another message.
  if (d.state.load(std::memory_order_acquire) != word ||
      d.seq.load(std::memory_order_relaxed) != seq) {
    return std::nullopt;
  }
  return handle;
}

uint32_t Ring::commit_epoch() const { return state_->header->commit_epoch.load(std::memory_order_seq_cst); }

uint32_t Ring::WaitForCommit(uint32_t seen_epoch, std::chrono::nanoseconds timeout) const {
  RingHeader& h = *state_->header;
  h.commit_waiters.fetch_add(1, std::memory_order_seq_cst);
  sys::FutexWait(&h.commit_epoch, seen_epoch, timeout);
  h.commit_waiters.fetch_sub(1, std::memory_order_seq_cst);
  return h.commit_epoch.load(std::memory_order_seq_cst);
}

Result<Subscription> Ring::Subscribe(std::string_view name) {
  if (auto process = CheckProcess(*state_); !process) return process.error();
  const bool portable = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
           c == '_' || c == '-';
  });
  if (!portable || name.empty() || name.size() > layout::kMaxSubscriberNameLength) {
    return Error{Errc::kInvalidArgument,
                 "subscriber name '" + std::string(name.substr(0, 100)) +
                     "' is not 1-80 characters of letters, digits, '.', '_' and '-'"};
  }
  RingState& ring = *state_;
  AllocatorLock lock(ring);
  RecoverLocked(ring);  // Frees entries of dead subscribers before counting names and slots.
  std::optional<uint32_t> free_index;
  for (uint32_t i = 0; i < layout::kMaxSubscribers; ++i) {
    layout::Subscriber& entry = ring.subscribers[i];
    if (entry.owner.load(std::memory_order_acquire) == 0) {
      if (!free_index) free_index = i;
    } else if (name == entry.name) {
      return Error{Errc::kAlreadyExists, "ring '" + ring.name + "' already has a subscriber named '" +
                                             std::string(name) + "'; pick another name"};
    }
  }
  if (!free_index) {
    return Error{Errc::kTooManyAttachments,
                 "ring '" + ring.name + "' has " + std::to_string(layout::kMaxSubscribers) +
                     " subscribers already, the most it can have; remove one first"};
  }
  layout::Subscriber& entry = ring.subscribers[*free_index];
  RingHeader& h = *ring.header;
  const uint64_t next = h.next_seq.load(std::memory_order_relaxed);
  std::memset(entry.name, 0, sizeof entry.name);
  std::memcpy(entry.name, name.data(), name.size());
  entry.join_seq.store(next, std::memory_order_relaxed);
  entry.cursor.store(next, std::memory_order_relaxed);
  entry.received.store(0, std::memory_order_relaxed);
  entry.missed.store(0, std::memory_order_relaxed);
  entry.owner.store(ring.attachment + 1, std::memory_order_release);
  // From the next allocation on, messages are due to it.
  h.subscriber_mask.fetch_or(uint32_t{1} << *free_index, std::memory_order_relaxed);
  return Subscription(state_, *free_index, std::string(name));
}

std::span<const std::byte> Ring::data_region() const { return {state_->data, state_->capacity}; }

RecoveryReport Ring::Recover() {
  AllocatorLock lock(*state_);
  auto report = RecoverLocked(*state_);
  report.reclaimed_bytes += ReclaimHeadLocked(*state_);
  return report;
}

RingStats Ring::Stats() const {
  RingState& ring = *state_;
  const RingHeader& h = *ring.header;
  RingStats stats;
  stats.name = ring.name;
  stats.ring_id = h.ring_id;
  stats.capacity_bytes = ring.capacity;
  stats.max_messages = ring.message_limit;
  stats.policy = static_cast<Policy>(h.policy);
  stats.mode = h.mode;
  const uint64_t head = h.head_seq.load(std::memory_order_acquire);
  const uint64_t next = h.next_seq.load(std::memory_order_acquire);
  for (uint64_t seq = head; seq < next; ++seq) {
    const MessageDescriptor& d = ring.descriptor(seq);
    const uint64_t bytes = d.end.load(std::memory_order_relaxed) - d.begin.load(std::memory_order_relaxed);
    switch (StateOf(d.state.load(std::memory_order_acquire))) {
      case MessageState::kWriting:
        stats.writing_bytes += bytes;
        ++stats.writing_messages;
        break;
      case MessageState::kCommitted:
        stats.committed_bytes += bytes;
        ++stats.committed_messages;
        break;
      case MessageState::kFree:
        break;
    }
  }
  const uint64_t used = std::min(ring.capacity, stats.writing_bytes + stats.committed_bytes);
  stats.free_bytes = ring.capacity - used;
  stats.free_messages = ring.message_limit - std::min<uint64_t>(ring.message_limit, next - head);
  stats.high_water_bytes = h.high_water_bytes.load(std::memory_order_relaxed);
  stats.messages_written = h.messages_written.load(std::memory_order_relaxed);
  stats.bytes_written = h.bytes_written.load(std::memory_order_relaxed);
  stats.messages_read = h.messages_read.load(std::memory_order_relaxed);
  stats.bytes_read = h.bytes_read.load(std::memory_order_relaxed);
  stats.messages_dropped = h.messages_dropped.load(std::memory_order_relaxed);
  stats.bytes_dropped = h.bytes_dropped.load(std::memory_order_relaxed);
  stats.messages_aborted = h.messages_aborted.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < layout::kMaxSubscribers; ++i) {
    const layout::Subscriber& entry = ring.subscribers[i];
    const uint32_t owner = entry.owner.load(std::memory_order_acquire);
    if (owner == 0 || owner > layout::kMaxAttachments) continue;
    const Attachment& a = ring.attachments[owner - 1];
    const uint64_t pid = a.pid.load(std::memory_order_acquire);
    const uint64_t cursor = entry.cursor.load(std::memory_order_relaxed);
    stats.subscribers.push_back(
        {std::string(entry.name, strnlen(entry.name, layout::kMaxSubscriberNameLength)), pid,
         pid != 0 && sys::ProcessAlive(pid, a.start_time.load(std::memory_order_relaxed)),
         next > cursor ? next - cursor : 0, entry.received.load(std::memory_order_relaxed),
         entry.missed.load(std::memory_order_relaxed)});
  }
  for (uint32_t i = 0; i < layout::kMaxAttachments; ++i) {
    const Attachment& a = ring.attachments[i];
    const uint64_t pid = a.pid.load(std::memory_order_acquire);
    if (pid == 0) continue;
    stats.holders.push_back({pid, sys::ProcessAlive(pid, a.start_time.load(std::memory_order_relaxed)),
                             a.write_refs.load(std::memory_order_relaxed),
                             a.read_refs.load(std::memory_order_relaxed),
                             a.write_bytes.load(std::memory_order_relaxed),
                             a.read_bytes.load(std::memory_order_relaxed)});
  }
  return stats;
}

const std::string& Ring::name() const { return state_->name; }
uint64_t Ring::ring_id() const { return state_->header->ring_id; }
uint64_t Ring::capacity() const { return state_->capacity; }
Policy Ring::policy() const { return static_cast<Policy>(state_->header->policy); }

// --- Subscription ------------------------------------------------------------------------
Subscription::Subscription(std::shared_ptr<RingState> ring, uint32_t index, std::string name)
    : ring_(std::move(ring)), index_(index), name_(std::move(name)) {}
Subscription::Subscription(Subscription&& other) noexcept
    : ring_(std::move(other.ring_)), index_(other.index_), name_(std::move(other.name_)),
      reported_missed_(other.reported_missed_) {}
Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    Leave();
    ring_ = std::move(other.ring_);
    index_ = other.index_;
    name_ = std::move(other.name_);
    reported_missed_ = other.reported_missed_;
  }
  return *this;
}
Subscription::~Subscription() { Leave(); }

void Subscription::Leave() {
  if (!ring_) return;
  if (CheckProcess(*ring_).ok()) {  // An inherited copy after fork must not touch the entry.
    AllocatorLock lock(*ring_);
    if (ring_->subscribers[index_].owner.load(std::memory_order_acquire) == ring_->attachment + 1) {
      RemoveSubscriberLocked(*ring_, index_);
    }
  }
  ring_.reset();
}

uint64_t Subscription::missed() const {
  return ring_ ? ring_->subscribers[index_].missed.load(std::memory_order_relaxed) : reported_missed_;
}

Result<std::optional<Subscription::Delivery>> Subscription::Next(std::chrono::nanoseconds timeout,
                                                                 uint32_t spin) {
  if (!ring_) return Error{Errc::kBadState, "Next() on a subscription that left or was moved from"};
  if (auto process = CheckProcess(*ring_); !process) return process.error();
  if (timeout.count() < 0) return Error{Errc::kInvalidArgument, "timeout must not be negative"};
  RingState& ring = *ring_;
  RingHeader& h = *ring.header;
  layout::Subscriber& entry = ring.subscribers[index_];
  if (entry.owner.load(std::memory_order_acquire) != ring.attachment + 1) {
    return Error{Errc::kBadState, "subscriber '" + name_ + "' was removed from ring '" + ring.name +
                                      "' (recovered as dead?); subscribe again"};
  }
  const uint32_t bit = uint32_t{1} << index_;
  const auto start = std::chrono::steady_clock::now();
  constexpr std::chrono::milliseconds kRecoverySlice{50};
  while (true) {
    // Read the epoch before looking for work: a commit after the look changes it, so the
    // wait below returns at once (no lost wake-up).
    uint32_t epoch = h.commit_epoch.load(std::memory_order_seq_cst);
    uint64_t cursor = std::max(entry.cursor.load(std::memory_order_relaxed),
                               h.head_seq.load(std::memory_order_acquire));
    const uint64_t next = h.next_seq.load(std::memory_order_acquire);
    bool waiting_on_writer = false;
    while (cursor < next) {
      MessageDescriptor& d = ring.descriptor(cursor);
      const uint64_t word = d.state.load(std::memory_order_acquire);
      if (d.seq.load(std::memory_order_relaxed) != cursor || StateOf(word) == MessageState::kFree) {
        ++cursor;  // Freed: aborted, or dropped (counted in `missed` when it was due to us).
        continue;
      }
      if (StateOf(word) == MessageState::kWriting) {
        waiting_on_writer = true;  // Deliver in sequence order: wait for it.
        break;
      }
      if ((d.due.load(std::memory_order_acquire) & bit) == 0) {
        ++cursor;
        continue;
      }
      const Handle handle{h.ring_id, cursor,
                          d.begin.load(std::memory_order_relaxed) % ring.capacity,
                          d.size.load(std::memory_order_relaxed)};
      auto slot = Ring(ring_).AcquireFor(handle, static_cast<int>(index_), handle.size);
      ++cursor;
      if (!slot.ok()) continue;  // Dropped between our look and our acquire: counted as missed.
      entry.cursor.store(cursor, std::memory_order_relaxed);
      entry.received.fetch_add(1, std::memory_order_relaxed);
      const uint64_t missed = entry.missed.load(std::memory_order_relaxed);
      Delivery delivery{std::move(*slot), missed - reported_missed_};
      reported_missed_ = missed;
      return std::optional<Delivery>(std::move(delivery));
    }
    entry.cursor.store(cursor, std::memory_order_relaxed);

    const auto waited = std::chrono::steady_clock::now() - start;
    if (timeout != kWaitForever && waited >= timeout) return std::optional<Delivery>();
    bool changed = false;
    for (uint32_t i = 0; i < spin && !changed; ++i) {
      changed = h.commit_epoch.load(std::memory_order_acquire) != epoch;
    }
    if (changed) continue;
    auto slice = timeout == kWaitForever ? std::chrono::nanoseconds(kRecoverySlice)
                                         : std::min<std::chrono::nanoseconds>(timeout - waited, kRecoverySlice);
    if (!waiting_on_writer) slice = timeout == kWaitForever ? kWaitForever : timeout - waited;
    h.commit_waiters.fetch_add(1, std::memory_order_seq_cst);
    sys::FutexWait(&h.commit_epoch, epoch, slice);
    h.commit_waiters.fetch_sub(1, std::memory_order_seq_cst);
    // A writer killed mid-write wakes nobody: look for dead writers while waiting on one.
    if (waiting_on_writer && h.commit_epoch.load(std::memory_order_acquire) == epoch) {
      Ring(ring_).Recover();
    }
  }
}

}  // namespace arrowring
