// Internal: the ring's robust inter-process allocator mutex, with repair after a dead owner.
#pragma once

#include <pthread.h>

#include <algorithm>
#include <cerrno>

#include "arrowring/ring/ring_state_internal.h"

namespace arrowring {

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

}  // namespace arrowring
