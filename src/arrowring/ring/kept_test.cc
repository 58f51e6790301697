// Tests: messages readers keep cost the ring their own bytes: the writer goes around them,
// they leave the sequence window, their last release frees them; retention by space; history
// for late subscribers; warm writes.
#include <cstring>
#include <random>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "arrowring/ring/layout.h"
#include "arrowring/ring/ring.h"
#include "arrowring/ring/test_memory.h"

namespace arrowring {
namespace {

using testing::HasRoomFor;
using testing::HeapRing;
using testing::kKiB;
using testing::MustAllocate;
using testing::Publish;
using namespace std::chrono_literals;

// Publishes `size` bytes of `fill` to the ring's subscribers (no handle deliveries).
uint64_t PublishToSubscribers(Ring& ring, uint64_t size, uint8_t fill) {
  auto slot = ring.Allocate(size, 0s);
  EXPECT_TRUE(slot.ok() && slot->has_value()) << "no room for " << size << " bytes";
  if (!slot.ok() || !slot->has_value()) return UINT64_MAX;
  std::memset((*slot)->data().data(), fill, size);
  const uint64_t seq = (*slot)->sequence();
  EXPECT_TRUE((*slot)->Commit(size, 0).ok());
  return seq;
}

bool AllBytesAre(const ReadSlot& slot, uint8_t fill) {
  for (std::byte b : slot.data()) {
    if (b != std::byte{fill}) return false;
  }
  return true;
}

TEST(KeptMessages, AKeptMessageDoesNotStopAProducerUnderBlock) {
  Ring ring = HeapRing(256 * kKiB, {.policy = Policy::kBlock});
  auto sub = ring.Subscribe("keeper");
  ASSERT_TRUE(sub.ok());
  PublishToSubscribers(ring, 16 * kKiB, 7);
  auto kept = sub->Next(0s);
  ASSERT_TRUE(kept.ok() && kept->has_value());
  // Twenty laps of the ring while the first message is kept: never full, never corrupted.
  for (int i = 0; i < 320; ++i) {
    ASSERT_NE(PublishToSubscribers(ring, 16 * kKiB, static_cast<uint8_t>(i % 200 + 10)), UINT64_MAX) << i;
    auto next = sub->Next(0s);
    ASSERT_TRUE(next.ok() && next->has_value());
    ASSERT_TRUE(AllBytesAre((*next)->slot, static_cast<uint8_t>(i % 200 + 10)));
  }
  EXPECT_TRUE(AllBytesAre((*kept)->slot, 7));
  const RingStats stats = ring.Stats();
  EXPECT_EQ(stats.kept_messages, 1u);
  EXPECT_EQ(stats.kept_bytes, 16 * kKiB);
  EXPECT_EQ(stats.messages_dropped, 0u);
}

TEST(KeptMessages, TheWriterReusesTheBytesBeforeAndAfterAKeptMessageInTheSameLap) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kFail, .warm_bytes = 0});
  std::vector<Handle> handles;
  for (int i = 0; i < 4; ++i) handles.push_back(Publish(ring, 16 * kKiB, static_cast<uint8_t>(i + 1)));
  const std::byte* base = ring.data_region().data();
  auto kept = ring.Acquire(handles[1]);  // the second quarter: [16, 32) KiB
  ASSERT_TRUE(kept.ok());
  for (int i : {0, 2, 3}) ASSERT_TRUE(ring.Acquire(handles[i]).ok());  // delivered, released: free
  // The ring now holds only the kept message: three 16 KiB messages fit, before and after it.
  std::vector<WriteSlot> slots;
  for (int i = 0; i < 3; ++i) slots.push_back(MustAllocate(ring, 16 * kKiB));
  EXPECT_EQ(slots[0].data().data(), base);
  EXPECT_EQ(slots[1].data().data(), base + 32 * kKiB);
  EXPECT_EQ(slots[2].data().data(), base + 48 * kKiB);
  EXPECT_FALSE(HasRoomFor(ring, 64)) << "only the kept message's bytes are not free";
  for (auto& slot : slots) std::memset(slot.data().data(), 0xEE, slot.data().size());
  EXPECT_TRUE(AllBytesAre(*kept, 2));
}

TEST(KeptMessages, KeptMessagesDoNotPinTheSequenceWindow) {
  Ring ring = HeapRing(256 * kKiB, {.policy = Policy::kFail, .max_messages = 4});
  std::vector<ReadSlot> kept;
  for (int i = 0; i < 200; ++i) {
    Handle handle = Publish(ring, 1 * kKiB, static_cast<uint8_t>(i));
    auto read = ring.Acquire(handle);
    ASSERT_TRUE(read.ok()) << i << ": " << read.error().ToString();
    if (i % 10 == 0) kept.push_back(std::move(*read));  // every 10th, kept for good
  }
  EXPECT_EQ(ring.Stats().kept_messages, 20u) << "every kept message has left the 4-message window";
  for (size_t i = 0; i < kept.size(); ++i) EXPECT_TRUE(AllBytesAre(kept[i], static_cast<uint8_t>(i * 10)));
}

// Publishes and consumes 16 KiB messages until the tail is at the end of the 64 KiB ring.
void FillAndConsumeToTheEnd(Ring& ring, int count) {
  for (int i = 0; i < count; ++i) ASSERT_TRUE(ring.Acquire(Publish(ring, 16 * kKiB, 0xAA)).ok());
}

TEST(KeptMessages, TheLastReleaseOfAKeptMessageFreesItsBytes) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kFail});
  Handle first = Publish(ring, 16 * kKiB, 1);
  auto kept = ring.Acquire(first);
  ASSERT_TRUE(kept.ok());
  auto second_reference = kept->Duplicate();
  ASSERT_TRUE(second_reference.ok());
  FillAndConsumeToTheEnd(ring, 3);
  Publish(ring, 48 * kKiB, 2);  // wraps to the front: moves the first out of the window
  EXPECT_EQ(ring.Stats().kept_messages, 1u);
  EXPECT_FALSE(HasRoomFor(ring, 16 * kKiB)) << "48 KiB owed a delivery, 16 KiB kept";
  kept->Release();
  EXPECT_EQ(ring.Stats().kept_messages, 1u) << "a duplicate still holds it";
  EXPECT_TRUE(AllBytesAre(*second_reference, 1));
  second_reference->Release();
  EXPECT_EQ(ring.Stats().kept_messages, 0u);
  EXPECT_TRUE(HasRoomFor(ring, 16 * kKiB));
  EXPECT_EQ(ring.Acquire(first).error().code, Errc::kStaleHandle);
}

TEST(KeptMessages, AKeptMessageStaysLoadableByHandleFromAnotherAttachment) {
  const RingOptions options{.policy = Policy::kFail};
  const uint64_t bytes = *Ring::RequiredBytes(64 * kKiB, options);
  std::shared_ptr<void> memory(std::aligned_alloc(64, bytes), std::free);
  const std::span<std::byte> span(static_cast<std::byte*>(memory.get()), bytes);
  Ring ring = *Ring::Format(span, 64 * kKiB, options, "two-attachments", memory);
  Ring other = *Ring::Open(span, memory);
  Handle first = Publish(ring, 16 * kKiB, 5, /*deliveries=*/2);
  auto kept = ring.Acquire(first);
  ASSERT_TRUE(kept.ok());
  FillAndConsumeToTheEnd(ring, 3);
  // Its second delivery is still owed: under kFail it stays in the window and holds the space.
  EXPECT_FALSE(HasRoomFor(ring, 16 * kKiB));
  auto loaded = other.Acquire(first);  // the second delivery
  ASSERT_TRUE(loaded.ok());
  loaded->Release();
  WriteSlot next = MustAllocate(ring, 16 * kKiB);  // now it moves out of the window
  EXPECT_EQ(ring.Stats().kept_messages, 1u);
  auto again = other.Acquire(first);  // no delivery owed, but it is intact and loadable
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(again->data().data(), kept->data().data());
  EXPECT_TRUE(AllBytesAre(*again, 5));
  kept->Release();
  EXPECT_EQ(ring.Stats().kept_messages, 1u);
  again->Release();
  EXPECT_EQ(ring.Stats().kept_messages, 0u);
}

TEST(KeptMessages, AFullKeptTableLeavesTheHeldMessageInTheWindowAndSaysSo) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kFail, .max_kept = 2});
  std::vector<ReadSlot> kept;
  for (int i = 0; i < 3; ++i) {
    auto read = ring.Acquire(Publish(ring, 8 * kKiB, static_cast<uint8_t>(i + 1)));
    ASSERT_TRUE(read.ok());
    kept.push_back(std::move(*read));
  }
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(ring.Acquire(Publish(ring, 8 * kKiB, 0xAA)).ok());
  // The tail is at the end: the next message needs the first three out of the window, and the
  // table takes two.
  EXPECT_FALSE(HasRoomFor(ring, 8 * kKiB)) << "the third stays in the window and holds the space";
  EXPECT_EQ(ring.Stats().kept_messages, 2u);
  EXPECT_GT(ring.Stats().kept_full, 0u);
  kept[0].Release();  // its bytes and its entry come free
  EXPECT_TRUE(HasRoomFor(ring, 8 * kKiB));
  for (size_t i = 1; i < kept.size(); ++i) EXPECT_TRUE(AllBytesAre(kept[i], static_cast<uint8_t>(i + 1)));
}

TEST(KeptMessages, DropOldestMissesAHeldMessageOnlyForTheSubscriberStillDueAndKeepsItForItsHolder) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kDropOldest});
  auto fast = ring.Subscribe("fast");
  auto slow = ring.Subscribe("slow");
  ASSERT_TRUE(fast.ok() && slow.ok());
  PublishToSubscribers(ring, 32 * kKiB, 1);
  PublishToSubscribers(ring, 32 * kKiB, 2);
  auto held = fast->Next(0s);  // fast holds the first; slow has taken nothing
  ASSERT_TRUE(held.ok() && held->has_value());
  // The third needs 32 KiB: the first is kept for fast (slow misses it), the second, unheld,
  // is dropped (both miss it).
  PublishToSubscribers(ring, 32 * kKiB, 3);
  EXPECT_TRUE(AllBytesAre((*held)->slot, 1));
  EXPECT_EQ(slow->missed(), 2u);
  EXPECT_EQ(fast->missed(), 1u);
  EXPECT_EQ(ring.Stats().messages_dropped, 2u);
  for (auto [sub, missed] : {std::pair{&*slow, 2u}, std::pair{&*fast, 1u}}) {
    auto third = sub->Next(0s);
    ASSERT_TRUE(third.ok() && third->has_value());
    EXPECT_EQ((*third)->missed, missed);
    EXPECT_TRUE(AllBytesAre((*third)->slot, 3));
  }
}

TEST(RetainedMessages, StayLoadableAfterEverySubscriberTookThemAndGiveWayOldestFirst) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kBlock, .retain = true});
  auto sub = ring.Subscribe("s");
  ASSERT_TRUE(sub.ok());
  std::vector<Handle> handles;
  for (int i = 0; i < 4; ++i) {
    WriteSlot slot = MustAllocate(ring, 16 * kKiB);
    std::memset(slot.data().data(), i + 1, 16 * kKiB);
    handles.push_back(*slot.Commit(16 * kKiB, 0));
    auto taken = sub->Next(0s);
    ASSERT_TRUE(taken.ok() && taken->has_value());
  }
  for (int i = 0; i < 4; ++i) EXPECT_TRUE(ring.Acquire(handles[i]).ok()) << "retained " << i;
  // Full by design; a fifth publish never waits: the oldest unheld one gives way.
  auto slot = ring.Allocate(16 * kKiB, 0s);
  ASSERT_TRUE(slot.ok() && slot->has_value());
  ASSERT_TRUE((*slot)->Commit(16 * kKiB, 0).ok());
  EXPECT_EQ(ring.Acquire(handles[0]).error().code, Errc::kStaleHandle);
  RingStats stats = ring.Stats();
  EXPECT_EQ(stats.messages_given_way, 1u);
  EXPECT_EQ(stats.bytes_given_way, 16 * kKiB);
  EXPECT_EQ(stats.messages_dropped, 0u);
  EXPECT_TRUE(stats.retain);
  EXPECT_EQ(stats.warm_bytes, 0u) << "a retaining ring never wraps early";
}

TEST(RetainedMessages, AHeldRetainedMessageIsKeptNotGivenWay) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kFail, .retain = true});
  Handle first = Publish(ring, 16 * kKiB, 1, 0);
  auto held = ring.Acquire(first);
  ASSERT_TRUE(held.ok());
  for (int i = 0; i < 10; ++i) Publish(ring, 16 * kKiB, static_cast<uint8_t>(i + 2), 0);
  EXPECT_TRUE(AllBytesAre(*held, 1));
  EXPECT_EQ(ring.Stats().kept_messages, 1u);
  EXPECT_TRUE(ring.Acquire(first).ok());
}

TEST(RetainedMessages, RetireFreesARetainedMessage) {
  Ring ring = HeapRing(64 * kKiB, {.retain = true});
  Handle first = Publish(ring, 16 * kKiB, 1, 0);
  ASSERT_TRUE(ring.Retire(first.sequence).ok());
  EXPECT_EQ(ring.Acquire(first).error().code, Errc::kStaleHandle);
}

TEST(RetainedMessages, AWaivedLoadStopsHoldingTheWriterBackButStaysLoadableUntilItsSpaceIsNeeded) {
  Ring ring = HeapRing(64 * kKiB, {.policy = Policy::kBlock, .retain = true});
  std::vector<Handle> owed;
  for (int i = 0; i < 4; ++i) owed.push_back(Publish(ring, 16 * kKiB, static_cast<uint8_t>(i + 1), 1));
  EXPECT_FALSE(HasRoomFor(ring, 16 * kKiB)) << "every message owes a load: the writer waits";
  ASSERT_TRUE(ring.WaiveDeliveries(owed[1].sequence).ok());
  ASSERT_TRUE(ring.WaiveDeliveries(owed[0].sequence).ok());
  EXPECT_EQ(ring.PendingDeliveries(owed[0].sequence), 0u);
  EXPECT_EQ(ring.PendingDeliveries(owed[2].sequence), 1u) << "only the waived ones";
  for (const Handle& handle : {owed[0], owed[1]}) {
    auto late = ring.Acquire(handle);  // A handle that comes after all: still there.
    ASSERT_TRUE(late.ok()) << handle.sequence;
    EXPECT_TRUE(AllBytesAre(*late, static_cast<uint8_t>(handle.sequence + 1)));
  }
  // Space is needed: the oldest waived one gives way, then the next; the owed ones stay.
  Publish(ring, 16 * kKiB, 5, 1);
  EXPECT_EQ(ring.Acquire(owed[0]).error().code, Errc::kStaleHandle);
  EXPECT_TRUE(ring.Acquire(owed[1]).ok());
  Publish(ring, 16 * kKiB, 6, 1);
  EXPECT_EQ(ring.Acquire(owed[1]).error().code, Errc::kStaleHandle);
  EXPECT_FALSE(HasRoomFor(ring, 16 * kKiB)) << "nothing waived is left to give way";
  EXPECT_EQ(ring.Stats().messages_given_way, 2u);
  EXPECT_EQ(ring.Stats().messages_dropped, 0u);
}

TEST(RetainedMessages, WaivingIsStaleForAMessageThatIsGoneAndRetiresInARingThatDoesNotRetain) {
  Ring retaining = HeapRing(64 * kKiB, {.retain = true});
  Handle retired = Publish(retaining, 16 * kKiB, 1, 1);
  ASSERT_TRUE(retaining.Retire(retired.sequence).ok());
  EXPECT_EQ(retaining.WaiveDeliveries(retired.sequence).error().code, Errc::kStaleHandle);
  EXPECT_EQ(retaining.WaiveDeliveries(retaining.next_sequence()).error().code, Errc::kStaleHandle);

  Ring plain = HeapRing(64 * kKiB, {.policy = Policy::kBlock});
  Handle owed = Publish(plain, 16 * kKiB, 1, 1);
  ASSERT_TRUE(plain.WaiveDeliveries(owed.sequence).ok());
  EXPECT_EQ(plain.Acquire(owed).error().code, Errc::kStaleHandle) << "nothing would keep it";
}

TEST(RetainedMessages, ASubscriberStartingAtTheOldestReadsTheHistoryInOrderThenNewMessages) {
  Ring ring = HeapRing(64 * kKiB, {.retain = true});
  for (int i = 0; i < 6; ++i) Publish(ring, 16 * kKiB, static_cast<uint8_t>(i + 1), 0);  // 2 gave way
  auto late = ring.Subscribe("late", SubscribeStart::kOldest);
  auto fresh = ring.Subscribe("fresh");
  ASSERT_TRUE(late.ok() && fresh.ok());
  for (int expected : {3, 4, 5, 6}) {
    auto got = late->Next(0s);
    ASSERT_TRUE(got.ok() && got->has_value()) << expected;
    EXPECT_TRUE(AllBytesAre((*got)->slot, static_cast<uint8_t>(expected)));
  }
  auto none = fresh->Next(0s);
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->has_value()) << "the default start is new messages only";
  Publish(ring, 16 * kKiB, 7, 0);
  for (auto* sub : {&*late, &*fresh}) {
    auto got = sub->Next(0s);
    ASSERT_TRUE(got.ok() && got->has_value());
    EXPECT_TRUE(AllBytesAre((*got)->slot, 7));
  }
}

TEST(WarmWrites, ARingHoldingLittleCyclesThroughItsFront) {
  constexpr uint64_t kWarm = 256 * kKiB;  // at least 8 messages of 16 KiB
  Ring ring = HeapRing(4096 * kKiB, {.warm_bytes = kWarm});
  const std::byte* base = ring.data_region().data();
  std::optional<ReadSlot> previous;  // one message in flight, as with a pipelined consumer
  for (int i = 0; i < 1000; ++i) {
    WriteSlot slot = MustAllocate(ring, 16 * kKiB);
    ASSERT_LE(slot.data().data() + slot.data().size(), base + kWarm + 16 * kKiB) << i;
    auto handle = slot.Commit(16 * kKiB, 1);
    ASSERT_TRUE(handle.ok());
    previous = *ring.Acquire(*handle);  // the one before is released: the ring holds little
  }
}

TEST(WarmWrites, AWindowHoldsAtLeastEightMessagesOfTheSizeBeingPlaced) {
  Ring ring = HeapRing(4096 * kKiB, {.warm_bytes = 16 * kKiB});
  const std::byte* base = ring.data_region().data();
  const std::byte* highest = base;
  std::optional<ReadSlot> previous;
  for (int i = 0; i < 200; ++i) {
    WriteSlot slot = MustAllocate(ring, 64 * kKiB);
    highest = std::max<const std::byte*>(highest, slot.data().data());
    previous = *ring.Acquire(*slot.Commit(64 * kKiB, 1));
  }
  EXPECT_EQ(highest, base + 7 * 64 * kKiB) << "wraps once 8 messages of 64 KiB are behind it";
}

TEST(WarmWrites, OffWritesCycleThroughTheWholeCapacity) {
  Ring ring = HeapRing(1024 * kKiB, {.warm_bytes = 0});
  const std::byte* base = ring.data_region().data();
  const std::byte* highest = base;
  std::optional<ReadSlot> previous;
  for (int i = 0; i < 64; ++i) {
    WriteSlot slot = MustAllocate(ring, 16 * kKiB);
    highest = std::max<const std::byte*>(highest, slot.data().data());
    previous = *ring.Acquire(*slot.Commit(16 * kKiB, 1));
  }
  EXPECT_EQ(highest, base + 1024 * kKiB - 16 * kKiB);
}

// Random keepers: every message published is verified when taken, kept ones again at release.
TEST(KeptMessages, RandomHoldTimesNeverCorruptAndNeverStopTheProducer) {
  Ring ring = HeapRing(512 * kKiB, {.policy = Policy::kFail, .max_messages = 64});
  auto sub = ring.Subscribe("random");
  ASSERT_TRUE(sub.ok());
  std::mt19937 random(12345);
  struct Kept {
    ReadSlot slot;
    uint8_t fill;
    int until;
  };
  std::vector<Kept> kept;
  for (int i = 0; i < 5000; ++i) {
    const uint8_t fill = static_cast<uint8_t>(i * 31 + 7);
    const uint64_t size = 64 + random() % (24 * kKiB);
    ASSERT_NE(PublishToSubscribers(ring, size, fill), UINT64_MAX) << "message " << i << ", " << kept.size() << " kept";
    auto got = sub->Next(0s);
    ASSERT_TRUE(got.ok() && got->has_value());
    ASSERT_TRUE(AllBytesAre((*got)->slot, fill));
    if (random() % 4 == 0) kept.push_back({std::move((*got)->slot), fill, i + static_cast<int>(random() % 200)});
    for (size_t k = 0; k < kept.size();) {
      if (kept[k].until <= i) {
        ASSERT_TRUE(AllBytesAre(kept[k].slot, kept[k].fill)) << "kept message overwritten";
        kept.erase(kept.begin() + static_cast<long>(k));
      } else {
        ++k;
      }
    }
    // At most 8 kept (9 free runs) and 128 KiB: some free run always holds 24 KiB.
    while (kept.size() > 8 || ring.Stats().kept_bytes > 128 * kKiB) kept.erase(kept.begin());
  }
}

}  // namespace
}  // namespace arrowring

namespace arrowring {
namespace {
TEST(WarmWrites, KeptMessagesDoNotPushTheWriterOutOfItsWindow) {
  constexpr uint64_t kMiB = 1024 * kKiB;
  Ring ring = HeapRing(64 * kMiB, {.warm_bytes = 8 * kMiB});
  const std::byte* base = ring.data_region().data();
  std::vector<ReadSlot> kept;
  std::vector<std::optional<ReadSlot>> per_tag(5);
  std::optional<ReadSlot> previous;
  uint64_t far = 0;
  for (int i = 0; i < 600; ++i) {
    WriteSlot slot = MustAllocate(ring, kMiB);
    const uint64_t offset = static_cast<uint64_t>(slot.data().data() - base);
    auto read = ring.Acquire(*slot.Commit(kMiB, 1));
    ASSERT_TRUE(read.ok());
    if (i < 200 && i % 10 == 0) {
      kept.push_back(std::move(*read));  // 20 MiB kept for good
    } else if (i % 50 < 5) {
      per_tag[static_cast<size_t>(i % 5)] = std::move(*read);  // the latest of 5 tags
    } else {
      previous = std::move(*read);
    }
    if (i >= 300) far = std::max(far, offset);
  }
  // 25 MiB kept (20 for good, 5 per tag), a window of 8 MiB free, one message of slack.
  EXPECT_LE(far, 25 * kMiB + 8 * kMiB + kMiB) << "the writer left its warm window";
}
}  // namespace
}  // namespace arrowring
