#include <time.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "arrowring/ring/internal/allocator_lock_internal.h"
#include "arrowring/ring/internal/kept_internal.h"

namespace arrowring {
namespace {

// The type word of a mutex initialized as Format initializes alloc_mutex.
int ExpectedMutexKind() {
  static const int kind = [] {
    pthread_mutexattr_t attributes;
    pthread_mutexattr_init(&attributes);
    pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
    pthread_mutex_t reference;
    pthread_mutex_init(&reference, &attributes);
    pthread_mutexattr_destroy(&attributes);
    const int result = reference.__data.__kind;
    pthread_mutex_destroy(&reference);
    return result;
  }();
  return kind;
}

// The futex word of a robust mutex holds its owner's thread id in these bits.
constexpr unsigned kOwnerTidMask = 0x3fffffff;

// Whether thread `tid` belongs to a process attached to the ring: only those lock its
// allocator (for longer than a moment), so any other owner word is garbage.
bool OwnerIsAttached(const RingState& ring, pid_t tid) {
  for (uint32_t i = 0; i < layout::kMaxAttachments; ++i) {
    // SYNC POINT attachment-pid (acquire)
    const uint64_t pid = ring.attachments[i].pid.load(std::memory_order_acquire);
    if (pid == 0 || pid > static_cast<uint64_t>(INT32_MAX)) continue;
    const std::string task = "/proc/" + std::to_string(pid) + "/task/" + std::to_string(tid);
    if (::access(task.c_str(), F_OK) == 0) return true;
  }
  return false;
}

}  // namespace

bool AllocatorMutexTypeIsSound(const pthread_mutex_t& mutex) {
  return std::atomic_ref<const int>(mutex.__data.__kind).load(std::memory_order_relaxed) == ExpectedMutexKind();
}

AllocatorLock::AllocatorLock(RingState& ring) : ring_(ring) {
  pthread_mutex_t& mutex = ring_.header->alloc_mutex;
  auto corrupt = [&](const std::string& what) {
    return Error{Errc::kCorrupt, "ring '" + ring_.name + "': its allocator mutex " + what +
                                     " (a process with write access overwrote shared state); remove and "
                                     "re-create the ring"};
  };
  if (!AllocatorMutexTypeIsSound(mutex)) {
    status_ = corrupt("has type " + std::to_string(mutex.__data.__kind) + ", not the robust process-shared type");
    return;
  }
  // Wait in slices: a holder that lives keeps us waiting (allocations are short), but an
  // owner word naming a thread that exists nowhere is garbage, and would be waited on forever.
  while (true) {
    timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += 1;
    const int result = pthread_mutex_timedlock(&mutex, &deadline);
    if (result == 0) return;
    if (result == EOWNERDEAD) {
      Repair();
      pthread_mutex_consistent(&mutex);
      return;
    }
    if (result == ETIMEDOUT) {
      const unsigned word =
          static_cast<unsigned>(std::atomic_ref<int>(mutex.__data.__lock).load(std::memory_order_relaxed));
      const pid_t owner = static_cast<pid_t>(word & kOwnerTidMask);
      if (owner == 0 || !OwnerIsAttached(ring_, owner)) {
        status_ = corrupt("names owner thread " + std::to_string(owner) +
                          ", which belongs to no process attached to the ring");
        return;
      }
      continue;
    }
    status_ = corrupt(std::string("cannot be locked: ") + std::strerror(result));
    return;
  }
}

// An allocation publishes in this order: descriptor fields, descriptor state kWriting, tail,
// next_seq. A dead allocator may have stopped anywhere; finish what it published.
void AllocatorLock::Repair() {
  RingHeader& h = *ring_.header;
  const uint64_t next = h.next_seq.load(std::memory_order_relaxed);
  MessageDescriptor& d = ring_.descriptor(next);
  const uint64_t word = d.state.load(std::memory_order_acquire);  // SYNC POINT next-seq (acquire)
  if (StateOf(word) == MessageState::kWriting && d.seq.load(std::memory_order_relaxed) == next) {
    h.tail.store(std::max(h.tail.load(std::memory_order_relaxed), d.end.load(std::memory_order_relaxed)),
                 std::memory_order_relaxed);
    h.next_seq.store(next + 1, std::memory_order_release);  // SYNC POINT next-seq (release)
  }
  RepairKeptLocked(ring_);  // A move into the kept table cut between its two steps.
  h.recoveries.fetch_add(1, std::memory_order_relaxed);
}

}  // namespace arrowring
