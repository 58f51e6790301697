// Kept messages: moving a message that only readers hold out of the sequence window, finding
// it again for its holders, releasing it, and placing new messages around its bytes.
#include <algorithm>

#include "arrowring/ring/internal/kept_internal.h"
#include "arrowring/ring/internal/message_lifecycle_internal.h"

namespace arrowring {

namespace {

// The physical extent [begin, end) of a kept entry, or empty when its words are not those of a
// message of this ring (a scribbled entry: placement then ignores it rather than trusting it).
std::optional<std::pair<uint64_t, uint64_t>> PhysicalExtent(const RingState& ring, const KeptMessage& k) {
  const uint64_t begin = k.begin.load(std::memory_order_relaxed);
  const uint64_t end = k.end.load(std::memory_order_relaxed);
  if (begin % layout::kMessageAlignment != 0 || end <= begin || end - begin > ring.capacity) return std::nullopt;
  const uint64_t physical = begin % ring.capacity;
  if (physical + (end - begin) > ring.capacity) return std::nullopt;
  return std::pair{physical, physical + (end - begin)};
}

}  // namespace

bool KeepLocked(RingState& ring, uint64_t seq) {
  RingHeader& h = *ring.header;
  MessageDescriptor& d = ring.descriptor(seq);
  uint64_t word = d.state.load(std::memory_order_acquire);  // SYNC POINT message-commit, message-release (acquire)
  // SYNC POINT due-mask (acquire)
  if (StateOf(word) != MessageState::kCommitted || HoldersOf(word) == 0 ||
      d.seq.load(std::memory_order_relaxed) != seq || d.due.load(std::memory_order_acquire) != 0 ||
      !CheckDescriptor(ring, d, seq)) {
    return false;
  }
  // The lowest free entry, so that kept_high (the scan bound of every lookup) stays low.
  uint32_t index = 0;
  // SYNC POINT message-release (acquire: an entry seen free is done)
  while (index < ring.max_kept &&
         StateOf(ring.kept[index].state.load(std::memory_order_acquire)) != MessageState::kFree) {
    ++index;
  }
  if (index == ring.max_kept) {
    h.kept_full.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  KeptMessage& k = ring.kept[index];
  k.seq.store(seq, std::memory_order_relaxed);
  k.begin.store(d.begin.load(std::memory_order_relaxed), std::memory_order_relaxed);
  k.end.store(d.end.load(std::memory_order_relaxed), std::memory_order_relaxed);
  k.size.store(d.size.load(std::memory_order_relaxed), std::memory_order_relaxed);
  k.commit_ns.store(d.commit_ns.load(std::memory_order_relaxed), std::memory_order_relaxed);
  k.pending.store(0, std::memory_order_relaxed);
  k.due.store(0, std::memory_order_relaxed);
  k.writer.store(0, std::memory_order_relaxed);
  k.pending_deadline_s.store(0, std::memory_order_relaxed);
  // Lookups scan [0, kept_high): raise it before the entry can be found.
  // SYNC POINT kept-high (release)
  if (index >= h.kept_high.load(std::memory_order_relaxed)) h.kept_high.store(index + 1, std::memory_order_release);
  const uint64_t tag = TagOf(k.state.load(std::memory_order_relaxed)) + 1;
  while (true) {
    // SYNC POINT kept-entry (release): the entry's fields, then its state with the holders the
    // descriptor has now. Until the CAS below succeeds nobody looks here for `seq` (the
    // descriptor still answers for it), and lookups of other sequences compare `seq` first.
    k.state.store(PackState(tag, MessageState::kCommitted, HoldersOf(word)), std::memory_order_release);
    // SYNC POINT kept-move (acq_rel CAS): the descriptor hands its holders over in one step.
    // A holder that loaded the descriptor before this fails its own CAS, loads kKept (acquire,
    // so the entry written above is visible) and goes to the entry.
    if (d.state.compare_exchange_weak(word, PackState(TagOf(word), MessageState::kKept, index),
                                      std::memory_order_acq_rel)) {
      h.messages_kept.fetch_add(1, std::memory_order_relaxed);
      return true;
    }
    // A holder came or went meanwhile: hand over the holders there are now, if any.
    if (StateOf(word) != MessageState::kCommitted || HoldersOf(word) == 0) {
      // SYNC POINT message-release (release: the entry is free again)
      k.state.store(PackState(tag, MessageState::kFree, 0), std::memory_order_release);
      ShrinkKeptHighLocked(ring);
      return false;
    }
  }
}

MessageDescriptor* LocateMessage(RingState& ring, uint64_t seq, uint64_t& word) {
  MessageDescriptor& d = ring.descriptor(seq);
  word = d.state.load(std::memory_order_acquire);  // SYNC POINT message-commit, kept-move (acquire)
  // `seq` is read after `state`: a descriptor is reused by storing seq before state (release),
  // so a seq equal to ours means the state word loaded was our message's (a CAS on a word
  // the descriptor has since left fails on its tag).
  if (d.seq.load(std::memory_order_relaxed) == seq) {
    if (StateOf(word) == MessageState::kCommitted) return &d;
    if (StateOf(word) == MessageState::kWriting || StateOf(word) == MessageState::kFree) return nullptr;
    const uint64_t index = HoldersOf(word);  // kKept: where it went
    if (index < ring.max_kept) {
      KeptMessage& k = ring.kept[index];
      word = k.state.load(std::memory_order_acquire);  // SYNC POINT kept-entry (acquire)
      if (StateOf(word) == MessageState::kCommitted && k.seq.load(std::memory_order_relaxed) == seq) return &k;
    }
  }
  // The descriptor has been reused since the message moved out (or it never was ours): look
  // for it among the kept entries.
  const uint32_t bound = ring.kept_bound();
  for (uint32_t i = 0; i < bound; ++i) {
    KeptMessage& k = ring.kept[i];
    word = k.state.load(std::memory_order_acquire);  // SYNC POINT kept-entry (acquire)
    if (StateOf(word) == MessageState::kCommitted && k.seq.load(std::memory_order_relaxed) == seq) return &k;
  }
  return nullptr;
}

void ReleaseHold(RingState& ring, uint64_t seq) {
  RingHeader& h = *ring.header;
  while (true) {
    uint64_t word = 0;
    MessageDescriptor* m = LocateMessage(ring, seq, word);
    // Not found, or found without our bit: nothing of ours to release (recovery cannot take a
    // live attachment's bits, so only a scribbled segment gets here).
    if (m == nullptr || (HoldersOf(word) & ring.bit) == 0) return;
    const bool kept = m != &ring.descriptor(seq);
    uint64_t desired = word & ~ring.bit;
    // The last holder frees the message if nothing else is owed. `pending` and `due` are read
    // after the acquire load of `state` that saw every earlier holder's release, so they are
    // final (only holders change them).
    if (HoldersOf(desired) == 0 && (kept || CanFree(*m, /*allow_lapse=*/false, ring.retain) == Freeable::kDone)) {
      desired = PackState(TagOf(word), MessageState::kFree, 0);
    }
    // SYNC POINT message-release (acq_rel CAS): pairs with the allocator's acquire load of
    // `state` before it reuses the bytes (ReclaimHeadLocked, FitAroundKeptLocked).
    if (m->state.compare_exchange_strong(word, desired, std::memory_order_acq_rel)) {
      if (StateOf(desired) == MessageState::kFree) BumpAndWake(h.space_epoch, h.space_waiters);
      return;
    }
  }
}

std::optional<uint64_t> FitAroundKeptLocked(RingState& ring, uint64_t begin, uint64_t reserve, uint64_t limit) {
  const uint64_t capacity = ring.capacity;
  const uint32_t bound = ring.kept_bound();
  while (true) {
    if (begin % capacity + reserve > capacity) begin = RoundUp(begin, capacity);  // never across the end
    if (begin > limit || limit - begin < reserve) return std::nullopt;
    const uint64_t start = begin % capacity;
    uint64_t skip_to = 0;  // the physical end of the last kept message in the way
    for (uint32_t i = 0; i < bound; ++i) {
      const KeptMessage& k = ring.kept[i];
      // SYNC POINT message-release (acquire): a kept entry seen free is done with its bytes.
      if (StateOf(k.state.load(std::memory_order_acquire)) != MessageState::kCommitted) continue;
      const auto extent = PhysicalExtent(ring, k);
      if (extent && extent->first < start + reserve && start < extent->second) {
        skip_to = std::max(skip_to, extent->second);
      }
    }
    if (skip_to == 0) return begin;
    begin += skip_to - start;  // strictly forward: skip_to > start
  }
}

uint64_t KeptBytesWithinLocked(const RingState& ring, uint64_t from, uint64_t to) {
  uint64_t bytes = 0;
  const uint32_t bound = ring.kept_bound();
  for (uint32_t i = 0; i < bound; ++i) {
    const KeptMessage& k = ring.kept[i];
    // SYNC POINT message-release (acquire)
    if (StateOf(k.state.load(std::memory_order_acquire)) != MessageState::kCommitted) continue;
    const auto extent = PhysicalExtent(ring, k);
    if (!extent) continue;
    const uint64_t lo = std::max(from, extent->first), hi = std::min(to, extent->second);
    if (lo < hi) bytes += hi - lo;
  }
  return bytes;
}

void ShrinkKeptHighLocked(RingState& ring) {
  RingHeader& h = *ring.header;
  uint32_t high = ring.kept_bound();
  const uint32_t before = high;
  // SYNC POINT message-release (acquire)
  while (high > 0 && StateOf(ring.kept[high - 1].state.load(std::memory_order_acquire)) == MessageState::kFree) {
    --high;
  }
  if (high != before) h.kept_high.store(high, std::memory_order_release);  // SYNC POINT kept-high (release)
}

std::pair<uint64_t, uint64_t> ReleaseKeptOfLocked(RingState& ring, uint64_t bit) {
  RingHeader& h = *ring.header;
  uint64_t released = 0, freed_bytes = 0;
  const uint32_t bound = ring.kept_bound();
  for (uint32_t i = 0; i < bound; ++i) {
    KeptMessage& k = ring.kept[i];
    uint64_t word = k.state.load(std::memory_order_acquire);  // SYNC POINT kept-entry (acquire)
    while (StateOf(word) == MessageState::kCommitted && (HoldersOf(word) & bit) != 0) {
      const uint64_t desired = HoldersOf(word) == bit ? PackState(TagOf(word), MessageState::kFree, 0) : word & ~bit;
      // SYNC POINT message-release (acq_rel CAS: a dead holder released)
      if (k.state.compare_exchange_weak(word, desired, std::memory_order_acq_rel)) {
        ++released;
        if (StateOf(desired) == MessageState::kFree) {
          const auto extent = PhysicalExtent(ring, k);
          if (extent) freed_bytes += extent->second - extent->first;
          BumpAndWake(h.space_epoch, h.space_waiters);
        }
        break;
      }
    }
  }
  ShrinkKeptHighLocked(ring);
  return {released, freed_bytes};
}

void RepairKeptLocked(RingState& ring) {
  const uint32_t bound = ring.kept_bound();
  for (uint32_t i = 0; i < bound; ++i) {
    KeptMessage& k = ring.kept[i];
    const uint64_t word = k.state.load(std::memory_order_acquire);  // SYNC POINT kept-entry (acquire)
    if (StateOf(word) != MessageState::kCommitted) continue;
    const uint64_t seq = k.seq.load(std::memory_order_relaxed);
    const MessageDescriptor& d = ring.descriptor(seq);
    // The descriptor still answers for the message: the move never happened, and the holders
    // will release through the descriptor. The entry is a copy nobody will ever release.
    // SYNC POINT kept-move (acquire)
    if (d.seq.load(std::memory_order_relaxed) == seq &&
        StateOf(d.state.load(std::memory_order_acquire)) == MessageState::kCommitted) {
      // SYNC POINT message-release (release: the entry is free again)
      k.state.store(PackState(TagOf(word), MessageState::kFree, 0), std::memory_order_release);
    }
  }
  ShrinkKeptHighLocked(ring);
}

}  // namespace arrowring
