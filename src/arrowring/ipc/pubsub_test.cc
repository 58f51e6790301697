#include "arrowring/ipc/pubsub.h"

#include <thread>

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "arrowring/ipc/test_tables.h"
#include "arrowring/ring/test_memory.h"

namespace arrowring {
namespace {

using namespace std::chrono_literals;
using testing::BuffersOutside;
using ::testing::HasSubstr;
using testing::MakeInt64Table;
using testing::MakeVariedTable;
using testing::TablesEqual;

constexpr uint64_t kMiB = 1 << 20;

bool HasRoomFor(Ring& ring, uint64_t size) {
  auto slot = ring.TryAllocate(size);
  return slot.ok() && slot->has_value();
}

Message MustNext(Subscriber& subscriber) {
  auto message = subscriber.Next(0ms);
  EXPECT_TRUE(message.ok()) << message.status().ToString();
  EXPECT_TRUE(message->has_value());
  return std::move(**message);
}

TEST(PubSub, SubscriberGetsAnEqualTableWhoseBuffersAllLieInTheRing) {
  Ring ring = testing::HeapRing(8 * kMiB);
  auto subscriber = Subscriber::Make(ring, "check");
  ASSERT_TRUE(subscriber.ok());
  Publisher publisher(ring);
  auto table = MakeVariedTable(2000, 11, 3);
  auto handle = publisher.Publish(*table);
  ASSERT_TRUE(handle.ok()) << handle.status().ToString();

  Message message = MustNext(*subscriber);
  EXPECT_EQ(message.handle, *handle);
  EXPECT_EQ(message.missed, 0u);
  EXPECT_GT(message.commit_time_ns, 0u);
  EXPECT_TRUE(TablesEqual(*message.table, *table));
  const auto region = ring.data_region();
  EXPECT_GT(testing::AllBuffers(*message.table).size(), 30u);
  EXPECT_EQ(BuffersOutside(*message.table, region.data(), static_cast<int64_t>(region.size())), 0);
  EXPECT_EQ(BuffersOutside(*table, region.data(), static_cast<int64_t>(region.size())),
            static_cast<int64_t>(testing::AllBuffers(*table).size()));
}

TEST(PubSub, EachMessageIsACompleteStreamAnyArrowReaderReads) {
  Ring ring = testing::HeapRing(8 * kMiB);
  Publisher publisher(ring, {.deliveries = 1});
  auto table = MakeVariedTable(100);
  auto handle = publisher.Publish(*table);
  ASSERT_TRUE(handle.ok());
  auto slot = ring.Acquire(*handle);
  ASSERT_TRUE(slot.ok());
  // Arrow's own stream reader over exactly the message's bytes, nothing of ours in between.
  auto buffer = std::make_shared<arrow::Buffer>(reinterpret_cast<const uint8_t*>(slot->data().data()),
                                                static_cast<int64_t>(slot->data().size()));
  auto reader = arrow::ipc::RecordBatchStreamReader::Open(std::make_shared<arrow::io::BufferReader>(buffer));
  ASSERT_TRUE(reader.ok());
  auto read = (*reader)->ToTable();
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(TablesEqual(**read, *table));
}

TEST(PubSub, TheTableKeepsItsSpaceThroughSlicesAndThreadsUntilTheLastBufferDies) {
  Ring ring = testing::HeapRing(4 * kMiB, {.policy = Policy::kFail});
  auto subscriber = Subscriber::Make(ring, "holder");
  ASSERT_TRUE(subscriber.ok());
  Publisher publisher(ring);
  ASSERT_TRUE(publisher.Publish(*MakeInt64Table(400'000)).ok());  // ~3.2 MB
  Message message = MustNext(*subscriber);
  EXPECT_FALSE(HasRoomFor(ring, 2 * kMiB));

  std::shared_ptr<arrow::Table> slice = message.table->Slice(1000, 10);
  message.table.reset();
  EXPECT_FALSE(HasRoomFor(ring, 2 * kMiB)) << "the slice still references the message";
  std::thread([slice = std::move(slice)]() mutable {
    auto column = std::static_pointer_cast<arrow::Int64Array>(slice->column(0)->chunk(0));
    EXPECT_EQ(column->Value(0), 1000);
    slice.reset();
  }).join();
  EXPECT_TRUE(HasRoomFor(ring, 4 * kMiB)) << "the last buffer died on the other thread";
}

TEST(PubSub, LoadThroughAHandleAndStaleHandleAfterTheMessageIsFreed) {
  Ring ring = testing::HeapRing(4 * kMiB);
  Publisher publisher(ring, {.deliveries = 1});
  auto table = MakeVariedTable(50);
  auto handle = publisher.Publish(*table);
  ASSERT_TRUE(handle.ok());
  auto encoded = handle->Encode();  // As it would travel over a message bus.
  auto loaded = Load(ring, *Handle::Decode(encoded));
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_TRUE(TablesEqual(**loaded, *table));
  loaded = arrow::Status::Cancelled("drop");                      // Last reference: the one delivery is done.
  ASSERT_TRUE(publisher.Publish(*MakeInt64Table(500'000)).ok());  // Reuses the space.
  auto stale = Load(ring, *handle);
  ASSERT_FALSE(stale.ok());
  EXPECT_EQ(ErrcOf(stale.status()), Errc::kStaleHandle) << stale.status().ToString();
}

TEST(TryZeroCopy, SaysWhyItCouldNotSoTheCallerChoosesTheFallback) {
  Ring ring = testing::HeapRing(1 * kMiB, {.policy = Policy::kFail});
  auto too_large = TryZeroCopy(*MakeInt64Table(200'000), ring);
  ASSERT_FALSE(too_large.ok());
  EXPECT_EQ(ErrcOf(too_large.status()), Errc::kTooLarge);
  EXPECT_TRUE(too_large.status().IsCapacityError());
  EXPECT_THAT(too_large.status().message(), HasSubstr("copying fallback"));

  auto subscriber = Subscriber::Make(ring, "slow");  // Takes nothing: the ring fills up.
  ASSERT_TRUE(TryZeroCopy(*MakeInt64Table(100'000), ring).ok());
  auto full = TryZeroCopy(*MakeInt64Table(100'000), ring);
  ASSERT_FALSE(full.ok());
  EXPECT_EQ(ErrcOf(full.status()), Errc::kRingFull);
  EXPECT_THAT(full.status().message(), HasSubstr("policy fail"));
  // The explicit fallback works.
  EXPECT_TRUE(SerializeTable(*MakeInt64Table(100'000)).ok());
}

TEST(PubSub, TryPublishNeverWaitsAndSaysRingFullWhenThereIsNoRoom) {
  Ring ring = testing::HeapRing(1 * kMiB, {.policy = Policy::kBlock});
  auto subscriber = Subscriber::Make(ring, "check");
  ASSERT_TRUE(subscriber.ok());
  // A block publisher with a long timeout: TryPublish must not use it.
  Publisher publisher(ring, {.timeout = std::chrono::hours(1)});
  std::vector<Handle> handles;
  while (true) {
    auto handle = publisher.TryPublish(*MakeInt64Table(20'000 + static_cast<int64_t>(handles.size())));
    if (!handle.ok()) {
      EXPECT_EQ(ErrcOf(handle.status()), Errc::kRingFull) << handle.status().ToString();
      EXPECT_THAT(handle.status().message(), HasSubstr("no room"));
      break;
    }
    handles.push_back(*handle);
  }
  ASSERT_GE(handles.size(), 2u);
  for (size_t i = 0; i < handles.size(); ++i) {
    Message message = MustNext(*subscriber);
    EXPECT_EQ(message.handle, handles[i]);
    EXPECT_TRUE(TablesEqual(*message.table, *MakeInt64Table(20'000 + static_cast<int64_t>(i))));
  }
}

TEST(PubSub, BlockPolicyPublishTimesOutWithRingFull) {
  Ring ring = testing::HeapRing(1 * kMiB, {.policy = Policy::kBlock});
  auto subscriber = Subscriber::Make(ring, "slow");
  Publisher publisher(ring, {.timeout = 1ms});
  ASSERT_TRUE(publisher.Publish(*MakeInt64Table(100'000)).ok());
  auto blocked = publisher.Publish(*MakeInt64Table(100'000));
  ASSERT_FALSE(blocked.ok());
  EXPECT_EQ(ErrcOf(blocked.status()), Errc::kRingFull);
  EXPECT_THAT(blocked.status().message(), HasSubstr("after waiting"));
  ASSERT_TRUE(MustNext(*subscriber).table != nullptr);
  EXPECT_TRUE(publisher.Publish(*MakeInt64Table(100'000)).ok());
}

TEST(PubSub, DropOldestTellsTheSlowSubscriberHowManyItMissed) {
  Ring ring = testing::HeapRing(1 * kMiB, {.policy = Policy::kDropOldest});
  auto slow = Subscriber::Make(ring, "slow");
  ASSERT_TRUE(slow.ok());
  Publisher publisher(ring);
  constexpr int kPublished = 30;
  for (int i = 0; i < kPublished; ++i) {
    auto table = MakeInt64Table(20'000 + i);  // ~160 KB: about 6 fit.
    ASSERT_TRUE(publisher.Publish(*table).ok());
  }
  uint64_t received = 0, missed = 0;
  while (true) {
    auto message = slow->Next(0ms);
    ASSERT_TRUE(message.ok());
    if (!message->has_value()) break;
    missed += (*message)->missed;
    EXPECT_EQ((*message)->table->num_rows(), 20'000 + static_cast<int64_t>(received + missed));
    ++received;
  }
  EXPECT_GT(missed, 0u);
  EXPECT_EQ(received + missed, static_cast<uint64_t>(kPublished));
  EXPECT_EQ(slow->missed(), missed);
}

TEST(PubSub, RecordBatchesAndCompressedStreamsArePublishedToo) {
  Ring ring = testing::HeapRing(8 * kMiB);
  auto subscriber = Subscriber::Make(ring, "s", {.read = {.validation = Validation::kFull}});
  ASSERT_TRUE(subscriber.ok());
  auto table = MakeVariedTable(500, 4);
  auto batch = *table->CombineChunksToBatch();
  ASSERT_TRUE(Publisher(ring).Publish(*batch).ok());
  ASSERT_TRUE(Publisher(ring, {.write = {.compression = Compression::kZstd}}).Publish(*table).ok());
  EXPECT_TRUE(TablesEqual(*MustNext(*subscriber).table, *table));
  EXPECT_TRUE(TablesEqual(*MustNext(*subscriber).table, *table));
}

TEST(PubSub, APublisherKeepsNoReferenceToATableOnceItIsPublishedOrRefused) {
  // A table read from another ring holds that ring's space: a publisher that kept the last
  // table it published would keep that space too.
  Ring ring = testing::HeapRing(1 * kMiB);
  Publisher publisher(ring, {.timeout = 0ms});
  auto table = MakeInt64Table(1000);
  const std::shared_ptr<arrow::Buffer> values = table->column(0)->chunk(0)->data()->buffers[1];
  const long before = values.use_count();
  ASSERT_TRUE(publisher.Publish(*table).ok());
  EXPECT_EQ(values.use_count(), before) << "published";
  auto too_large = MakeInt64Table(1 << 18);  // 2 MiB: never fits
  const std::shared_ptr<arrow::Buffer> large_values = too_large->column(0)->chunk(0)->data()->buffers[1];
  const long large_before = large_values.use_count();
  EXPECT_FALSE(publisher.Publish(*too_large).ok());
  EXPECT_EQ(large_values.use_count(), large_before) << "refused";
}

TEST(PubSub, SubscriberErrorsComeBackAsStatusesWithTheirCode) {
  Ring ring = testing::HeapRing(1 * kMiB);
  auto first = Subscriber::Make(ring, "same");
  ASSERT_TRUE(first.ok());
  auto second = Subscriber::Make(ring, "same");
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(ErrcOf(second.status()), Errc::kAlreadyExists);
  EXPECT_FALSE(ErrcOf(arrow::Status::Invalid("not ours")).has_value());
}

}  // namespace
}  // namespace arrowring
