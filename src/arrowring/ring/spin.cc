// The adaptive polling budget of a subscriber (spin.h).
#include "arrowring/ring/spin.h"

#include <unistd.h>

namespace arrowring {

SpinPolicy SpinPolicy::Default() {
  // Read once: CPUs going on- or offline later is rare, and a stale answer only costs the
  // benefit of polling, never correctness.
  static const bool several_cpus = sysconf(_SC_NPROCESSORS_ONLN) > 1;
  return several_cpus ? SpinPolicy{kDefaultSpinLimit, true} : None();
}

void SpinBudget::Observe(uint64_t wait_start_ns, uint64_t commit_ns) {
  if (!policy_.adaptive || policy_.limit.count() <= 0) return;
  // Committed before the wait began (clocks of two processes, or a message that was there
  // but not yet due) counts as arriving at once.
  const uint64_t gap = commit_ns > wait_start_ns ? commit_ns - wait_start_ns : 0;
  if (gap <= static_cast<uint64_t>(policy_.limit.count())) {
    budget_ = policy_.limit;  // Polling would have caught it: poll fully again.
    return;
  }
  budget_ /= 2;  // It came after the limit: polling was wasted, poll less.
  if (budget_ < policy_.limit / 32) budget_ = std::chrono::nanoseconds(0);
}

}  // namespace arrowring
