// Ring::Stats: a snapshot of occupancy, counters, subscribers and holders, read lock-free.
#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>
#include <vector>

#include "arrowring/ring/internal/ring_state_internal.h"

namespace arrowring {

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
  const uint64_t head = h.head_seq.load(std::memory_order_acquire);  // SYNC POINT head-seq (acquire)
  const uint64_t next = h.next_seq.load(std::memory_order_acquire);  // SYNC POINT next-seq (acquire)
  for (uint64_t seq = head; seq < WindowEnd(ring, head, next); ++seq) {
    const MessageDescriptor& d = ring.descriptor(seq);
    const uint64_t bytes = d.end.load(std::memory_order_relaxed) - d.begin.load(std::memory_order_relaxed);
    switch (StateOf(d.state.load(std::memory_order_acquire))) {  // SYNC POINT message-commit (acquire)
      case MessageState::kWriting:
        stats.writing_bytes += bytes;
        ++stats.writing_messages;
        break;
      case MessageState::kCommitted:
        stats.committed_bytes += bytes;
        ++stats.committed_messages;
        break;
      case MessageState::kFree:
      case MessageState::kKept:  // counted below, from the kept table
        break;
    }
  }
  std::vector<std::pair<uint32_t, uint64_t>> kept_by_attachment(layout::kMaxAttachments);  // messages, bytes
  const uint32_t kept_bound = ring.kept_bound();
  for (uint32_t i = 0; i < kept_bound; ++i) {
    const KeptMessage& k = ring.kept[i];
    const uint64_t word = k.state.load(std::memory_order_acquire);  // SYNC POINT kept-entry (acquire)
    if (StateOf(word) != MessageState::kCommitted) continue;
    const uint64_t bytes = k.end.load(std::memory_order_relaxed) - k.begin.load(std::memory_order_relaxed);
    if (bytes > ring.capacity) continue;  // scribbled: not counted
    ++stats.kept_messages;
    stats.kept_bytes += bytes;
    for (uint64_t holders = HoldersOf(word); holders != 0; holders &= holders - 1) {
      auto& [count, held_bytes] = kept_by_attachment[std::countr_zero(holders)];
      ++count;
      held_bytes += bytes;
    }
  }
  stats.max_kept = ring.max_kept;
  stats.retain = ring.retain;
  stats.prefault = (ring.header->flags & layout::kFlagPrefault) != 0;
  stats.warm_bytes = ring.retain ? 0 : ring.warm_bytes;
  stats.writer_lap_bytes = ring.header->last_lap_bytes.load(std::memory_order_relaxed);
  const uint64_t used = std::min(ring.capacity, stats.writing_bytes + stats.committed_bytes + stats.kept_bytes);
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
  stats.messages_given_way = h.messages_given_way.load(std::memory_order_relaxed);
  stats.bytes_given_way = h.bytes_given_way.load(std::memory_order_relaxed);
  stats.messages_kept_total = h.messages_kept.load(std::memory_order_relaxed);
  stats.kept_full = h.kept_full.load(std::memory_order_relaxed);
  for (uint32_t i = 0; i < layout::kMaxSubscribers; ++i) {
    const layout::Subscriber& entry = ring.subscribers[i];
    const uint32_t owner = entry.owner.load(std::memory_order_acquire);  // SYNC POINT subscriber-owner (acquire)
    if (owner == 0 || owner > layout::kMaxAttachments) continue;
    const Attachment& a = ring.attachments[owner - 1];
    const uint64_t pid = a.pid.load(std::memory_order_acquire);  // SYNC POINT attachment-pid (acquire)
    const uint64_t cursor = entry.cursor.load(std::memory_order_relaxed);
    stats.subscribers.push_back({std::string(entry.name, strnlen(entry.name, layout::kMaxSubscriberNameLength)), pid,
                                 pid != 0 && sys::ProcessAlive(pid, a.start_time.load(std::memory_order_relaxed)),
                                 next > cursor ? next - cursor : 0, entry.received.load(std::memory_order_relaxed),
                                 entry.missed.load(std::memory_order_relaxed)});
  }
  for (uint32_t i = 0; i < layout::kMaxAttachments; ++i) {
    const Attachment& a = ring.attachments[i];
    const uint64_t pid = a.pid.load(std::memory_order_acquire);  // SYNC POINT attachment-pid (acquire)
    if (pid == 0) continue;
    stats.holders.push_back({pid, sys::ProcessAlive(pid, a.start_time.load(std::memory_order_relaxed)),
                             a.write_refs.load(std::memory_order_relaxed), a.read_refs.load(std::memory_order_relaxed),
                             a.write_bytes.load(std::memory_order_relaxed),
                             a.read_bytes.load(std::memory_order_relaxed), kept_by_attachment[i].first,
                             kept_by_attachment[i].second});
  }
  return stats;
}

}  // namespace arrowring
