// Adaptive waiting: how long a subscriber polls the ring for its next message before it
// sleeps on the futex.
//
// Sleeping costs the wake-up (a futex wake of a sleeping process: 2-30 µs on the machines we
// measure, docs/benchmarks.md); polling costs a CPU for as long as it lasts. Polling for about
// as long as a wake-up costs is the classic rent-or-buy answer: never worse than twice the
// better of the two choices made in hindsight. The adaptive rule keeps polling only while it
// pays: when messages keep arriving later than the limit, the budget halves down to nothing,
// and one message committed within the limit of the start of a wait restores it at once (the
// decision uses the message's commit time, so it recovers even after polling stopped).
#pragma once

#include <chrono>
#include <cstdint>

namespace arrowring {

/// How a subscriber waits: poll for up to `limit`, then sleep on the ring's futex.
struct SpinPolicy {
  /// Longest polling phase of one wait; 0 sleeps at once. At most kMaxSpinLimit.
  std::chrono::nanoseconds limit{0};
  /// Poll only while recent messages came within `limit` (see SpinBudget), yielding the CPU
  /// between rounds after the first 10 µs; false polls the whole limit before every sleep and
  /// never yields (a consumer that owns a core).
  bool adaptive = true;

  /// kDefaultSpinLimit, adaptive, when more than one CPU is online; no polling on one CPU
  /// (the poller would only keep the publisher it waits for off the CPU).
  static SpinPolicy Default();
  static SpinPolicy None() { return {std::chrono::nanoseconds(0), false}; }
};

/// The default polling limit, from measurements on the 2-vCPU VM we benchmark on
/// (docs/benchmarks.md, "Adaptive waiting"): waking a process asleep on another vCPU costs
/// 20-30 µs there, so a limit at or just above it leaves request/reply pairs in a stable state
/// where both sides sleep and every message pays a wake-up (20 µs polling: p50 16-25 µs for a
/// 64-byte ping-pong); 100 µs is the smallest limit measured that keeps both sides polling
/// (p50 0.6-1.8 µs, against 3-4 µs sleeping at once).
inline constexpr std::chrono::nanoseconds kDefaultSpinLimit = std::chrono::microseconds(100);
/// Polling longer than this is never what anyone wants from a bounded spin.
inline constexpr std::chrono::nanoseconds kMaxSpinLimit = std::chrono::seconds(1);

/// The polling budget of one subscriber's next wait, adapted to when its messages arrive.
/// Pure logic on timestamps (no clock, no ring): each wait asks budget(), and reports the
/// commit time of the message it ended with through Observe().
class SpinBudget {
 public:
  explicit SpinBudget(SpinPolicy policy = SpinPolicy::None()) : policy_(policy), budget_(policy.limit) {}

  /// How long the next wait may poll before it sleeps.
  std::chrono::nanoseconds budget() const { return budget_; }
  const SpinPolicy& policy() const { return policy_; }

  /// A wait that began at `wait_start_ns` ended with a message committed at `commit_ns`
  /// (both CLOCK_REALTIME; the commit time comes from shared memory, so any value must be
  /// harmless here: it only steers the budget). Within the limit: the full budget again;
  /// later: half of it, and none once below 1/32 of the limit.
  void Observe(uint64_t wait_start_ns, uint64_t commit_ns);

 private:
  SpinPolicy policy_;
  std::chrono::nanoseconds budget_;
};

}  // namespace arrowring
