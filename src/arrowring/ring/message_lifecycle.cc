// The message state machine: write slots (commit, abort), read slots (acquire by handle or
// sequence, duplicate, release) and the CASes on each descriptor's state word that they make.
#include <algorithm>
#include <cstdio>

#include "arrowring/ring/internal/allocator_lock_internal.h"
#include "arrowring/ring/internal/kept_internal.h"
#include "arrowring/ring/internal/message_lifecycle_internal.h"
#include "arrowring/ring/ring.h"

namespace arrowring {

Status CheckDescriptor(const RingState& ring, const MessageDescriptor& d, uint64_t seq) {
  const uint64_t begin = d.begin.load(std::memory_order_relaxed);
  const uint64_t end = d.end.load(std::memory_order_relaxed);
  const uint64_t size = d.size.load(std::memory_order_relaxed);
  auto corrupt = [&](std::string_view field, uint64_t value, std::string_view rule) {
    return Error{Errc::kCorrupt, "ring '" + ring.name + "': message " + std::to_string(seq) + "'s descriptor " +
                                     std::string(field) + " is " + std::to_string(value) + ", " + std::string(rule) +
                                     " (a process with write access overwrote shared state); the message "
                                     "is skipped, and 'arrowring stat' shows the ring"};
  };
  if (begin % layout::kMessageAlignment != 0) return corrupt("begin", begin, "not 64-byte aligned");
  if (end < begin || end - begin > ring.capacity || (end - begin) % layout::kMessageAlignment != 0) {
    return corrupt("end", end, "not a 64-byte multiple of at most the capacity past begin");
  }
  if (begin % ring.capacity + (end - begin) > ring.capacity) {
    return corrupt("begin", begin, "a reservation that crosses the end of the ring");
  }
  if (size == 0 || size > end - begin) return corrupt("size", size, "not 1 to its reservation's bytes");
  return Ok();
}

namespace {

// The StaleHandle error of an operation on message `seq` that is not committed.
Error NotCommitted(const RingState& ring, uint64_t seq) {
  return Error{Errc::kStaleHandle, "message " + std::to_string(seq) + " of ring '" + ring.name +
                                       "' is not committed: not yet, or freed (or dropped) since"};
}

}  // namespace

Error Stale(const RingState& ring, const Handle& handle, std::string_view why) {
  return {Errc::kStaleHandle, "message " + std::to_string(handle.sequence) + " of ring '" + ring.name + "' (handle " +
                                  handle.ToString() + ") " + std::string(why) +
                                  "; load handles before the ring needs their space (more deliveries, a "
                                  "longer delivery TTL, or a bigger ring)"};
}

// --- WriteSlot ---------------------------------------------------------------------------
WriteSlot::WriteSlot(std::shared_ptr<RingState> ring, uint64_t seq, std::span<std::byte> data, uint64_t requested,
                     bool cold)
    : ring_(std::move(ring)), seq_(seq), data_(data), requested_(requested), cold_(cold) {}
WriteSlot::WriteSlot(WriteSlot&& other) noexcept
    : ring_(std::move(other.ring_)),
      seq_(other.seq_),
      data_(other.data_),
      requested_(other.requested_),
      cold_(other.cold_) {}
WriteSlot& WriteSlot::operator=(WriteSlot&& other) noexcept {
  if (this != &other) {
    Abort();
    ring_ = std::move(other.ring_);
    seq_ = other.seq_;
    data_ = other.data_;
    requested_ = other.requested_;
    cold_ = other.cold_;
  }
  return *this;
}
WriteSlot::~WriteSlot() { Abort(); }

Result<Handle> WriteSlot::Commit(uint64_t bytes_used, uint32_t deliveries, std::chrono::seconds delivery_ttl) {
  if (!ring_) return Error{Errc::kBadState, "commit on a write slot that was moved from or already finished"};
  if (auto process = CheckProcess(*ring_); !process) return process.error();
  if (bytes_used == 0 || bytes_used > requested_) {
    return Error{Errc::kInvalidArgument, "commit of " + std::to_string(bytes_used) + " bytes into a slot of " +
                                             std::to_string(requested_) + " bytes; commit 1 to " +
                                             std::to_string(requested_)};
  }
  RingState& ring = *ring_;
  RingHeader& h = *ring.header;
  MessageDescriptor& d = ring.descriptor(seq_);
  d.size.store(bytes_used, std::memory_order_relaxed);
  // A retaining ring keeps what nobody owes anything to: kRetained instead of "done".
  d.pending.store(deliveries == 0 && ring.retain ? layout::kRetained : deliveries, std::memory_order_relaxed);
  const uint64_t deadline =
      deliveries == kUntilDropped
          ? UINT32_MAX
          : uint64_t{sys::MonotonicSeconds()} + static_cast<uint64_t>(std::max<int64_t>(0, delivery_ttl.count()));
  d.pending_deadline_s.store(static_cast<uint32_t>(std::min<uint64_t>(deadline, UINT32_MAX)),
                             std::memory_order_relaxed);
  d.commit_ns.store(sys::RealtimeNs(), std::memory_order_relaxed);
  uint64_t word = d.state.load(std::memory_order_relaxed);
  // Release: the payload and the fields above become visible with kCommitted.
  const bool committed =
      StateOf(word) == MessageState::kWriting &&
      d.state.compare_exchange_strong(word, PackState(TagOf(word), MessageState::kCommitted, 0),
                                      std::memory_order_acq_rel);  // SYNC POINT message-commit (acq_rel CAS)
  d.writer.store(0, std::memory_order_relaxed);
  ring.self().write_refs.fetch_sub(1, std::memory_order_relaxed);
  ring.self().write_bytes.fetch_sub(data_.size(), std::memory_order_relaxed);
  const Handle handle{h.ring_id, seq_, d.begin.load(std::memory_order_relaxed) % ring.capacity, bytes_used};
  ring_.reset();
  if (!committed) {
    return Error{Errc::kStaleHandle, "message " + std::to_string(seq_) + " was aborted by recovery before its commit"};
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
  if (!ring_->owned_by_this_process()) {  // Inherited across fork(): the parent's to finish.
    ring_.reset();
    return;
  }
  RingState& ring = *ring_;
  RingHeader& h = *ring.header;
  MessageDescriptor& d = ring.descriptor(seq_);
  uint64_t word = d.state.load(std::memory_order_relaxed);
  // SYNC POINT message-release (acq_rel CAS: aborted)
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
ReadSlot::ReadSlot(std::shared_ptr<RingState> ring, Handle handle, std::span<const std::byte> data, uint64_t commit_ns)
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
  if (!ring.owned_by_this_process()) {  // Inherited across fork(): the reference is the parent's.
    ring_.reset();
    return;
  }
  {
    std::lock_guard lock(ring.local_mutex);
    auto it = ring.local_refs.find(handle_.sequence);
    if (it != ring.local_refs.end() && --it->second == 0) {
      ring.local_refs.erase(it);
      // Clear the shared bit while still holding local_mutex, so that a concurrent Acquire
      // in this process cannot see count 0 and rely on a bit we are about to clear.
      ReleaseHold(ring, handle_.sequence);
      ring.self().read_refs.fetch_sub(1, std::memory_order_relaxed);
      ring.self().read_bytes.fetch_sub(handle_.size, std::memory_order_relaxed);
    }
  }
  ring_.reset();
}

// --- Acquiring --------------------------------------------------------------------------
Result<ReadSlot> Ring::Acquire(const Handle& handle) { return AcquireFor(handle, kThroughHandle, handle.size); }

Result<ReadSlot> Ring::AcquireSequence(uint64_t seq, uint64_t length) {
  if (auto process = CheckProcess(*state_); !process) return process.error();
  const std::optional<Handle> handle = HandleOf(seq);
  if (!handle) {
    return NotCommitted(*state_, seq);
  }
  if (length > handle->size) {
    return Error{Errc::kInvalidArgument, "message " + std::to_string(seq) + " of ring '" + state_->name + "' holds " +
                                             std::to_string(handle->size) + " bytes; " + std::to_string(length) +
                                             " were asked for"};
  }
  return AcquireFor(*handle, kThroughHandle, length == 0 ? handle->size : length);
}

Status Ring::Retire(uint64_t seq) {
  if (auto process = CheckProcess(*state_); !process) return process.error();
  RingState& ring = *state_;
  uint64_t word = 0;
  MessageDescriptor* m = LocateMessage(ring, seq, word);
  if (m == nullptr) {
    return NotCommitted(ring, seq);
  }
  // A kept message owes nothing to anyone: its last holder frees it.
  if (m != &ring.descriptor(seq)) return Ok();
  MessageDescriptor& d = *m;
  // No more deliveries through handles, and no retention. A holder releasing concurrently may
  // still read the old count and leave the message committed and unheld; it is then freed by
  // the next allocation's head reclaim, which reads pending under the allocator lock.
  d.pending.store(0, std::memory_order_release);  // SYNC POINT pending-count (release)
  while (true) {
    if (StateOf(word) != MessageState::kCommitted || d.seq.load(std::memory_order_relaxed) != seq) {
      return Ok();  // Freed meanwhile (by a releaser that saw pending == 0), dropped, or kept.
    }
    if (HoldersOf(word) != 0 || CanFree(d, /*allow_lapse=*/false, ring.retain) != Freeable::kDone) return Ok();
    if (d.state.compare_exchange_weak(word, PackState(TagOf(word), MessageState::kFree, 0),
                                      std::memory_order_acq_rel)) {  // SYNC POINT message-release (acq_rel CAS: freed)
      BumpAndWake(ring.header->space_epoch, ring.header->space_waiters);
      return Ok();
    }
  }
}

Status Ring::WaiveDeliveries(uint64_t seq) {
  if (auto process = CheckProcess(*state_); !process) return process.error();
  RingState& ring = *state_;
  if (!ring.retain) return Retire(seq);  // Nothing would keep it: the same as retiring it.
  {
    // Only the allocator, under this lock, gives a descriptor to another message: while it is
    // held, the count changed below stays this message's (a message owing loads is freed by
    // nobody else in a retaining ring, except Retire(), which leaves the descriptor free).
    AllocatorLock lock(ring);
    if (!lock.ok()) return lock.error();
    uint64_t word = 0;
    MessageDescriptor* m = LocateMessage(ring, seq, word);
    if (m == nullptr) {
      return NotCommitted(ring, seq);
    }
    if (m != &ring.descriptor(seq)) return Ok();  // Kept by its readers: it owes nothing.
    // SYNC POINT pending-count (acquire)
    uint32_t pending = m->pending.load(std::memory_order_acquire);
    while (pending != 0 && pending != WriteSlot::kUntilDropped && pending != layout::kRetained) {
      // Racing loaders decrement the same count; whoever is last moves it to kRetained too.
      // SYNC POINT pending-count (acq_rel CAS)
      if (m->pending.compare_exchange_weak(pending, layout::kRetained, std::memory_order_acq_rel)) break;
    }
  }
  // An allocation waiting for space may now take this message's, when it is the oldest.
  BumpAndWake(ring.header->space_epoch, ring.header->space_waiters);
  return Ok();
}

Result<ReadSlot> Ring::AcquireFor(const Handle& handle, int subscriber, uint64_t length) {
  if (auto process = CheckProcess(*state_); !process) return process.error();
  RingState& ring = *state_;
  RingHeader& h = *ring.header;
  if (handle.ring_id != h.ring_id) {
    char id[20];
    std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(h.ring_id));
    return Error{Errc::kWrongRing,
                 "handle " + handle.ToString() + " names another ring than '" + ring.name + "' (id " + id + ")"};
  }
  if (handle.sequence >= h.next_seq.load(std::memory_order_acquire)) {  // SYNC POINT next-seq (acquire)
    return Error{Errc::kInvalidArgument,
                 "handle " + handle.ToString() + " names a message this ring has not allocated yet"};
  }
  std::lock_guard lock(ring.local_mutex);
  auto& count = ring.local_refs[handle.sequence];
  const bool first = count == 0;
  MessageDescriptor* m = nullptr;
  uint64_t word = 0;
  while (true) {
    // In the sequence window, or kept outside it by its readers.
    m = LocateMessage(ring, handle.sequence, word);
    if (m == nullptr) {
      if (first) ring.local_refs.erase(handle.sequence);
      return Stale(ring, handle, "was freed (or dropped) and its space may hold another message");
    }
    // SYNC POINT message-commit (acq_rel CAS: a reader takes its hold)
    if (!first) break;  // Our bit is set already, wherever the message lives.
    // The tag in `word` makes this fail if the entry was reused since we loaded it.
    if (m->state.compare_exchange_weak(word, word | ring.bit, std::memory_order_acq_rel)) break;
  }
  // Holding our bit, the message cannot be freed: its fields are stable now — unless someone
  // scribbles on them, so they are checked on every acquisition, not only the first.
  Status sound = CheckDescriptor(ring, *m, handle.sequence);
  if (sound && (m->seq.load(std::memory_order_relaxed) != handle.sequence ||
                m->begin.load(std::memory_order_relaxed) % ring.capacity != handle.offset ||
                m->size.load(std::memory_order_relaxed) != handle.size)) {
    sound = Error{Errc::kInvalidArgument, "handle " + handle.ToString() +
                                              " does not match the message it names (offset or "
                                              "size differ): it was altered or forged"};
  }
  // Every acquisition is one delivery, also a second one through the same attachment. We
  // hold our bit here, so the message cannot be freed while we count.
  if (sound && subscriber >= 0) {
    const uint32_t bit = uint32_t{1} << subscriber;
    const uint32_t due_before = m->due.fetch_and(~bit, std::memory_order_acq_rel);  // SYNC POINT due-mask (acq_rel RMW)
    if ((due_before & bit) == 0) {
      // Dropped for this subscriber (counted in its `missed`) between its look and our hold.
      sound = Stale(ring, handle, "was dropped for subscriber space before it was taken");
    } else if (due_before == bit) {
      // Owed to nobody now: a writer waiting for space may keep it and go on.
      BumpAndWake(h.space_epoch, h.space_waiters);
    }
  } else if (sound && subscriber == kNoDelivery) {
    // History read by a subscriber that joined after it: nothing was owed.
  } else if (sound) {
    uint32_t pending = m->pending.load(std::memory_order_relaxed);
    while (pending > 0 && pending != WriteSlot::kUntilDropped && pending != layout::kRetained) {
      const uint32_t after = pending == 1 && ring.retain ? layout::kRetained : pending - 1;
      // SYNC POINT pending-count (acq_rel RMW)
      if (m->pending.compare_exchange_weak(pending, after, std::memory_order_acq_rel)) {
        // Its last owed load: a writer waiting for space may now let it give way, or keep it.
        if (pending == 1) BumpAndWake(h.space_epoch, h.space_waiters);
        break;
      }
    }
  }
  if (!sound) {
    if (first) {
      ring.local_refs.erase(handle.sequence);
      ReleaseHold(ring, handle.sequence);
    }
    return sound.error();
  }
  if (first) {
    ring.self().read_refs.fetch_add(1, std::memory_order_relaxed);
    ring.self().read_bytes.fetch_add(handle.size, std::memory_order_relaxed);
  }
  ++count;
  h.messages_read.fetch_add(1, std::memory_order_relaxed);
  h.bytes_read.fetch_add(length, std::memory_order_relaxed);
  return ReadSlot(state_, handle, std::span<const std::byte>(ring.data + handle.offset, length),
                  m->commit_ns.load(std::memory_order_relaxed));
}
// SYNC POINT next-seq (acquire)

uint64_t Ring::next_sequence() const { return state_->header->next_seq.load(std::memory_order_acquire); }
// SYNC POINT head-seq (acquire)
uint64_t Ring::oldest_sequence() const { return state_->header->head_seq.load(std::memory_order_acquire); }
uint64_t Ring::messages_read() const { return state_->header->messages_read.load(std::memory_order_relaxed); }

// Lookups of a message by sequence (HandleOf, PendingDeliveries) read its fields, then check
// that the entry they read still holds that message. Holder bits may change meanwhile (other
// loads take and drop their holds): only the tag (reuse of the entry) and the state count. A
// message that moved out of the window as it was read is looked up again where it went; the
// bound keeps a word scribbled on without end from holding a reader.
constexpr int kLookupAttempts = 4;

static bool StillTheMessage(const MessageDescriptor& m, uint64_t seen, uint64_t seq) {
  // The fields were read relaxed: the fence keeps those reads before the state's re-load (a
  // seqlock's read side), so a reuse that rewrote them shows as a changed tag.
  std::atomic_thread_fence(std::memory_order_acquire);
  // SYNC POINT message-release (acquire: unchanged since the look)
  const uint64_t now = m.state.load(std::memory_order_acquire);
  return TagOf(now) == TagOf(seen) && StateOf(now) == StateOf(seen) && m.seq.load(std::memory_order_relaxed) == seq;
}

std::optional<Handle> Ring::HandleOf(uint64_t seq) const {
  RingState& ring = *state_;
  for (int attempt = 0; attempt < kLookupAttempts; ++attempt) {
    uint64_t word = 0;
    const MessageDescriptor* m = LocateMessage(ring, seq, word);
    if (m == nullptr) return std::nullopt;
    Handle handle{ring.header->ring_id, seq, m->begin.load(std::memory_order_relaxed) % ring.capacity,
                  m->size.load(std::memory_order_relaxed)};
    if (StillTheMessage(*m, word, seq)) return handle;  // else the fields may be another message's
  }
  return std::nullopt;
}

std::optional<uint32_t> Ring::PendingDeliveries(uint64_t seq) const {
  RingState& ring = *state_;
  for (int attempt = 0; attempt < kLookupAttempts; ++attempt) {
    uint64_t word = 0;
    const MessageDescriptor* m = LocateMessage(ring, seq, word);
    if (m == nullptr) return std::nullopt;
    const uint32_t pending = m->pending.load(std::memory_order_acquire);  // SYNC POINT pending-count (acquire)
    if (StillTheMessage(*m, word, seq)) return pending == layout::kRetained ? 0 : pending;
  }
  return std::nullopt;  // it kept changing: the count may be another message's
}
// SYNC POINT commit-epoch (seq_cst)

uint32_t Ring::commit_epoch() const { return state_->header->commit_epoch.load(std::memory_order_seq_cst); }

uint32_t Ring::WaitForCommit(uint32_t seen_epoch, std::chrono::nanoseconds timeout) const {
  RingHeader& h = *state_->header;
  h.commit_waiters.fetch_add(1, std::memory_order_seq_cst);  // SYNC POINT commit-epoch (seq_cst)
  sys::FutexWait(&h.commit_epoch, seen_epoch, timeout);
  h.commit_waiters.fetch_sub(1, std::memory_order_seq_cst);  // SYNC POINT commit-epoch (seq_cst)
  return h.commit_epoch.load(std::memory_order_seq_cst);     // SYNC POINT commit-epoch (seq_cst)
}

void Ring::WakeCommitWaiters() const {
  RingHeader& h = *state_->header;
  BumpAndWake(h.commit_epoch, h.commit_waiters);
}

}  // namespace arrowring
