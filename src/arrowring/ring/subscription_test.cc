// Tests: subscriptions — joining, cursors, fan-out, missed counts, leaving.
#include <cstring>
#include <thread>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "arrowring/ring/layout.h"
#include "arrowring/ring/ring.h"
#include "arrowring/ring/test_memory.h"

namespace arrowring {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;
using testing::HeapRing;
using testing::kKiB;

using testing::HasRoomFor;

// Here messages go to subscribers: no handle deliveries unless a test asks for them.
Handle Publish(Ring& ring, uint64_t size, uint8_t fill, uint32_t deliveries = 0,
               std::chrono::seconds ttl = WriteSlot::kDefaultDeliveryTtl) {
  return testing::Publish(ring, size, fill, deliveries, ttl);
}

std::optional<Subscription::Delivery> Take(Subscription& subscription) {
  auto delivery = subscription.Next(0ms);
  EXPECT_TRUE(delivery.ok());
  return std::move(*delivery);
}

TEST(Subscription, ReceivesEveryMessageAllocatedAfterItJoinedInOrder) {
  Ring ring = HeapRing(64 * kKiB);
  Publish(ring, 100, 0);  // Before joining: not due to it (and freed at once: nobody wants it).
  Subscription subscription = *ring.Subscribe("storage");
  for (uint8_t i = 1; i <= 5; ++i) Publish(ring, 100, i);
  for (uint8_t i = 1; i <= 5; ++i) {
    auto delivery = Take(subscription);
    ASSERT_TRUE(delivery.has_value());
    EXPECT_EQ(delivery->slot.data()[0], std::byte{i});
    EXPECT_EQ(delivery->missed, 0u);
  }
  EXPECT_FALSE(Take(subscription).has_value());
}

TEST(Subscription, NextOnAnEmptyRingReturnsNothingAfterTheTimeout) {
  Ring ring = HeapRing(64 * kKiB);
  Subscription subscription = *ring.Subscribe("idle");
  auto delivery = subscription.Next(1ms);
  ASSERT_TRUE(delivery.ok());
  EXPECT_FALSE(delivery->has_value());
  EXPECT_EQ(subscription.Next(-1ms).error().code, Errc::kInvalidArgument);
}

TEST(Subscription, PollingNeverOutlastsTheTimeout) {
  Ring ring = HeapRing(64 * kKiB);
  Subscription subscription = *ring.Subscribe("idle");
  ASSERT_TRUE(subscription.SetSpin({kMaxSpinLimit, /*adaptive=*/false}).ok());
  auto delivery = subscription.Next(1ms);  // Would poll for a second if the limit won.
  ASSERT_TRUE(delivery.ok());
  EXPECT_FALSE(delivery->has_value());
}

TEST(Subscription, SetSpinRefusesALimitOutsideZeroToOneSecond) {
  Ring ring = HeapRing(64 * kKiB);
  Subscription subscription = *ring.Subscribe("s");
  EXPECT_EQ(subscription.SetSpin({-1ns, true}).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(subscription.SetSpin({kMaxSpinLimit + 1ns, true}).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(subscription.spin().limit, SpinPolicy::Default().limit);  // Unchanged by a refusal.
  ASSERT_TRUE(subscription.SetSpin(SpinPolicy::None()).ok());
  EXPECT_EQ(subscription.spin().limit, 0ns);
}

TEST(Subscription, APollingSubscriberTakesAMessageCommittedWhileItPolls) {
  Ring ring = HeapRing(64 * kKiB);
  Subscription subscription = *ring.Subscribe("poller");
  ASSERT_TRUE(subscription.SetSpin({kMaxSpinLimit, /*adaptive=*/false}).ok());
  std::thread writer([&] { Publish(ring, 8, 7); });
  auto delivery = subscription.Next(kWaitForever);
  writer.join();
  ASSERT_TRUE(delivery.ok() && delivery->has_value());
  EXPECT_EQ((*delivery)->slot.data()[0], std::byte{7});
}

TEST(Subscription, FanOutKeepsAMessageUntilEverySubscriberReleasedIt) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kBlock});
  Subscription a = *ring.Subscribe("a");
  Subscription b = *ring.Subscribe("b");
  Publish(ring, 48 * kKiB, 7);
  EXPECT_FALSE(HasRoomFor(ring, 32 * kKiB)) << "nobody took it yet";
  {
    auto delivery = Take(a);
    ASSERT_TRUE(delivery.has_value());
  }
  EXPECT_FALSE(HasRoomFor(ring, 32 * kKiB)) << "b has not taken it";
  auto held = Take(b);
  ASSERT_TRUE(held.has_value());
  EXPECT_FALSE(HasRoomFor(ring, 32 * kKiB)) << "b still holds it";
  held.reset();
  EXPECT_TRUE(HasRoomFor(ring, 64 * kKiB));
}

TEST(Subscription, LeavingReleasesWhatWasStillDueToIt) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kBlock});
  Subscription fast = *ring.Subscribe("fast");
  std::optional<Subscription> slow(*ring.Subscribe("slow"));
  Publish(ring, 32 * kKiB, 1);
  Publish(ring, 32 * kKiB, 2);
  while (Take(fast).has_value()) {
  }
  EXPECT_FALSE(HasRoomFor(ring, 1));
  slow.reset();
  EXPECT_TRUE(HasRoomFor(ring, 64 * kKiB));
  EXPECT_EQ(ring.Stats().subscribers.size(), 1u);
}

TEST(Subscription, BlockPolicyMakesPublishersWaitForTheSlowest) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kBlock});
  Subscription slow = *ring.Subscribe("slow");
  Publish(ring, 64 * kKiB, 1);
  auto waited = ring.Allocate(1, 0ms);
  ASSERT_TRUE(waited.ok());
  EXPECT_FALSE(waited->has_value());
  std::optional<WriteSlot> got;
  std::thread publisher([&] {
    auto slot = ring.Allocate(64 * kKiB, kWaitForever);
    if (slot.ok()) got = std::move(*slot);
  });
  {
    auto delivery = slow.Next(kWaitForever);
    ASSERT_TRUE(delivery.ok() && delivery->has_value());
  }
  publisher.join();
  EXPECT_TRUE(got.has_value());
}

TEST(Subscription, DropOldestSkipsWhatWasDroppedAndCountsItAsMissed) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kDropOldest});
  Subscription slow = *ring.Subscribe("slow");
  Subscription fast = *ring.Subscribe("fast");
  constexpr int kPublished = 20;
  uint64_t fast_received = 0;
  for (int i = 0; i < kPublished; ++i) {
    Publish(ring, 16 * kKiB, static_cast<uint8_t>(i));
    while (Take(fast).has_value()) ++fast_received;
  }
  EXPECT_EQ(fast_received, static_cast<uint64_t>(kPublished));
  uint64_t received = 0, missed = 0;
  std::byte first{};
  while (auto delivery = Take(slow)) {
    if (received == 0) first = delivery->slot.data()[0];
    ++received;
    missed += delivery->missed;
  }
  EXPECT_EQ(received + missed, static_cast<uint64_t>(kPublished));
  EXPECT_EQ(missed, static_cast<uint64_t>(kPublished - 4));
  EXPECT_EQ(first, std::byte{kPublished - 4}) << "the oldest were dropped";
  EXPECT_EQ(slow.missed(), missed);
  EXPECT_EQ(ring.Stats().messages_dropped, missed);
}

TEST(Subscription, NextWakesWhenAnotherThreadPublishes) {
  Ring ring = HeapRing(64 * kKiB);
  Subscription subscription = *ring.Subscribe("waiter");
  std::optional<std::byte> got;
  std::thread waiter([&] {
    auto delivery = subscription.Next(kWaitForever);
    if (delivery.ok() && delivery->has_value()) got = (*delivery)->slot.data()[0];
  });
  Publish(ring, 10, 42);
  waiter.join();
  EXPECT_EQ(got, std::byte{42});
}

TEST(Subscription, AnAbortedMessageIsSkipped) {
  Ring ring = HeapRing(64 * kKiB);
  Subscription subscription = *ring.Subscribe("s");
  auto aborted = ring.TryAllocate(100);
  ASSERT_TRUE(aborted.ok() && aborted->has_value());
  Publish(ring, 100, 9);  // Allocated after the open slot: delivered only once that is done.
  EXPECT_FALSE(Take(subscription).has_value()) << "waits for the earlier message";
  aborted->reset();
  auto delivery = Take(subscription);
  ASSERT_TRUE(delivery.has_value());
  EXPECT_EQ(delivery->slot.data()[0], std::byte{9});
  EXPECT_EQ(delivery->missed, 0u);
}

TEST(Subscription, NamesAreValidatedAndUnique) {
  Ring ring = HeapRing(64 * kKiB);
  Subscription first = *ring.Subscribe("storage");
  auto again = ring.Subscribe("storage");
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::kAlreadyExists);
  EXPECT_EQ(ring.Subscribe("a/b").error().code, Errc::kInvalidArgument);
  EXPECT_EQ(ring.Subscribe(std::string(81, 'x')).error().code, Errc::kInvalidArgument);
  std::vector<Subscription> many;
  while (many.size() + 1 < layout::kMaxSubscribers) {
    many.push_back(*ring.Subscribe("s" + std::to_string(many.size())));
  }
  EXPECT_EQ(ring.Subscribe("one-too-many").error().code, Errc::kTooManyAttachments);
  first.Leave();
  EXPECT_TRUE(ring.Subscribe("storage").ok()) << "the name and the slot are free again";
}

TEST(Subscription, StatsShowLagReceivedAndMissed) {
  Ring ring = HeapRing(64 * kKiB);
  Subscription subscription = *ring.Subscribe("watcher");
  Publish(ring, 10, 1);
  Publish(ring, 10, 2);
  Take(subscription);
  RingStats stats = ring.Stats();
  ASSERT_EQ(stats.subscribers.size(), 1u);
  EXPECT_EQ(stats.subscribers[0].name, "watcher");
  EXPECT_TRUE(stats.subscribers[0].alive);
  EXPECT_EQ(stats.subscribers[0].lag, 1u);
  EXPECT_EQ(stats.subscribers[0].received, 1u);
}

TEST(HandleDelivery, LapsesAfterItsTtlSoABlockRingCannotWedge) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kBlock});
  Publish(ring, 64 * kKiB, 1, /*deliveries=*/1, /*ttl=*/std::chrono::hours(1));
  EXPECT_FALSE(HasRoomFor(ring, 1)) << "its one load is still due";
  Ring other = HeapRing(64 * kKiB, {.policy = Policy::kBlock});
  Handle lapsed = Publish(other, 64 * kKiB, 1, /*deliveries=*/1, /*ttl=*/0s);
  EXPECT_TRUE(HasRoomFor(other, 64 * kKiB)) << "the delivery lapsed";
  EXPECT_EQ(other.Stats().messages_dropped, 1u);
  EXPECT_EQ(other.Acquire(lapsed).error().code, Errc::kStaleHandle);
}

}  // namespace
}  // namespace arrowring
