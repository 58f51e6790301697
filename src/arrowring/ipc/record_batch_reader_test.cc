#include "arrowring/ipc/record_batch_reader.h"

#include <arrow/api.h>
#include <arrow/c/bridge.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "arrowring/ipc/test_tables.h"
#include "arrowring/ring/test_memory.h"

namespace arrowring {
namespace {

using namespace std::chrono_literals;
using ::testing::HasSubstr;

constexpr uint64_t kMiB = 1 << 20;

// Every buffer of `batch` lies in the ring's data region.
bool InRing(const Ring& ring, const std::shared_ptr<arrow::RecordBatch>& batch) {
  auto table = arrow::Table::FromRecordBatches({batch});
  const auto region = ring.data_region();
  return testing::BuffersOutside(**table, region.data(), static_cast<int64_t>(region.size())) == 0;
}

Subscriber MustSubscribe(Ring& ring, std::string_view name) {
  auto subscriber = Subscriber::Make(ring, name);
  EXPECT_TRUE(subscriber.ok()) << subscriber.status().ToString();
  return std::move(*subscriber);
}

TEST(SubscriberReader, YieldsTheNextMessagesBatchesZeroCopyAndEndsAtTheLimit) {
  Ring ring = testing::HeapRing(8 * kMiB);
  Subscriber subscriber = MustSubscribe(ring, "reader");
  Publisher publisher(ring);
  auto two_chunks = testing::MakeVariedTable(1000, 5, 2);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(publisher.Publish(*two_chunks).ok());

  auto reader = SubscriberReader::Make(subscriber, {.limit = 2, .timeout = 0ns});
  ASSERT_TRUE(reader.ok()) << reader.status().ToString();
  EXPECT_TRUE((*reader)->schema()->Equals(*two_chunks->schema(), false));
  std::shared_ptr<arrow::RecordBatch> batch;
  int64_t rows = 0;
  int batches = 0;
  while (true) {
    ASSERT_TRUE((*reader)->ReadNext(&batch).ok());
    if (!batch) break;
    EXPECT_TRUE(InRing(ring, batch));
    rows += batch->num_rows();
    ++batches;
  }
  EXPECT_EQ(rows, 2000);
  EXPECT_EQ(batches, 4);
  EXPECT_EQ((*reader)->messages(), 2u);
  // The third message was not taken.
  auto third = subscriber.Next(0ms);
  ASSERT_TRUE(third.ok() && third->has_value());
}

TEST(SubscriberReader, EndsAfterTheTimeoutWithNothingNewAndIsEmptyWhenNothingCame) {
  Ring ring = testing::HeapRing(8 * kMiB);
  Subscriber subscriber = MustSubscribe(ring, "reader");
  auto empty = SubscriberReader::Make(subscriber, {.timeout = 0ns});
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ((*empty)->schema()->num_fields(), 0);
  auto all = (*empty)->ToTable();
  ASSERT_TRUE(all.ok());
  EXPECT_EQ((*all)->num_rows(), 0);

  Publisher publisher(ring);
  ASSERT_TRUE(publisher.Publish(*testing::MakeInt64Table(10)).ok());
  ASSERT_TRUE(publisher.Publish(*testing::MakeInt64Table(20)).ok());
  auto reader = SubscriberReader::Make(subscriber, {.timeout = 0ns});
  ASSERT_TRUE(reader.ok());
  auto table = (*reader)->ToTable();
  ASSERT_TRUE(table.ok()) << table.status().ToString();
  EXPECT_EQ((*table)->num_rows(), 30);
}

TEST(SubscriberReader, AnotherSchemaEndsTheStreamWithTypeErrorAndTheMessageIsKept) {
  Ring ring = testing::HeapRing(8 * kMiB);
  Subscriber subscriber = MustSubscribe(ring, "reader");
  Publisher publisher(ring);
  ASSERT_TRUE(publisher.Publish(*testing::MakeInt64Table(10)).ok());
  auto other = testing::MakeVariedTable(5);
  auto other_handle = publisher.Publish(*other);
  ASSERT_TRUE(other_handle.ok());

  auto reader = SubscriberReader::Make(subscriber, {.timeout = 0ns});
  ASSERT_TRUE(reader.ok());
  std::shared_ptr<arrow::RecordBatch> batch;
  ASSERT_TRUE((*reader)->ReadNext(&batch).ok());
  ASSERT_NE(batch, nullptr);
  arrow::Status status = (*reader)->ReadNext(&batch);
  EXPECT_TRUE(status.IsTypeError()) << status.ToString();
  EXPECT_THAT(status.message(), HasSubstr("another schema"));
  EXPECT_THAT(status.message(), HasSubstr("TakeUnread()"));
  EXPECT_EQ(batch, nullptr);
  ASSERT_TRUE((*reader)->ReadNext(&batch).ok());  // ended
  EXPECT_EQ(batch, nullptr);
  std::optional<Message> unread = (*reader)->TakeUnread();
  ASSERT_TRUE(unread.has_value());
  EXPECT_EQ(unread->handle, *other_handle);
  EXPECT_TRUE(testing::TablesEqual(*unread->table, *other));
  EXPECT_FALSE((*reader)->TakeUnread().has_value());
}

TEST(SubscriberReader, AGivenSchemaIsTheStreamsAndAnOwnedSubscriberLeavesWithTheReader) {
  Ring ring = testing::HeapRing(8 * kMiB);
  auto table = testing::MakeInt64Table(100);
  std::shared_ptr<arrow::RecordBatchReader> reader;
  {
    auto made = SubscriberReader::Make(MustSubscribe(ring, "owned"), {.limit = 1, .schema = table->schema()});
    ASSERT_TRUE(made.ok());
    reader = *made;  // as an arrow::RecordBatchReader
  }
  Publisher publisher(ring);
  ASSERT_TRUE(publisher.Publish(*table).ok());
  auto read = reader->ToTable();
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_TRUE(testing::TablesEqual(**read, *table));
  reader.reset();
  EXPECT_TRUE(Subscriber::Make(ring, "owned").ok()) << "the name is free once the reader is gone";
}

TEST(SubscriberReader, ExportsThroughTheArrowCStreamInterfaceZeroCopy) {
  Ring ring = testing::HeapRing(8 * kMiB);
  Subscriber subscriber = MustSubscribe(ring, "c-stream");
  Publisher publisher(ring);
  ASSERT_TRUE(publisher.Publish(*testing::MakeInt64Table(64)).ok());
  auto reader = SubscriberReader::Make(subscriber, {.limit = 1});
  ASSERT_TRUE(reader.ok());
  ArrowArrayStream stream;
  ASSERT_TRUE(arrow::ExportRecordBatchReader(*reader, &stream).ok());
  auto imported = arrow::ImportRecordBatchReader(&stream);
  ASSERT_TRUE(imported.ok());
  std::shared_ptr<arrow::RecordBatch> batch;
  ASSERT_TRUE((*imported)->ReadNext(&batch).ok());
  ASSERT_NE(batch, nullptr);
  EXPECT_EQ(batch->num_rows(), 64);
  EXPECT_TRUE(InRing(ring, batch));
}

TEST(SubscriberReader, ANegativeTimeoutIsRefused) {
  Ring ring = testing::HeapRing(8 * kMiB);
  Subscriber subscriber = MustSubscribe(ring, "reader");
  auto reader = SubscriberReader::Make(subscriber, {.timeout = -1ns});
  ASSERT_FALSE(reader.ok());
  EXPECT_EQ(ErrcOf(reader.status()), Errc::kInvalidArgument);
}

}  // namespace
}  // namespace arrowring
