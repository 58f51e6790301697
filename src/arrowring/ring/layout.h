// The shared-memory layout of an arrowring ring: the one place it is defined.
//
//   offset 0                                                                                 total_bytes
//   +-----------+----------------+----------------+----------------------+------------------+------------+
//   | RingHeader| Attachment[48] | Subscriber[32] | MessageDescriptor[M] | KeptMessage[K]   | data       |
//   | 4 KiB     | 64 B each      | 128 B each     | 64 B each, M = 2^k   | 64 B each        | (capacity, |
//   |           |                |                | (the sequence window)| (held, outside   | page       |
//   |           |                |                |                      |  the window)     | aligned)   |
//   +-----------+----------------+----------------+----------------------+------------------+------------+
//
// RingHeader: immutable identity and geometry (written once by create, checked by attach),
// then the allocator's words, futex words and counters, each group on its own cache line.
// Version: major.minor in one word (kLayoutMajor << 16 | kLayoutMinor). A minor adds fields
// only in words that were reserved (zero) in every earlier minor of the same major, and zero
// keeps meaning "absent", so a reader opens any minor of its major (docs/design.md).
//
// Data: a byte ring addressed by monotonically increasing 64-bit *logical* positions;
// physical offset = position % capacity. A message occupies [begin, end) with begin and end
// multiples of 64 and never wraps: when it would, it starts at the next multiple of the
// capacity and the bytes skipped stay unused until the head passes them. The head advances in
// sequence order over messages that are free, given way (retained, unheld) or kept.
//
// Kept messages ("islands"): a committed message that no subscriber is still due to take and
// whose handle deliveries are done, but that readers still hold, leaves the sequence window
// when the allocator needs its place: its descriptor moves into a free KeptMessage entry (the
// same 64-byte struct) and the descriptor says kKept with the entry's index. The allocator
// then places new messages around the kept bytes; the last holder's release frees the entry.
// At most K messages are kept at once; beyond that a held message stays in the window (the
// `kept_full` counter says how often an allocation met that).
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
//                            \-> kFree (abort, or its writer died)      \-> kKept (moved out)
//   kKept: the low 48 bits are the index of the KeptMessage entry now holding the message
//          (its holders live there); the descriptor is free for the window.
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
inline constexpr uint32_t kLayoutMajor = 4;
inline constexpr uint32_t kLayoutMinor = 1;  // 4.1: last_lap_bytes, kFlagPrefault
inline constexpr uint32_t kLayoutVersion = kLayoutMajor << 16 | kLayoutMinor;
constexpr uint32_t LayoutMajor(uint32_t version) { return version >> 16; }
constexpr uint32_t LayoutMinor(uint32_t version) { return version & 0xFFFF; }
inline constexpr uint32_t kMaxAttachments = 48;
inline constexpr uint32_t kMaxSubscribers = 32;
inline constexpr size_t kMaxSubscriberNameLength = 80;
inline constexpr uint64_t kMessageAlignment = 64;
inline constexpr uint64_t kHeaderBytes = 4096;
inline constexpr uint64_t kPageBytes = 4096;
inline constexpr size_t kMaxNameLength = 200;

inline constexpr uint32_t kDefaultMaxKept = 1024;
inline constexpr uint32_t kMaxKeptLimit = 65536;

enum class MessageState : uint8_t { kFree = 0, kWriting = 1, kCommitted = 2, kKept = 3 };

/// RingHeader::flags.
inline constexpr uint32_t kFlagRetain = 1;  ///< keep committed messages until space is needed
/// Since 4.1: every process maps the whole ring in when it attaches, so that no write or read
/// of its first lap takes page faults (older readers ignore it: it changes no shared state).
inline constexpr uint32_t kFlagPrefault = 2;

inline constexpr int kHolderBits = 48;
inline constexpr int kStateShift = 48;
inline constexpr int kTagShift = 52;
inline constexpr uint64_t kHolderMask = (uint64_t{1} << kHolderBits) - 1;
inline constexpr uint64_t kTagMask = 0xFFF;

constexpr uint64_t PackState(uint64_t tag, MessageState state, uint64_t holders) {
  return ((tag & kTagMask) << kTagShift) | (static_cast<uint64_t>(state) << kStateShift) | (holders & kHolderMask);
}
constexpr uint64_t TagOf(uint64_t word) { return word >> kTagShift; }
constexpr MessageState StateOf(uint64_t word) { return static_cast<MessageState>((word >> kStateShift) & 0xF); }
constexpr uint64_t HoldersOf(uint64_t word) { return word & kHolderMask; }

/// A message of the sequence window (descriptor seq % M), or a kept message (a KeptMessage
/// entry: same fields; `due` and `pending` are 0 there, `seq` is the message's sequence).
struct alignas(64) MessageDescriptor {
  std::atomic<uint64_t> state;               // PackState(tag, state, holders or kept index)
  std::atomic<uint64_t> seq;                 // sequence number of the current occupant
  std::atomic<uint64_t> begin;               // logical position of the first byte
  std::atomic<uint64_t> end;                 // logical position after the reservation (64-aligned)
  std::atomic<uint64_t> size;                // committed payload bytes
  std::atomic<uint64_t> commit_ns;           // CLOCK_REALTIME at commit, for latency measurements
  std::atomic<uint32_t> pending;             // handle deliveries (Acquire) still expected; see kRetained
  std::atomic<uint32_t> writer;              // attachment index + 1 while kWriting, else 0
  std::atomic<uint32_t> due;                 // subscribers (bit i = Subscriber i) yet to take it
  std::atomic<uint32_t> pending_deadline_s;  // CLOCK_MONOTONIC second after which pending lapses
};

using KeptMessage = MessageDescriptor;

/// `pending` of a message in a retaining ring: no delivery owed, but kept committed (loadable)
/// until its space is needed or it is retired. (WriteSlot::kUntilDropped is UINT32_MAX.)
inline constexpr uint32_t kRetained = UINT32_MAX - 1;

struct alignas(64) Subscriber {
  std::atomic<uint32_t> owner;  // attachment index + 1; 0: entry free
  uint32_t reserved0;
  std::atomic<uint64_t> join_seq;  // first message due to it (next_seq when it joined); a
                                   // cursor below it reads retained history (start=oldest)
  std::atomic<uint64_t> cursor;    // next sequence it will look at (written by its owner)
  std::atomic<uint64_t> received;  // messages it took
  std::atomic<uint64_t> missed;    // messages dropped while still due to it
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
  uint64_t capacity;  // data bytes, a multiple of kPageBytes
  uint64_t data_offset;
  uint64_t descriptors_offset;
  uint64_t attachments_offset;
  uint32_t max_messages;  // M, descriptors in the table, a power of two
  uint32_t max_attachments;
  uint32_t policy;  // arrowring::Policy
  uint32_t mode;    // permission bits the segment was created with
  uint64_t subscribers_offset;
  uint32_t max_subscribers;
  uint32_t message_limit;  // most messages in the ring at once, 1..M (RingOptions)
  uint64_t ring_id;        // random, identifies this ring in handles
  uint64_t created_ns;
  char name[kMaxNameLength + 8];
  uint32_t flags;                 // kFlagRetain, kFlagPrefault
  uint32_t max_kept;              // K, entries of the kept-message table (>= 1)
  uint64_t kept_offset;           // the kept-message table, after the descriptors
  uint64_t warm_bytes;            // the writer wraps early past this physical offset when the
                                  // front of the ring is free (0: never; retaining rings never)
  uint64_t reserved_identity[4];  // zero: for later minors of this major

  // --- allocator: changed only under alloc_mutex (robust, process-shared) ---
  alignas(64) pthread_mutex_t alloc_mutex;
  alignas(64) std::atomic<uint64_t> next_seq;  // sequence number of the next allocation
  std::atomic<uint64_t> head_seq;              // oldest message not yet reclaimed
  std::atomic<uint64_t> tail;                  // logical end of the newest reservation
  std::atomic<uint64_t> high_water_bytes;
  std::atomic<uint32_t> subscriber_mask;  // registered subscribers (bit i = Subscriber i)
  std::atomic<uint32_t> kept_high;        // kept entries at index >= this are all free

  // --- futex words: waiters sleep on an epoch, changers bump it and wake ---
  alignas(64) std::atomic<uint32_t> space_epoch;  // bumped when space may have been freed
  std::atomic<uint32_t> space_waiters;
  std::atomic<uint32_t> commit_epoch;  // bumped on every commit
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
  std::atomic<uint64_t> messages_given_way;  // retained messages freed for space
  std::atomic<uint64_t> bytes_given_way;
  std::atomic<uint64_t> messages_kept;  // messages moved to the kept table, ever
  std::atomic<uint64_t> kept_full;      // times a held message stayed in the window
                                        // because the kept table was full
  // Since 4.1. The bytes the writer wrote in its last lap (the lap's length less the kept
  // messages it went around), written (relaxed, under alloc_mutex) when a reservation wraps
  // to the next lap; 0 before the first wrap (and in segments of 4.0). How long ago the bytes a reservation gets were
  // last written: the writer's hint for choosing streaming stores (WriteSlot::cold). A scribbled value changes only how
  // bytes are copied, never what or where.
  std::atomic<uint64_t> last_lap_bytes;
  std::atomic<uint64_t> reserved_counters[3];  // zero: for later minors of this major
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
static_assert(offsetof(RingHeader, layout_version) == 8);  // every major keeps it here
static_assert(offsetof(RingHeader, total_bytes) == 16);
static_assert(offsetof(RingHeader, capacity) == 24);
static_assert(offsetof(RingHeader, alloc_mutex) % 64 == 0);
static_assert(offsetof(RingHeader, next_seq) % 64 == 0);
static_assert(offsetof(RingHeader, space_epoch) % 64 == 0);
static_assert(offsetof(RingHeader, messages_written) % 64 == 0);
static_assert(kMaxAttachments <= kHolderBits);
static_assert(static_cast<uint64_t>(MessageState::kKept) <= 0xF);
static_assert(kMaxKeptLimit <= kHolderMask);  // a kept index fits where holders go

/// Where the tables and the data start.
constexpr uint64_t AttachmentsOffset() { return kHeaderBytes; }
constexpr uint64_t SubscribersOffset() { return AttachmentsOffset() + kMaxAttachments * sizeof(Attachment); }
constexpr uint64_t DescriptorsOffset() { return SubscribersOffset() + kMaxSubscribers * sizeof(Subscriber); }
constexpr uint64_t KeptOffset(uint32_t max_messages) {
  return DescriptorsOffset() + uint64_t{max_messages} * sizeof(MessageDescriptor);
}
constexpr uint64_t DataOffset(uint32_t max_messages, uint32_t max_kept) {
  const uint64_t end = KeptOffset(max_messages) + uint64_t{max_kept} * sizeof(KeptMessage);
  return (end + kPageBytes - 1) / kPageBytes * kPageBytes;
}
constexpr uint64_t TotalBytes(uint64_t capacity, uint32_t max_messages, uint32_t max_kept) {
  return DataOffset(max_messages, max_kept) + capacity;
}

}  // namespace arrowring::layout
