// The core ring: variable-size messages in a byte ring shared by many processes.
//
//   Ring ring = *Ring::Create("daq", 256 << 20);          // or Ring::Attach("daq")
//   auto slot = ring.Allocate(size, 1s);                  // Result<optional<WriteSlot>>
//   std::memcpy(slot->value().data(), bytes, size);
//   Handle handle = *slot->value().Commit(size);          // readable from now on
//   ...in another process, with the handle (see handle.h for its wire forms):
//   ReadSlot read = *ring.Acquire(handle);                // reference count + 1
//   use(read.data());                                     // released when `read` dies
//
// The ring logic works on any memory (Ring::Format / Ring::Open take a span: tests use the
// heap); Create/Attach map a named POSIX shared-memory segment (segment.h) and call those.
// All state several processes share lives in that memory (layout.h).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "arrowring/ring/error.h"
#include "arrowring/ring/handle.h"
#include "arrowring/ring/spin.h"

namespace arrowring {

/// What an allocation does when the ring has no room.
enum class Policy : uint32_t {
  kBlock = 0,       ///< Wait (up to the timeout) until readers free space. Lossless.
  kFail = 1,        ///< Return "no room" at once.
  kDropOldest = 2,  ///< Free the oldest committed messages no reader holds (counted as
                    ///< dropped; their handles become stale), then wait like kBlock.
};

std::string_view PolicyName(Policy policy);
Result<Policy> ParsePolicy(std::string_view name);  // "block", "fail", "drop-oldest"

/// RingOptions::warm_bytes by default: measured in docs/design.md ("Warm writes").
inline constexpr uint64_t kDefaultWarmBytes = uint64_t{8} << 20;

struct RingOptions {
  Policy policy = Policy::kBlock;
  /// Most messages in the ring at once, exactly (a further allocation waits, fails or drops
  /// as the policy says); 0 = capacity / 4 KiB, clamped to [64, 65536]. Descriptors are
  /// allocated for the next power of two, 64 bytes each.
  uint32_t max_messages = 0;
  /// Permission bits of the segment: 0600 (default) or 0660 to share with the group.
  uint32_t mode = 0600;
  /// Retention by space: every committed message stays loadable (by handle, sequence, or a
  /// subscriber joining with SubscribeStart::kOldest) until its space is needed — also after
  /// every subscriber took it and when nobody subscribed. Then the oldest one nobody holds
  /// gives way (counted in RingStats::messages_given_way); a held one is kept where it is.
  /// A publish never waits or fails because of retained messages.
  bool retain = false;
  /// Most messages that readers may keep outside the sequence window at once (kept tables
  /// cost their own bytes and nothing more; past this limit a held message stays in the
  /// window and holds back the space behind it). 0 = layout::kDefaultMaxKept (1024).
  uint32_t max_kept = 0;
  /// Warm writes: when the writer is more than this many bytes into the ring and the front is
  /// free, it wraps early, so that a ring holding little cycles through memory still in cache.
  /// kWarmDefault picks the measured default (docs/design.md); 0 turns warm writes off.
  /// Retaining rings never wrap early (retention wins over warmth).
  uint64_t warm_bytes = kWarmDefault;
  static constexpr uint64_t kWarmDefault = UINT64_MAX;
  /// Prefaulting: the creating process, and every process when it attaches, maps the whole
  /// ring in at once (MADV_POPULATE_WRITE), so that the first lap through a fresh ring runs as
  /// fast as the later ones instead of taking a page fault per 4 KiB page (about 5 us each on
  /// the VM of docs/benchmarks.md, where the first publish of a 0.75 GiB table ran at 0.71 GB/s
  /// against 5.3 GB/s afterwards). The price moves to create and attach: about as long as
  /// the first lap would have lost. Off by default: most rings are small or long-lived.
  bool prefault = false;
};

/// Where a new subscriber starts reading.
enum class SubscribeStart : uint32_t {
  kNew = 0,     ///< messages published from now on (the default)
  kOldest = 1,  ///< every message still in the ring, in order, then the new ones
};

inline constexpr std::chrono::nanoseconds kWaitForever = std::chrono::nanoseconds::max();

struct RingStats {
  std::string name;
  uint64_t ring_id = 0;
  uint64_t capacity_bytes = 0;
  uint32_t max_messages = 0;
  Policy policy = Policy::kBlock;
  uint32_t mode = 0;
  // Occupancy, from a scan of the messages in the ring (a snapshot; it moves).
  uint64_t free_bytes = 0;       // capacity minus what the messages below occupy
  uint64_t writing_bytes = 0;    // reserved by open write slots
  uint64_t committed_bytes = 0;  // reserved by committed messages not yet reclaimed
  uint64_t writing_messages = 0;
  uint64_t committed_messages = 0;
  uint64_t free_messages = 0;  // descriptors available
  uint64_t high_water_bytes = 0;
  // Messages readers keep outside the sequence window (kept tables), and their reserved bytes.
  uint64_t kept_messages = 0;
  uint64_t kept_bytes = 0;
  uint32_t max_kept = 0;
  bool retain = false;
  bool prefault = false;
  uint64_t warm_bytes = 0;
  // The writer's last lap through the ring, in bytes (0 before its first wrap): short laps
  // are warm writes; from ColdLapBytes() on, writes are cold (streaming stores).
  uint64_t writer_lap_bytes = 0;
  // Counters since creation.
  uint64_t messages_written = 0, bytes_written = 0;
  uint64_t messages_read = 0, bytes_read = 0;
  uint64_t messages_dropped = 0, bytes_dropped = 0;
  uint64_t messages_aborted = 0;
  uint64_t messages_given_way = 0, bytes_given_way = 0;  // retained messages freed for space
  uint64_t messages_kept_total = 0;                      // messages ever moved out of the window, kept by readers
  uint64_t kept_full = 0;                                // allocations that found the kept table full
  struct Holder {
    uint64_t pid;
    bool alive;
    uint32_t write_slots, read_messages;
    uint64_t write_bytes, read_bytes;
    uint32_t kept_messages = 0;  // of read_messages, those kept outside the window
    uint64_t kept_bytes = 0;
  };
  std::vector<Holder> holders;  // every attachment with its outstanding references
  struct SubscriberInfo {
    std::string name;
    uint64_t pid;  // of the attachment that owns it
    bool alive;
    uint64_t lag;       // messages allocated that it has not looked at yet
    uint64_t received;  // messages it took
    uint64_t missed;    // messages dropped (drop-oldest) before it took them
  };
  std::vector<SubscriberInfo> subscribers;
};

/// What recover() reclaimed from attachments whose process is gone.
struct RecoveryReport {
  std::vector<uint64_t> dead_pids;
  uint64_t aborted_writes = 0;       // uncommitted messages of dead writers, freed
  uint64_t released_references = 0;  // read references dead readers held, released
  uint64_t reclaimed_bytes = 0;      // space returned to the ring by this recovery
  uint64_t removed_subscribers = 0;  // subscribers of dead processes, unregistered
  bool empty() const { return dead_pids.empty(); }
};

class Ring;
class Subscription;
struct RingState;

/// A reservation of ring space being written. Move-only; Commit() makes it readable,
/// destruction without Commit() aborts it and frees the space — in the process that allocated
/// it: a copy inherited across fork() neither commits nor aborts the parent's reservation.
class WriteSlot {
 public:
  WriteSlot(WriteSlot&&) noexcept;
  WriteSlot& operator=(WriteSlot&&) noexcept;
  WriteSlot(const WriteSlot&) = delete;
  WriteSlot& operator=(const WriteSlot&) = delete;
  ~WriteSlot();

  /// The reserved bytes, 64-byte aligned; at least the size asked for.
  std::span<std::byte> data() const { return data_; }
  uint64_t sequence() const { return seq_; }
  /// True when the reserved bytes are out of cache: the writer's last lap through the ring was
  /// longer than half the last-level cache (IsColdLap), or the message itself is that large.
  /// A large copy into them is then faster with streaming stores (CopyIntoRing). A hint for
  /// how to copy, partly taken from shared memory: it never changes what is written or where.
  bool cold() const { return cold_; }

  /// Publishes the first `bytes_used` bytes (1 ≤ bytes_used ≤ size asked for) to every
  /// subscriber registered when the slot was allocated. Independently of subscribers, the
  /// message waits for `deliveries` Acquire() calls through its handle — but at most
  /// `delivery_ttl`, after which those deliveries lapse, so a handle nobody loads cannot hold
  /// ring space forever. The message is freed when both are done and every reference is
  /// released. With `deliveries == kUntilDropped` it stays readable by any number of
  /// acquisitions until Policy::kDropOldest drops it for space or Ring::Retire() frees it
  /// (the TTL does not apply). Returns the message's handle.
  Result<Handle> Commit(uint64_t bytes_used, uint32_t deliveries = 1,
                        std::chrono::seconds delivery_ttl = kDefaultDeliveryTtl);
  static constexpr std::chrono::seconds kDefaultDeliveryTtl{60};
  static constexpr uint32_t kUntilDropped = UINT32_MAX;
  /// Frees the space without publishing (what destruction does).
  void Abort();

 private:
  friend class Ring;
  WriteSlot(std::shared_ptr<RingState> ring, uint64_t seq, std::span<std::byte> data, uint64_t requested, bool cold);
  std::shared_ptr<RingState> ring_;
  uint64_t seq_ = 0;
  std::span<std::byte> data_;
  uint64_t requested_ = 0;
  bool cold_ = false;
};

/// A read reference to one committed message. Move-only; released on destruction, from any
/// thread, in any order. A message that only readers hold costs the ring its own bytes: when
/// the writer needs its place in the sequence window it is kept outside it, and new messages
/// go around its bytes. A slot inherited across fork() belongs to the parent: the child's
/// copy releases nothing.
class ReadSlot {
 public:
  ReadSlot(ReadSlot&&) noexcept;
  ReadSlot& operator=(ReadSlot&&) noexcept;
  ReadSlot(const ReadSlot&) = delete;
  ReadSlot& operator=(const ReadSlot&) = delete;
  ~ReadSlot();

  std::span<const std::byte> data() const { return data_; }
  const Handle& handle() const { return handle_; }
  /// Another reference to the same message through the same attachment, released on its
  /// own. Counts no delivery and no bytes read: it only extends the message's lifetime
  /// (e.g. to the life of a table made from this slot's bytes).
  Result<ReadSlot> Duplicate() const;
  /// CLOCK_REALTIME nanoseconds at which the message was committed.
  uint64_t commit_time_ns() const { return commit_ns_; }
  void Release();

 private:
  friend class Ring;
  ReadSlot(std::shared_ptr<RingState> ring, Handle handle, std::span<const std::byte> data, uint64_t commit_ns);
  std::shared_ptr<RingState> ring_;
  Handle handle_;
  std::span<const std::byte> data_;
  uint64_t commit_ns_ = 0;
};

/// A named subscriber of a ring with its cursor in shared memory. Move-only; leaving (on
/// destruction) releases every message still due to it. Its process's death is recovered
/// like any dead holder.
class Subscription {
 public:
  Subscription(Subscription&&) noexcept;
  Subscription& operator=(Subscription&&) noexcept;
  Subscription(const Subscription&) = delete;
  Subscription& operator=(const Subscription&) = delete;
  ~Subscription();

  struct Delivery {
    ReadSlot slot;
    /// Messages dropped (drop-oldest) before this subscriber took them, since the previous
    /// delivery. Nothing is lost without being counted here.
    uint64_t missed;
  };
  /// The next message due to this subscriber, in sequence order, or empty after `timeout`.
  /// Waits by polling the ring's commit epoch as the spin policy allows (SpinPolicy::Default
  /// unless SetSpin said otherwise), then sleeping on it (futex).
  Result<std::optional<Delivery>> Next(std::chrono::nanoseconds timeout);
  /// How Next() waits from now on; InvalidArgument for a limit outside [0, kMaxSpinLimit].
  Status SetSpin(SpinPolicy policy);
  const SpinPolicy& spin() const { return spin_.policy(); }
  /// Leaves the ring now (what destruction does).
  void Leave();

  const std::string& name() const { return name_; }
  /// Total messages dropped before this subscriber took them.
  uint64_t missed() const;

 private:
  friend class Ring;
  Subscription(std::shared_ptr<RingState> ring, uint32_t index, std::string name);
  std::shared_ptr<RingState> ring_;
  uint32_t index_ = 0;
  std::string name_;
  uint64_t reported_missed_ = 0;
  SpinBudget spin_{SpinPolicy::Default()};
};

/// A process's attachment to a ring. Copies are cheap and share the attachment; it is
/// released when the last copy and the last slot taken from it are gone.
class Ring {
 public:
  // --- named shared-memory rings ---------------------------------------------------------
  /// Creates the segment `name` (1-200 bytes, any but '/' and control characters) holding `capacity`
  /// data bytes (rounded up to 4 KiB), with O_EXCL and options.mode. The memory is reserved
  /// now, so a full /dev/shm is an error here and never a SIGBUS later.
  static Result<Ring> Create(std::string_view name, uint64_t capacity, RingOptions options = {});
  /// Attaches to an existing ring, checking its header against this build's layout.
  static Result<Ring> Attach(std::string_view name);
  /// Removes the name; attached processes keep their mapping until they detach.
  static Status Unlink(std::string_view name);
  /// The name of the ring on this machine whose id is `ring_id` (as handles carry it), read
  /// from the segments' headers without attaching to any; NotFound if none has it.
  static Result<std::string> Find(uint64_t ring_id);

  // --- rings in caller-provided memory --------------------------------------------------
  /// Bytes of memory a ring of `capacity` data bytes needs (capacity rounded up to 4 KiB).
  static Result<uint64_t> RequiredBytes(uint64_t capacity, const RingOptions& options = {});
  /// Formats `memory` (64-byte aligned, RequiredBytes long) as a new empty ring and attaches.
  /// `keep_alive` is held as long as the ring or any of its slots is.
  static Result<Ring> Format(std::span<std::byte> memory, uint64_t capacity, RingOptions options = {},
                             std::string_view name = "", std::shared_ptr<void> keep_alive = nullptr);
  /// Attaches to a ring already formatted in `memory`, refusing a mismatched header.
  static Result<Ring> Open(std::span<std::byte> memory, std::shared_ptr<void> keep_alive = nullptr);

  // --- writing ---------------------------------------------------------------------------
  /// Reserves `size` contiguous bytes (1 ≤ size ≤ max_message_size()). Empty when there is
  /// no room now (after reclaiming what it may and recovering from dead processes).
  Result<std::optional<WriteSlot>> TryAllocate(uint64_t size);
  /// As TryAllocate, then, as the policy says, waits up to `timeout` for room (a futex wait
  /// on the ring's space epoch). Empty on timeout, or at once under Policy::kFail.
  Result<std::optional<WriteSlot>> Allocate(uint64_t size, std::chrono::nanoseconds timeout);

  // --- reading ---------------------------------------------------------------------------
  /// A read reference to the message `handle` names. StaleHandle once it has been freed.
  Result<ReadSlot> Acquire(const Handle& handle);
  /// A read reference to committed message `seq`, found by its sequence number alone (for
  /// callers that pass sequence numbers rather than handles), viewing its first `length`
  /// bytes (0: all; more than the message holds is InvalidArgument). Counts one delivery and
  /// `length` bytes read. StaleHandle when `seq` is not committed (not yet, or no longer).
  Result<ReadSlot> AcquireSequence(uint64_t seq, uint64_t length = 0);
  /// Declares that committed message `seq` needs no more deliveries through handles: it is
  /// freed now if nobody holds it and no subscriber is due to take it, else when the last
  /// of those is done. StaleHandle when `seq` is not committed.
  Status Retire(uint64_t seq);
  /// Declares that committed message `seq` needs no more deliveries through handles, without
  /// freeing it: a retaining ring (RingOptions::retain) keeps it loadable until its space is
  /// needed, as if it had been loaded as often as its commit asked; a ring that does not retain
  /// frees it as Retire() does. For a caller that judges a handle lost on the way (readers loaded
  /// later messages) but cannot know it never comes: a late load still succeeds while the bytes
  /// are there. StaleHandle when `seq` is not committed.
  Status WaiveDeliveries(uint64_t seq);
  /// Sequence number the next allocation will get, and the oldest message not reclaimed.
  uint64_t next_sequence() const;
  uint64_t oldest_sequence() const;
  /// Read acquisitions since the ring was created (subscribers' and handle loads), from one
  /// shared counter: cheap enough to poll, to tell whether readers are making progress.
  uint64_t messages_read() const;
  /// The handle of committed message `seq`, or empty if it is not (or no longer) committed.
  std::optional<Handle> HandleOf(uint64_t seq) const;
  /// Handle deliveries committed message `seq` still waits for (Commit's `deliveries`, less
  /// the acquisitions through its handle so far; WriteSlot::kUntilDropped stays as it is;
  /// 0 once none are owed — also for a retained or kept message), or empty when `seq` is not
  /// committed. A snapshot: loaders change it.
  std::optional<uint32_t> PendingDeliveries(uint64_t seq) const;
  /// Waits until the commit epoch differs from `seen_epoch` or `timeout` passes; returns
  /// the current epoch. Read commit_epoch() first, check for work, then wait with it.
  uint32_t commit_epoch() const;
  uint32_t WaitForCommit(uint32_t seen_epoch, std::chrono::nanoseconds timeout) const;
  /// Bumps the commit epoch without a commit and wakes every thread waiting for one, in any
  /// process (as recovery and aborts do): they look for work again, find none, and wait
  /// again. For stopping a thread of one's own that sleeps in WaitForCommit, with no
  /// lost wake-up (it returns because the epoch moved, whenever it started to wait).
  void WakeCommitWaiters() const;

  // --- subscribing -----------------------------------------------------------------------
  /// Registers subscriber `name` (1-80 characters of [A-Za-z0-9._-], unique among the ring's
  /// live subscribers; at most 32). It receives every message allocated from now on and, with
  /// SubscribeStart::kOldest, first every message still committed in the ring (retained
  /// history), in sequence order; history a writer needs the space of before the subscriber
  /// reaches it is passed over (it was never due to this subscriber).
  Result<Subscription> Subscribe(std::string_view name, SubscribeStart start = SubscribeStart::kNew);

  // --- housekeeping ----------------------------------------------------------------------
  /// Reclaims everything attachments of dead processes held (pid + start time decide).
  RecoveryReport Recover();
  RingStats Stats() const;
  const std::string& name() const;
  uint64_t ring_id() const;
  uint64_t capacity() const;
  Policy policy() const;
  /// Largest message this ring can ever hold: its capacity.
  uint64_t max_message_size() const { return capacity(); }
  /// This process's mapping of the data area: every message lies inside it (zero-copy
  /// checks compare buffer addresses against it).
  std::span<const std::byte> data_region() const;

 private:
  friend class Subscription;
  explicit Ring(std::shared_ptr<RingState> state);
  // Acquire for subscriber `subscriber` (clears its due bit), as history (kNoDelivery: a
  // subscriber reading what was published before it joined), or, when kThroughHandle, through
  // a handle (consumes one pending delivery); the slot views the first `length` bytes.
  static constexpr int kThroughHandle = -1;
  static constexpr int kNoDelivery = -2;
  Result<ReadSlot> AcquireFor(const Handle& handle, int subscriber, uint64_t length);
  std::shared_ptr<RingState> state_;
};

}  // namespace arrowring
