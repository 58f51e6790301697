// The shared-memory layout of an arrowring ring: the one place it is defined.
//
//   offset 0                                                                      total_bytes
//   +-----------+----------------+------------------+----------------------+------------------+
//   | RingHeader| Attachment[48] | Subscriber[32]   | MessageDescriptor[M] | data (capacity)  |
//   | 4 KiB     | 64 B each      | 128 B each       | 64 B each, M = 2^k   | page aligned     |
//   +-----------+----------------+------------------+----------------------+------------------+
//
// RingHeader: immutable identity and geometry (written once by create, checked by attach),
// then the allocator's words, futex words and counters, each group on its own cache line.
//
// Data: a byte ring addressed by monotonically increasing 64-bit *logical* positions;
// physical offset = position % capacity. A message occupies [begin, end) with begin and end
// multiples of 64 and never wraps: when it would, it starts at the next multiple of the
// capacity and the bytes skipped stay unused until the head passes them. Space is
// reclaimed in sequence order: the head advances over messages that are free.
//
// MessageDescriptor: the message with sequence number `seq` lives in descriptor seq % M; at
// most `message_limit` (<= M) sequence numbers are between head_seq and next_seq at once.
// Its `state` word packs, so that one CAS changes them together:
//
//   63        52 51   48 47                                              0
//   +-----------+-------+------------------------------------------------+
//   | tag (12)  | state |  attachments holding a read reference (48 bits) |
//   +-----------+-------+------------------------------------------------+
//
//   state: kFree -> kWriting (allocate) -> kCommitted (commit) -> kFree (released/dropped)
//                            \-> kFree (abort, or its writer died)
//   tag:   incremented each time the descriptor is allocated, so a CAS prepared against an
//          earlier occupant of the descriptor fails.
//
// Fan-out: a message is due to every subscriber registered when it was allocated (the
// descriptor's `due` mask, fixed under the allocator lock, as are joins and leaves). It is
// freed once no attachment holds it (holder bits), no subscriber is still due to take it
// (`due`) and no handle delivery is pending (`pending`, which expires at `pending_deadline_s`).
//
// Attachment: one per Ring object attached to the segment (a process may have several):
// pid + process start time (so a reused pid is not mistaken for the attacher), and
// per-attachment accounting. Bit i of a descriptor's holder mask belongs to attachment i.
#pragma once

#include <pthread.h>

#include <atomic>
#include <cstddef>
#include <cstdint>

namespace arrowring::layout {

inline constexpr uint64_t kMagic = 0x474E4952574F5241ull;  // the bytes "AROWRING" in memory order
inline constexpr uint32_t kLayoutVersion = 3;
inline constexpr uint32_t kMaxAttachments = 48;
inline constexpr uint32_t kMaxSubscribers = 32;
inline constexpr size_t kMaxSubscriberNameLength = 80;
inline constexpr uint64_t kMessageAlignment = 64;
inline constexpr uint64_t kHeaderBytes = 4096;
inline constexpr uint64_t kPageBytes = 4096;
inline constexpr size_t kMaxNameLength = 200;

enum class MessageState : uint8_t { kFree = 0, kWriting = 1, kCommitted = 2 };

inline constexpr int kHolderBits = 48;
inline constexpr int kStateShift = 48;
inline constexpr int kTagShift = 52;
inline constexpr uint64_t kHolderMask = (uint64_t{1} << kHolderBits) - 1;
inline constexpr uint64_t kTagMask = 0xFFF;

constexpr uint64_t PackState(uint64_t tag, MessageState state, uint64_t holders) {
  return ((tag & kTagMask) << kTagShift) | (static_cast<uint64_t>(state) << kStateShift) |
         (holders & kHolderMask);
}
constexpr uint64_t TagOf(uint64_t word) { return word >> kTagShift; }
constexpr MessageState StateOf(uint64_t word) {
  return static_cast<MessageState>((word >> kStateShift) & 0xF);
}
constexpr uint64_t HoldersOf(uint64_t word) { return word & kHolderMask; }

struct alignas(64) MessageDescriptor {
  std::atomic<uint64_t> state;     // PackState(tag, state, holders)
  std::atomic<uint64_t> seq;       // sequence number of the current occupant
  std::atomic<uint64_t> begin;     // logical position of the first byte
  std::atomic<uint64_t> end;       // logical position after the reservation (64-aligned)
  std::atomic<uint64_t> size;      // committed payload bytes
  std::atomic<uint64_t> commit_ns; // CLOCK_REALTIME at commit, for latency measurements
  std::atomic<uint32_t> pending;   // handle deliveries (Acquire) still expected
  std::atomic<uint32_t> writer;    // attachment index + 1 while kWriting, else 0
  std::atomic<uint32_t> due;       // subscribers (bit i = Subscriber i) yet to take it
  std::atomic<uint32_t> pending_deadline_s;  // CLOCK_MONOTONIC second after which pending lapses
};

struct alignas(64) Subscriber {
  std::atomic<uint32_t> owner;      // attachment index + 1; 0: entry free
  uint32_t reserved0;
  std::atomic<uint64_t> join_seq;   // first message due to it
  std::atomic<uint64_t> cursor;     // next sequence it will look at (written by its owner)
  std::atomic<uint64_t> received;   // messages it took
  std::atomic<uint64_t> missed;     // messages dropped while still due to it
  char name[kMaxSubscriberNameLength + 8];
};

struct alignas(64) Attachment {
  std::atomic<uint64_t> pid;          // 0: slot free
  std::atomic<uint64_t> start_time;   // /proc/<pid>/stat field 22; 0 while being claimed
  std::atomic<uint64_t> write_bytes;  // bytes reserved by open write slots
  std::atomic<uint64_t> read_bytes;   // bytes of messages this attachment holds
  std::atomic<uint32_t> write_refs;   // open write slots
  std::atomic<uint32_t> read_refs;    // messages this attachment holds (each counted once)
  uint8_t reserved[24];
};

struct alignas(64) RingHeader {
  // --- identity and geometry: written by create before the magic, immutable after ---
  uint64_t magic;
  uint32_t layout_version;
  uint32_t header_bytes;
  uint64_t total_bytes;
  uint64_t capacity;          // data bytes, a multiple of kPageBytes
  uint64_t data_offset;
  uint64_t descriptors_offset;
  uint64_t attachments_offset;
  uint32_t max_messages;      // M, descriptors in the table, a power of two
  uint32_t max_attachments;
  uint32_t policy;            // arrowring::Policy
  uint32_t mode;              // permission bits the segment was created with
  uint64_t subscribers_offset;
  uint32_t max_subscribers;
  uint32_t message_limit;     // most messages in the ring at once, 1..M (RingOptions)
  uint64_t ring_id;           // random, identifies this ring in handles
  uint64_t created_ns;
  char name[kMaxNameLength + 8];

  // --- allocator: changed only under alloc_mutex (robust, process-shared) ---
  alignas(64) pthread_mutex_t alloc_mutex;
  alignas(64) std::atomic<uint64_t> next_seq;  // sequence number of the next allocation
  std::atomic<uint64_t> head_seq;              // oldest message not yet reclaimed
  std::atomic<uint64_t> tail;                  // logical end of the newest reservation
  std::atomic<uint64_t> high_water_bytes;
  std::atomic<uint32_t> subscriber_mask;       // registered subscribers (bit i = Subscriber i)

  // --- futex words: waiters sleep on an epoch, changers bump it and wake ---
  alignas(64) std::atomic<uint32_t> space_epoch;   // bumped when space may have been freed
  std::atomic<uint32_t> space_waiters;
  std::atomic<uint32_t> commit_epoch;              // bumped on every commit
  std::atomic<uint32_t> commit_waiters;

  // --- counters (relaxed: statistics, not synchronization) ---
  alignas(64) std::atomic<uint64_t> messages_written;
  std::atomic<uint64_t> bytes_written;
  std::atomic<uint64_t> messages_read;
  std::atomic<uint64_t> bytes_read;
  std::atomic<uint64_t> messages_dropped;
  std::atomic<uint64_t> bytes_dropped;
  std::atomic<uint64_t> messages_aborted;
  std::atomic<uint64_t> recoveries;
};

// Lock-freedom is what makes these words usable across processes: a lock-based std::atomic
// would keep its lock in one process's memory.
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);
// Futexes operate on aligned 32-bit words; std::atomic<uint32_t> must be exactly that.
static_assert(sizeof(std::atomic<uint32_t>) == 4 && alignof(std::atomic<uint32_t>) == 4);
static_assert(sizeof(std::atomic<uint64_t>) == 8);

static_assert(sizeof(MessageDescriptor) == 64);
static_assert(sizeof(Attachment) == 64);
static_assert(sizeof(Subscriber) == 128);
static_assert(kMaxSubscribers <= 32);  // `due` and `subscriber_mask` are 32-bit masks.
static_assert(sizeof(RingHeader) <= kHeaderBytes);
static_assert(offsetof(RingHeader, magic) == 0);
static_assert(offsetof(RingHeader, layout_version) == 8);
static_assert(offsetof(RingHeader, total_bytes) == 16);
static_assert(offsetof(RingHeader, capacity) == 24);
static_assert(offsetof(RingHeader, alloc_mutex) % 64 == 0);
static_assert(offsetof(RingHeader, next_seq) % 64 == 0);
static_assert(offsetof(RingHeader, space_epoch) % 64 == 0);
static_assert(offsetof(RingHeader, messages_written) % 64 == 0);
static_assert(kMaxAttachments <= kHolderBits);
static_assert(static_cast<uint64_t>(MessageState::kCommitted) <= 0xF);

/// Where the tables and the data start.
constexpr uint64_t AttachmentsOffset() { return kHeaderBytes; }
constexpr uint64_t SubscribersOffset() {
  return AttachmentsOffset() + kMaxAttachments * sizeof(Attachment);
}
constexpr uint64_t DescriptorsOffset() {
  return SubscribersOffset() + kMaxSubscribers * sizeof(Subscriber);
}
constexpr uint64_t DataOffset(uint32_t max_messages) {
  const uint64_t end = DescriptorsOffset() + uint64_t{max_messages} * sizeof(MessageDescriptor);
  return (end + kPageBytes - 1) / kPageBytes * kPageBytes;
}
constexpr uint64_t TotalBytes(uint64_t capacity, uint32_t max_messages) {
  return DataOffset(max_messages) + capacity;
}

}  // namespace arrowring::layout
