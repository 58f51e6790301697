// Subscriptions: joining a ring under a name, the cursor that walks its messages in sequence
// order, waiting for commits, and leaving.
#include <sched.h>
#include <algorithm>

#include <cstring>

#include "arrowring/ring/internal/allocator_internal.h"
#include "arrowring/ring/internal/allocator_lock_internal.h"
#include "arrowring/ring/internal/recovery_internal.h"
#include "arrowring/ring/internal/segment.h"
#include "arrowring/ring/internal/subscription_internal.h"

namespace arrowring {

void RemoveSubscriberLocked(RingState& ring, uint32_t index) {
  RingHeader& h = *ring.header;
  const uint32_t bit = uint32_t{1} << index;
  h.subscriber_mask.fetch_and(~bit, std::memory_order_relaxed);
  const uint64_t head = h.head_seq.load(std::memory_order_relaxed);
  const uint64_t next = WindowEnd(ring, head, h.next_seq.load(std::memory_order_relaxed));
  for (uint64_t seq = head; seq < next; ++seq) {
    ring.descriptor(seq).due.fetch_and(~bit, std::memory_order_acq_rel);  // SYNC POINT due-mask (acq_rel RMW)
  }
  ring.subscribers[index].owner.store(0, std::memory_order_release);  // SYNC POINT subscriber-owner (release)
  ReclaimHeadLocked(ring);
  BumpAndWake(h.space_epoch, h.space_waiters);
}

Result<Subscription> Ring::Subscribe(std::string_view name, SubscribeStart start) {
  if (auto process = CheckProcess(*state_); !process) return process.error();
  const bool portable = std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
  if (!portable || name.empty() || name.size() > layout::kMaxSubscriberNameLength) {
    return Error{Errc::kInvalidArgument, "subscriber name '" + std::string(name.substr(0, 100)) +
                                             "' is not 1-80 characters of letters, digits, '.', '_' and '-'"};
  }
  RingState& ring = *state_;
  AllocatorLock lock(ring);
  if (!lock.ok()) return lock.error();
  RecoverLocked(ring);  // Frees entries of dead subscribers before counting names and slots.
  std::optional<uint32_t> free_index;
  for (uint32_t i = 0; i < layout::kMaxSubscribers; ++i) {
    layout::Subscriber& entry = ring.subscribers[i];
    if (entry.owner.load(std::memory_order_acquire) == 0) {  // SYNC POINT subscriber-owner (acquire)
      if (!free_index) free_index = i;
    } else if (name == entry.name) {
      return Error{Errc::kAlreadyExists, "ring '" + ring.name + "' already has a subscriber named '" +
                                             std::string(name) + "'; pick another name"};
    }
  }
  if (!free_index) {
    return Error{Errc::kTooManyAttachments, "ring '" + ring.name + "' has " + std::to_string(layout::kMaxSubscribers) +
                                                " subscribers already, the most it can have; remove one first"};
  }
  layout::Subscriber& entry = ring.subscribers[*free_index];
  RingHeader& h = *ring.header;
  const uint64_t next = h.next_seq.load(std::memory_order_relaxed);
  std::memset(entry.name, 0, sizeof entry.name);
  std::memcpy(entry.name, name.data(), name.size());
  // Due from `next` on; with kOldest the cursor first walks what the window still holds.
  entry.join_seq.store(next, std::memory_order_relaxed);
  entry.cursor.store(start == SubscribeStart::kOldest ? h.head_seq.load(std::memory_order_relaxed) : next,
                     std::memory_order_relaxed);
  entry.received.store(0, std::memory_order_relaxed);
  entry.missed.store(0, std::memory_order_relaxed);
  entry.owner.store(ring.attachment + 1, std::memory_order_release);  // SYNC POINT subscriber-owner (release)
  // From the next allocation on, messages are due to it.
  h.subscriber_mask.fetch_or(uint32_t{1} << *free_index, std::memory_order_relaxed);
  return Subscription(state_, *free_index, std::string(name));
}

// --- Subscription ------------------------------------------------------------------------
Subscription::Subscription(std::shared_ptr<RingState> ring, uint32_t index, std::string name)
    : ring_(std::move(ring)), index_(index), name_(std::move(name)) {}
Subscription::Subscription(Subscription&& other) noexcept
    : ring_(std::move(other.ring_)),
      index_(other.index_),
      name_(std::move(other.name_)),
      reported_missed_(other.reported_missed_),
      spin_(other.spin_) {}
Subscription& Subscription::operator=(Subscription&& other) noexcept {
  if (this != &other) {
    Leave();
    ring_ = std::move(other.ring_);
    index_ = other.index_;
    name_ = std::move(other.name_);
    reported_missed_ = other.reported_missed_;
    spin_ = other.spin_;
  }
  return *this;
}
Subscription::~Subscription() { Leave(); }

void Subscription::Leave() {
  if (!ring_) return;
  if (CheckProcess(*ring_).ok()) {  // An inherited copy after fork must not touch the entry.
    AllocatorLock lock(*ring_);
    // SYNC POINT subscriber-owner (acquire)
    if (lock.ok() && ring_->subscribers[index_].owner.load(std::memory_order_acquire) == ring_->attachment + 1) {
      RemoveSubscriberLocked(*ring_, index_);
    }
  }
  ring_.reset();
}

uint64_t Subscription::missed() const {
  return ring_ ? ring_->subscribers[index_].missed.load(std::memory_order_relaxed) : reported_missed_;
}

Status Subscription::SetSpin(SpinPolicy policy) {
  if (policy.limit.count() < 0 || policy.limit > kMaxSpinLimit) {
    return Error{Errc::kInvalidArgument, "spin limit must lie between 0 and 1 s"};
  }
  spin_ = SpinBudget(policy);
  return std::monostate{};
}

namespace {

// Tells the CPU this is a polling loop: saves power and, on SMT cores, the sibling's cycles.
inline void CpuRelax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// How long an adaptive poll runs before it starts yielding between rounds. A sched_yield
// costs ~3 µs on this VM even with a CPU to spare (64-byte ping-pong p50 3.6 µs yielding from
// the start, 0.52 µs after 10 µs); the first 10 µs cover a peer that answers at once, and past
// them a yield costs under a quarter of the wait. Under load, this bounds a message queued
// behind the poller to ~10 µs (p99 ~14 µs, against ~105 µs, the whole budget, without).
constexpr std::chrono::microseconds kPollWithoutYielding{10};

// Polls `word` until it differs from `seen` or `budget` has passed; whether it changed.
// `yield`: give the CPU away between rounds past kPollWithoutYielding — the shared default;
// a non-adaptive policy is for a consumer that owns a core, and there a yield only adds its
// cost to the tail (64-byte spin p99 0.6–0.8 µs without, 13–15 µs with).
bool PollForChange(const std::atomic<uint32_t>& word, uint32_t seen, std::chrono::steady_clock::duration budget,
                   bool yield) {
  if (budget.count() <= 0) return false;
  const auto start = std::chrono::steady_clock::now();
  const auto end = start + budget;
  const auto yield_from = start + kPollWithoutYielding;
  while (true) {
    // Reading the clock costs ~20 ns (vDSO): look at it every 64 polls only.
    for (int i = 0; i < 64; ++i) {
      // SYNC POINT commit-epoch (acquire: polling for a bump)
      if (word.load(std::memory_order_acquire) != seen) return true;
      CpuRelax();
    }
    const auto now = std::chrono::steady_clock::now();
    if (now >= end) return false;
    // Past the first kPollWithoutYielding, give the CPU to any other runnable thread between
    // rounds: when the machine has more runnable threads than CPUs, the publisher we wait for
    // may be queued behind us, and a poller that never yields makes it wait for the
    // scheduler's tick (docs/benchmarks.md, "Adaptive waiting").
    if (yield && now >= yield_from) sched_yield();
  }
}

}  // namespace

namespace {

// How often a subscriber that finds nothing looks whether its ring's name still holds its ring.
constexpr std::chrono::seconds kNameCheckInterval{1};

// A named ring that was removed (or created again under its name) gets no more messages: the
// error a subscriber waiting on it gets instead of waiting forever. Looks at most once per
// kNameCheckInterval per attachment; rings in caller memory have no name to lose.
std::optional<Error> RingGone(RingState& ring, const std::string& subscriber) {
  if (!ring.named) return std::nullopt;
  const int64_t now =
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
  const int64_t last = ring.name_checked_ns.load(std::memory_order_relaxed);
  if (last != 0 && now - last < std::chrono::nanoseconds(kNameCheckInterval).count()) return std::nullopt;
  ring.name_checked_ns.store(now, std::memory_order_relaxed);
  auto prefix = MappedSegment::ReadPrefix(ring.name, sizeof(RingHeader));
  bool created_again = false;
  if (prefix.ok()) {
    if (prefix->size() < sizeof(RingHeader)) return std::nullopt;  // being created: look again later
    alignas(RingHeader) std::byte storage[sizeof(RingHeader)];
    std::memcpy(storage, prefix->data(), sizeof storage);
    if (reinterpret_cast<const RingHeader*>(storage)->ring_id == ring.header->ring_id) return std::nullopt;
    created_again = true;
  } else if (prefix.error().code != Errc::kNotFound) {
    return std::nullopt;  // cannot tell (not readable): take it for there
  }
  return Error{Errc::kNotFound, "ring '" + ring.name + "' was removed" +
                                    (created_again ? std::string(" and created again") : std::string()) +
                                    ": no message will come to subscriber '" + subscriber +
                                    "' on the removed one; subscribe to the ring again"};
}

}  // namespace

Result<std::optional<Subscription::Delivery>> Subscription::Next(std::chrono::nanoseconds timeout) {
  if (!ring_) return Error{Errc::kBadState, "Next() on a subscription that left or was moved from"};
  if (auto process = CheckProcess(*ring_); !process) return process.error();
  if (timeout.count() < 0) return Error{Errc::kInvalidArgument, "timeout must not be negative"};
  RingState& ring = *ring_;
  RingHeader& h = *ring.header;
  layout::Subscriber& entry = ring.subscribers[index_];
  if (entry.owner.load(std::memory_order_acquire) != ring.attachment + 1) {  // SYNC POINT subscriber-owner (acquire)
    return Error{Errc::kBadState, "subscriber '" + name_ + "' was removed from ring '" + ring.name +
                                      "' (recovered as dead?); subscribe again"};
  }
  const uint32_t bit = uint32_t{1} << index_;
  const auto start = std::chrono::steady_clock::now();
  uint64_t wait_start_ns = 0;                      // CLOCK_REALTIME when this call first found nothing to take
  std::chrono::steady_clock::time_point poll_end;  // polling stops here, however often the epoch moves
  constexpr std::chrono::milliseconds kRecoverySlice{50};
  while (true) {
    // Read the epoch before looking for work: a commit after the look changes it, so the
    // wait below returns at once (no lost wake-up).
    uint32_t epoch = h.commit_epoch.load(std::memory_order_seq_cst);  // SYNC POINT commit-epoch (seq_cst)
    const uint64_t own_cursor = entry.cursor.load(std::memory_order_relaxed);
    const uint64_t head = h.head_seq.load(std::memory_order_acquire);  // SYNC POINT head-seq (acquire)
    const uint64_t next = h.next_seq.load(std::memory_order_acquire);  // SYNC POINT next-seq (acquire)
    // Loaded in this order, a sound ring has cursor <= next and head <= next (next only grows);
    // anything else was written by someone scribbling on the segment.
    if (own_cursor > next || head > next) {
      return Error{Errc::kCorrupt,
                   "ring '" + ring.name + "': " +
                       (own_cursor > next ? "subscriber '" + name_ + "' cursor " + std::to_string(own_cursor)
                                          : "head_seq " + std::to_string(head)) +
                       " lies beyond next_seq " + std::to_string(next) +
                       " (a process with write access overwrote shared state); "
                       "remove and re-create the ring"};
    }
    // Messages older than next - M cannot exist (M descriptors): never walk further back.
    const uint64_t descriptors = ring.index_mask + 1;
    uint64_t cursor = std::max({own_cursor, head, next > descriptors ? next - descriptors : 0});
    bool waiting_on_writer = false;
    const uint64_t join_seq = entry.join_seq.load(std::memory_order_relaxed);
    while (cursor < next) {
      MessageDescriptor& d = ring.descriptor(cursor);
      const uint64_t word = d.state.load(std::memory_order_acquire);  // SYNC POINT message-commit (acquire)
      // Freed (aborted, or dropped: counted in `missed` when it was due to us), or kept by its
      // readers outside the window (nothing was due to anyone any more).
      if (d.seq.load(std::memory_order_relaxed) != cursor || StateOf(word) == MessageState::kFree ||
          StateOf(word) == MessageState::kKept) {
        ++cursor;
        continue;
      }
      // History (start=oldest): published before we joined, read if still there.
      const bool history = cursor < join_seq;
      if (StateOf(word) == MessageState::kWriting) {
        if (history) {  // A write begun before we joined is not ours to wait for.
          ++cursor;
          continue;
        }
        waiting_on_writer = true;  // Deliver in sequence order: wait for it.
        break;
      }
      if (!history && (d.due.load(std::memory_order_acquire) & bit) == 0) {  // SYNC POINT due-mask (acquire)
        ++cursor;
        continue;
      }
      const Handle handle{h.ring_id, cursor, d.begin.load(std::memory_order_relaxed) % ring.capacity,
                          d.size.load(std::memory_order_relaxed)};
      auto slot = Ring(ring_).AcquireFor(handle, history ? Ring::kNoDelivery : static_cast<int>(index_), handle.size);
      ++cursor;
      if (!slot.ok()) {
        if (slot.error().code != Errc::kCorrupt) continue;  // Dropped meanwhile: counted as missed.
        // Report it once, and stop owing it: the space comes back when nobody else holds it.
        d.due.fetch_and(~bit, std::memory_order_acq_rel);  // SYNC POINT due-mask (acq_rel RMW)
        entry.cursor.store(cursor, std::memory_order_relaxed);
        return slot.error();
      }
      entry.cursor.store(cursor, std::memory_order_relaxed);
      entry.received.fetch_add(1, std::memory_order_relaxed);
      if (wait_start_ns != 0) spin_.Observe(wait_start_ns, slot->commit_time_ns());
      const uint64_t missed = entry.missed.load(std::memory_order_relaxed);
      Delivery delivery{std::move(*slot), missed - reported_missed_};
      reported_missed_ = missed;
      return std::optional<Delivery>(std::move(delivery));
    }
    entry.cursor.store(cursor, std::memory_order_relaxed);

    const auto waited = std::chrono::steady_clock::now() - start;
    if (timeout != kWaitForever && waited >= timeout) {
      if (auto gone = RingGone(ring, name_)) return *gone;
      return std::optional<Delivery>();
    }
    if (wait_start_ns == 0) {
      wait_start_ns = sys::RealtimeNs();
      // Within the timeout, computed without adding a huge timeout to a time point.
      poll_end = start + waited +
                 (timeout == kWaitForever ? spin_.budget()
                                          : std::min<std::chrono::nanoseconds>(spin_.budget(), timeout - waited));
    }
    if (PollForChange(h.commit_epoch, epoch, poll_end - (start + waited), spin_.policy().adaptive)) continue;
    auto slice = timeout == kWaitForever ? std::chrono::nanoseconds(kRecoverySlice)
                                         : std::min<std::chrono::nanoseconds>(timeout - waited, kRecoverySlice);
    if (!waiting_on_writer) slice = timeout == kWaitForever ? kWaitForever : timeout - waited;
    if (ring.named) slice = std::min<std::chrono::nanoseconds>(slice, kNameCheckInterval);
    h.commit_waiters.fetch_add(1, std::memory_order_seq_cst);  // SYNC POINT commit-epoch (seq_cst)
    sys::FutexWait(&h.commit_epoch, epoch, slice);
    h.commit_waiters.fetch_sub(1, std::memory_order_seq_cst);  // SYNC POINT commit-epoch (seq_cst)
    if (h.commit_epoch.load(std::memory_order_acquire) == epoch) {
      if (auto gone = RingGone(ring, name_)) return *gone;
    }
    // A writer killed mid-write wakes nobody: look for dead writers while waiting on one.
    // SYNC POINT commit-epoch (acquire)
    if (waiting_on_writer && h.commit_epoch.load(std::memory_order_acquire) == epoch) {
      Ring(ring_).Recover();
    }
  }
}

}  // namespace arrowring
