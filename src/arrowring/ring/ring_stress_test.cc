// Threads racing on one ring: writers, readers and (for drop-oldest) the dropping allocator.
// Built and run under ThreadSanitizer by `make test`.
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "arrowring/ring/ring.h"
#include "arrowring/ring/test_memory.h"

namespace arrowring {
namespace {

using namespace std::chrono_literals;

// Every message carries its own checksum: first 8 bytes a seed, the rest derived from it.
void Fill(std::span<std::byte> bytes, uint64_t seed) {
  std::memcpy(bytes.data(), &seed, 8);
  for (size_t i = 8; i < bytes.size(); ++i) bytes[i] = static_cast<std::byte>((seed + i) * 2654435761u >> 13);
}
bool Verify(std::span<const std::byte> bytes) {
  uint64_t seed;
  std::memcpy(&seed, bytes.data(), 8);
  for (size_t i = 8; i < bytes.size(); ++i) {
    if (bytes[i] != static_cast<std::byte>((seed + i) * 2654435761u >> 13)) return false;
  }
  return true;
}

class HandleQueue {
 public:
  void Push(Handle handle) {
    {
      std::lock_guard lock(mutex_);
      queue_.push_back(handle);
    }
    ready_.notify_one();
  }
  void Close() {
    {
      std::lock_guard lock(mutex_);
      closed_ = true;
    }
    ready_.notify_all();
  }
  std::optional<Handle> Pop() {
    std::unique_lock lock(mutex_);
    ready_.wait(lock, [&] { return !queue_.empty() || closed_; });
    if (queue_.empty()) return std::nullopt;
    Handle handle = queue_.front();
    queue_.pop_front();
    return handle;
  }

 private:
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<Handle> queue_;
  bool closed_ = false;
};

void RunStress(Policy policy, int writers, int readers, int messages_per_writer) {
  Ring ring = testing::HeapRing(256 * 1024, {.policy = policy, .max_messages = 256});
  HandleQueue queue;
  std::atomic<uint64_t> written{0}, verified{0}, stale{0}, torn{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      for (int i = 0; i < messages_per_writer; ++i) {
        const uint64_t size = 16 + (static_cast<uint64_t>(w * 7919 + i * 104729) % 20000);
        auto slot = ring.Allocate(size, 30s);
        ASSERT_TRUE(slot.ok() && slot->has_value());
        Fill((*slot)->data().first(size), static_cast<uint64_t>(w) << 32 | static_cast<uint64_t>(i));
        auto handle = (*slot)->Commit(size);
        ASSERT_TRUE(handle.ok());
        written.fetch_add(1);
        queue.Push(*handle);
      }
    });
  }
  for (int r = 0; r < readers; ++r) {
    threads.emplace_back([&] {
      while (auto handle = queue.Pop()) {
        auto read = ring.Acquire(*handle);
        if (!read.ok()) {
          ASSERT_EQ(read.error().code, Errc::kStaleHandle);
          stale.fetch_add(1);
          continue;
        }
        (Verify(read->data()) ? verified : torn).fetch_add(1);
      }
    });
  }
  for (int w = 0; w < writers; ++w) threads[w].join();
  queue.Close();
  for (size_t t = writers; t < threads.size(); ++t) threads[t].join();

  const uint64_t total = static_cast<uint64_t>(writers) * messages_per_writer;
  EXPECT_EQ(written.load(), total);
  EXPECT_EQ(torn.load(), 0u);
  RingStats stats = ring.Stats();
  if (policy == Policy::kBlock) {
    EXPECT_EQ(verified.load(), total);
    EXPECT_EQ(stale.load(), 0u);
    EXPECT_EQ(stats.messages_dropped, 0u);
  } else {
    // Nothing is lost without being counted: every message was either read or dropped.
    EXPECT_EQ(verified.load() + stale.load(), total);
    EXPECT_EQ(stale.load(), stats.messages_dropped);
  }
  // Everything was delivered or dropped: the whole ring is free again.
  auto whole = ring.TryAllocate(ring.capacity());
  ASSERT_TRUE(whole.ok());
  EXPECT_TRUE(whole->has_value());
}

TEST(RingStress, BlockPolicyDeliversEveryMessageIntact) { RunStress(Policy::kBlock, 3, 3, 1500); }

TEST(RingStress, DropOldestCountsEveryMessageItDoesNotDeliver) { RunStress(Policy::kDropOldest, 3, 1, 1500); }

// Fan-out under contention: publishers and subscribers on their own threads, block policy.
void RunSubscriberStress(Policy policy) {
  Ring ring = testing::HeapRing(128 * 1024, {.policy = policy, .max_messages = 128});
  constexpr int kPublishers = 2, kPerPublisher = 1500, kSubscribers = 3;
  std::vector<Subscription> subscriptions;
  for (int s = 0; s < kSubscribers; ++s) subscriptions.push_back(*ring.Subscribe("s" + std::to_string(s)));
  std::atomic<uint64_t> received[kSubscribers] = {}, missed[kSubscribers] = {}, torn{0};
  std::vector<std::thread> threads;
  for (int s = 0; s < kSubscribers; ++s) {
    threads.emplace_back([&, s] {
      while (received[s].load() + missed[s].load() < kPublishers * kPerPublisher) {
        auto delivery = subscriptions[s].Next(30s);
        ASSERT_TRUE(delivery.ok() && delivery->has_value());
        missed[s] += (*delivery)->missed;
        received[s]++;
        if (!Verify((*delivery)->slot.data())) torn++;
      }
    });
  }
  for (int p = 0; p < kPublishers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < kPerPublisher; ++i) {
        const uint64_t size = 16 + static_cast<uint64_t>(p * 7919 + i * 104729) % 9000;
        auto slot = ring.Allocate(size, 30s);
        ASSERT_TRUE(slot.ok() && slot->has_value());
        Fill((*slot)->data().first(size), static_cast<uint64_t>(p) << 32 | static_cast<uint64_t>(i));
        ASSERT_TRUE((*slot)->Commit(size, 0).ok());
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(torn.load(), 0u);
  for (int s = 0; s < kSubscribers; ++s) {
    EXPECT_EQ(received[s] + missed[s], static_cast<uint64_t>(kPublishers * kPerPublisher));
    if (policy == Policy::kBlock) {
      EXPECT_EQ(missed[s].load(), 0u);
    }
  }
  subscriptions.clear();
  auto whole = ring.TryAllocate(ring.capacity());
  EXPECT_TRUE(whole.ok() && whole->has_value());
}

TEST(RingStress, SubscribersOnThreadsReceiveEveryMessageUnderBlock) { RunSubscriberStress(Policy::kBlock); }
TEST(RingStress, SubscribersOnThreadsCountEveryDropUnderDropOldest) { RunSubscriberStress(Policy::kDropOldest); }

TEST(RingStress, ManyThreadsShareOneMessage) {
  Ring ring = testing::HeapRing(64 * 1024);
  auto slot = ring.TryAllocate(1000);
  ASSERT_TRUE(slot.ok() && slot->has_value());
  Fill((*slot)->data().first(1000), 7);
  auto handle = (*slot)->Commit(1000, 0);
  ASSERT_TRUE(handle.ok());
  std::vector<ReadSlot> held;
  {
    auto first = ring.Acquire(*handle);
    ASSERT_TRUE(first.ok());
    held.push_back(std::move(*first));
  }
  std::vector<std::thread> threads;
  std::atomic<int> ok{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 2000; ++i) {
        auto read = ring.Acquire(*handle);
        if (read.ok() && Verify(read->data())) ok.fetch_add(1);
      }
    });
  }
  for (auto& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), 8000);
  held.clear();
}

// Loading a message by its sequence while other loads of it take and drop their holds: the
// holders in its state word change under the lookup, and the message must still be found.
TEST(RingStress, LoadsBySequenceFindTheMessageWhileOtherLoadsComeAndGo) {
  // Retained: the message stays committed while nobody holds it.
  Ring ring = testing::HeapRing(64 * 1024, {.retain = true});
  auto slot = ring.TryAllocate(1000);
  ASSERT_TRUE(slot.ok() && slot->has_value());
  Fill((*slot)->data().first(1000), 7);
  auto handle = (*slot)->Commit(1000, 0);
  ASSERT_TRUE(handle.ok());
  std::atomic<bool> done{false};
  std::atomic<int> failed{0};
  std::thread churn([&] {
    while (!done.load(std::memory_order_relaxed)) {
      auto read = ring.Acquire(*handle);  // sets this attachment's holder bit, then clears it
      if (!read.ok()) failed.fetch_add(1);
    }
  });
  for (int i = 0; i < 50000; ++i) {
    auto by_sequence = ring.AcquireSequence(handle->sequence);
    if (!by_sequence.ok() || !Verify(by_sequence->data())) failed.fetch_add(1);
    if (!ring.HandleOf(handle->sequence) || !ring.PendingDeliveries(handle->sequence)) failed.fetch_add(1);
  }
  done = true;
  churn.join();
  EXPECT_EQ(failed.load(), 0);
}

// Out-of-order releases racing the allocator: subscribers keep some messages and hand them to
// a releaser thread that lets them go in random order, while publishers keep the ring full and
// the allocator moves kept messages out of the window and places new ones around them.
TEST(RingStress, KeptMessagesReleasedOutOfOrderOnOtherThreadsStayIntactAndNeverStopPublishers) {
  Ring ring = testing::HeapRing(256 * 1024, {.policy = Policy::kBlock, .max_messages = 64, .max_kept = 16});
  constexpr int kPublishers = 2, kPerPublisher = 2000, kSubscribers = 2, kMostKept = 10;
  std::vector<Subscription> subscriptions;
  for (int s = 0; s < kSubscribers; ++s) subscriptions.push_back(*ring.Subscribe("keeper" + std::to_string(s)));
  std::mutex kept_mutex;
  std::vector<ReadSlot> kept;
  std::atomic<bool> done{false};
  std::atomic<uint64_t> received{0}, torn{0}, released{0};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {  // the releaser: verifies and releases kept messages in random order
    uint64_t random = 88172645463325252ull;
    while (true) {
      std::optional<ReadSlot> victim;
      {
        std::lock_guard lock(kept_mutex);
        if (kept.empty() && done.load()) break;
        if (!kept.empty()) {
          random ^= random << 13, random ^= random >> 7, random ^= random << 17;
          const size_t at = random % kept.size();
          victim = std::move(kept[at]);
          kept.erase(kept.begin() + static_cast<long>(at));
        }
      }
      if (!victim) {
        std::this_thread::yield();
        continue;
      }
      if (!Verify(victim->data())) torn++;
      victim->Release();
      released++;
    }
  });
  for (int s = 0; s < kSubscribers; ++s) {
    threads.emplace_back([&, s] {
      for (int i = 0; i < kPublishers * kPerPublisher; ++i) {
        auto delivery = subscriptions[s].Next(30s);
        ASSERT_TRUE(delivery.ok() && delivery->has_value()) << "a kept message stopped the ring";
        ASSERT_EQ((*delivery)->missed, 0u);
        if (!Verify((*delivery)->slot.data())) torn++;
        received++;
        if (i % 3 != s) continue;  // keep every third message
        std::lock_guard lock(kept_mutex);
        if (kept.size() < kMostKept) kept.push_back(std::move((*delivery)->slot));
      }
    });
  }
  for (int p = 0; p < kPublishers; ++p) {
    threads.emplace_back([&, p] {
      for (int i = 0; i < kPerPublisher; ++i) {
        const uint64_t size = 16 + static_cast<uint64_t>(p * 7919 + i * 104729) % 8000;
        auto slot = ring.Allocate(size, 30s);
        ASSERT_TRUE(slot.ok() && slot->has_value()) << "a kept message stopped the publisher";
        Fill((*slot)->data().first(size), static_cast<uint64_t>(p) << 32 | static_cast<uint64_t>(i));
        ASSERT_TRUE((*slot)->Commit(size, 0).ok());
      }
    });
  }
  for (size_t t = 1; t < threads.size(); ++t) threads[t].join();
  done = true;
  threads[0].join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_EQ(received.load(), static_cast<uint64_t>(kSubscribers * kPublishers * kPerPublisher));
  EXPECT_GT(released.load(), 0u);
  EXPECT_GT(ring.Stats().messages_kept_total, 0u) << "the allocator moved kept messages out of the window";
  subscriptions.clear();
  EXPECT_EQ(ring.Stats().kept_messages, 0u);
  auto whole = ring.TryAllocate(ring.capacity());
  EXPECT_TRUE(whole.ok() && whole->has_value()) << "every byte came back";
}

TEST(RingStress, WaivedLoadsRacingLoadersAndTheAllocatorNeverTearAMessageOrStopAPublisher) {
  Ring ring = testing::HeapRing(256 * 1024, {.policy = Policy::kBlock, .max_messages = 64, .retain = true});
  constexpr int kPublishers = 2, kPerPublisher = 2000;
  HandleQueue handles;
  std::atomic<uint64_t> newest_loaded{0}, loaded{0}, late{0}, torn{0}, waived{0};
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  threads.emplace_back([&] {  // the loader: loses every fourth handle, loads the rest in order
    uint64_t n = 0;
    while (auto handle = handles.Pop()) {
      if (n++ % 4 == 3) continue;
      auto slot = ring.Acquire(*handle);
      if (!slot.ok()) {
        if (slot.error().code == Errc::kStaleHandle) late++;  // waived, then given way first
        continue;
      }
      if (!Verify(slot->data())) torn++;
      loaded++;
      uint64_t seen = newest_loaded.load();
      while (seen < handle->sequence && !newest_loaded.compare_exchange_weak(seen, handle->sequence)) {
      }
    }
  });
  threads.emplace_back([&] {  // the waiver: what the loader passed no longer holds the writer back
    while (!done.load()) {
      const uint64_t passed = newest_loaded.load();
      for (uint64_t seq = ring.oldest_sequence(); seq < passed; ++seq) {
        if (ring.PendingDeliveries(seq).value_or(0) == 0) continue;
        if (ring.WaiveDeliveries(seq).ok()) waived++;
      }
      std::this_thread::yield();
    }
  });
  std::vector<std::thread> publishers;
  for (int p = 0; p < kPublishers; ++p) {
    publishers.emplace_back([&, p] {
      for (int i = 0; i < kPerPublisher; ++i) {
        const uint64_t size = 16 + static_cast<uint64_t>(p * 7919 + i * 104729) % 8000;
        auto slot = ring.Allocate(size, 30s);
        ASSERT_TRUE(slot.ok() && slot->has_value()) << "a lost handle stopped the publisher";
        Fill((*slot)->data().first(size), static_cast<uint64_t>(p) << 32 | static_cast<uint64_t>(i));
        auto handle = (*slot)->Commit(size, 1);
        ASSERT_TRUE(handle.ok());
        handles.Push(*handle);
      }
    });
  }
  for (auto& publisher : publishers) publisher.join();
  handles.Close();
  threads[0].join();
  done = true;
  threads[1].join();
  EXPECT_EQ(torn.load(), 0u);
  EXPECT_GT(waived.load(), 0u);
  EXPECT_EQ(loaded.load() + late.load(), static_cast<uint64_t>(kPublishers * kPerPublisher * 3 / 4));
  for (uint64_t seq = ring.oldest_sequence(); seq < ring.next_sequence(); ++seq) (void)ring.WaiveDeliveries(seq);
  auto whole = ring.TryAllocate(ring.capacity());
  EXPECT_TRUE(whole.ok() && whole->has_value()) << "every byte came back";
}

}  // namespace
}  // namespace arrowring
