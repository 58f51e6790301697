// Internal: the ring's robust inter-process allocator mutex, with repair after a dead owner
// and refusal (kCorrupt) of a mutex someone scribbled on.
#pragma once

#include <pthread.h>

#include <algorithm>
#include <cerrno>

#include "arrowring/ring/internal/ring_state_internal.h"

namespace arrowring {

/// Whether `mutex` still has the type Format gave it (robust, process-shared): glibc asserts,
/// and so aborts the process, when it locks a mutex whose type word is garbage.
bool AllocatorMutexTypeIsSound(const pthread_mutex_t& mutex);

/// Holds alloc_mutex while it lives; repairs the allocator if its previous owner died inside
/// (the robust mutex says EOWNERDEAD). Check ok() before touching allocator state: a mutex
/// whose type word, or whose owner word naming a thread that does not exist, was scribbled on
/// is kCorrupt instead of an abort or a wait forever.
class AllocatorLock {
 public:
  explicit AllocatorLock(RingState& ring);
  ~AllocatorLock() {
    if (status_.ok()) pthread_mutex_unlock(&ring_.header->alloc_mutex);
  }
  AllocatorLock(const AllocatorLock&) = delete;
  AllocatorLock& operator=(const AllocatorLock&) = delete;

  bool ok() const { return status_.ok(); }
  const Error& error() const { return status_.error(); }

 private:
  void Repair();
  RingState& ring_;
  Status status_ = Ok();
};

}  // namespace arrowring
