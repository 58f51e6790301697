// Tests: StreamEncoder writes exactly the bytes Arrow's own stream writer writes.
#include "arrowring/ipc/stream_encoder.h"

#include <cstring>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/writer.h>
#include <gtest/gtest.h>

#include "arrowring/ipc/internal/arrow_write_internal.h"
#include "arrowring/ipc/test_tables.h"

namespace arrowring {
namespace {

// The stream Arrow's writer makes of `table` with the same options.
std::shared_ptr<arrow::Buffer> ArrowsStream(const arrow::Table& table, const WriteOptions& options) {
  auto sink = *arrow::io::BufferOutputStream::Create();
  std::shared_ptr<arrow::Table> holder;
  const arrow::Table& data =
      options.compression == Compression::kNone ? table : internal::ForCompression(table, &holder);
  auto writer = *arrow::ipc::MakeStreamWriter(sink, data.schema(), *internal::ToArrowOptions(options));
  EXPECT_TRUE(writer->WriteTable(data).ok());
  EXPECT_TRUE(writer->Close().ok());
  return *sink->Finish();
}

std::vector<std::byte> Encoded(StreamEncoder& encoder, const arrow::Table& table) {
  auto size = encoder.Encode(table);
  EXPECT_TRUE(size.ok()) << size.status().ToString();
  std::vector<std::byte> bytes(static_cast<size_t>(*size));
  auto written = encoder.WriteTo(bytes);
  EXPECT_TRUE(written.ok()) << written.status().ToString();
  EXPECT_EQ(*written, *size);
  return bytes;
}

bool SameBytes(const std::vector<std::byte>& ours, const arrow::Buffer& arrows) {
  return static_cast<int64_t>(ours.size()) == arrows.size() &&
         std::memcmp(ours.data(), arrows.data(), ours.size()) == 0;
}

TEST(StreamEncoder, EveryEdgeCaseTableEncodesToArrowsOwnBytesUnderEveryCodec) {
  for (Compression codec : {Compression::kNone, Compression::kLz4Frame, Compression::kZstd}) {
    const WriteOptions options{.compression = codec};
    auto encoder = *StreamEncoder::Make(options);
    for (const auto& [name, table] : testing::EdgeCaseTables()) {
      const auto ours = Encoded(encoder, *table);
      const auto arrows = ArrowsStream(*table, options);
      EXPECT_TRUE(SameBytes(ours, *arrows)) << name << " with codec " << static_cast<int>(codec) << ": " << ours.size()
                                            << " bytes against Arrow's " << arrows->size();
    }
  }
}

TEST(StreamEncoder, ReusesTheSchemaMessageAndFollowsASchemaChange) {
  auto encoder = *StreamEncoder::Make();
  auto first = testing::MakeVariedTable(100, 1, 3);
  EXPECT_TRUE(SameBytes(Encoded(encoder, *first), *ArrowsStream(*first, {})));
  EXPECT_TRUE(SameBytes(Encoded(encoder, *first), *ArrowsStream(*first, {}))) << "with the cached schema";
  auto other = testing::MakeInt64Table(10);
  EXPECT_TRUE(SameBytes(Encoded(encoder, *other), *ArrowsStream(*other, {}))) << "after a schema change";
}

// A column of `type` whose buffers are exactly `buffers` (to build the layouts builders never make).
std::shared_ptr<arrow::Table> OneColumn(const std::shared_ptr<arrow::DataType>& type, int64_t length,
                                        std::vector<std::shared_ptr<arrow::Buffer>> buffers, int64_t null_count = 0) {
  auto data = arrow::ArrayData::Make(type, length, std::move(buffers), null_count);
  return arrow::Table::Make(arrow::schema({arrow::field("c", type)}), {arrow::MakeArray(data)});
}

std::shared_ptr<arrow::Buffer> Bytes(std::vector<uint8_t> bytes) {
  auto buffer = *arrow::AllocateBuffer(static_cast<int64_t>(bytes.size()));
  std::memcpy(buffer->mutable_data(), bytes.data(), bytes.size());
  return buffer;
}

template <typename T>
std::shared_ptr<arrow::Buffer> Values(std::vector<T> values) {
  std::vector<uint8_t> bytes(values.size() * sizeof(T));
  std::memcpy(bytes.data(), values.data(), bytes.size());
  return Bytes(std::move(bytes));
}

TEST(StreamEncoder, BatchesOfAFlatSchemaArePatchedIntoArrowsFirstHeaderAndStayArrowsBytes) {
  auto encoder = *StreamEncoder::Make();
  const auto first = testing::MakeFlatTable(100, 1);
  EXPECT_TRUE(SameBytes(Encoded(encoder, *first), *ArrowsStream(*first, {})));
  EXPECT_FALSE(encoder.reused_batch_header()) << "the first batch of a schema is Arrow's";
  // Row counts, null patterns, string lengths and chunkings that differ from the first batch.
  for (const auto& [rows, seed, chunks] : std::vector<std::tuple<int64_t, uint64_t, int>>{
           {100, 2, 1}, {1, 3, 1}, {7, 4, 1}, {1000, 5, 1}, {999, 6, 3}, {64, 7, 64}, {65, 8, 2}}) {
    const auto table = testing::MakeFlatTable(rows, seed, chunks);
    EXPECT_TRUE(SameBytes(Encoded(encoder, *table), *ArrowsStream(*table, {})))
        << rows << " rows, seed " << seed << ", " << chunks << " chunks";
    EXPECT_TRUE(encoder.reused_batch_header()) << rows << " rows, seed " << seed << ", " << chunks << " chunks";
  }
  // A record batch of the same schema object.
  const auto batch = *testing::MakeFlatTable(33, 9)->CombineChunksToBatch();
  auto size = encoder.Encode(*batch);
  ASSERT_TRUE(size.ok());
  std::vector<std::byte> ours(static_cast<size_t>(*size));
  ASSERT_TRUE(encoder.WriteTo(ours).ok());
  EXPECT_TRUE(encoder.reused_batch_header());
  EXPECT_TRUE(SameBytes(ours, *ArrowsStream(**arrow::Table::FromRecordBatches({batch}), {})));
}

TEST(StreamEncoder, WhatArrowsWriterCopiesOrRebasesTakesTheGeneralPathWithArrowsBytes) {
  auto encoder = *StreamEncoder::Make();
  const auto flat = testing::MakeFlatTable(300, 1);
  (void)Encoded(encoder, *flat);
  for (const auto& [name, table] : std::vector<std::pair<std::string, std::shared_ptr<arrow::Table>>>{
           {"sliced", flat->Slice(17, 100)},
           {"empty", flat->Slice(0, 0)},
           {"one empty chunk among others", *arrow::ConcatenateTables({flat->Slice(0, 5), flat->Slice(5, 0)})},
           {"fewer rows than its columns", arrow::Table::Make(flat->schema(), flat->columns(), 5)},
           {"chunked unlike",
            *arrow::ConcatenateTables({testing::MakeFlatTable(10, 2, 2), testing::MakeFlatTable(5, 3)})},
       }) {
    EXPECT_TRUE(SameBytes(Encoded(encoder, *table), *ArrowsStream(*table, {}))) << name;
  }
  // A sliced table yields batches of offset 0 once combined: patched again.
  const auto combined = *flat->Slice(17, 100)->CombineChunks();
  EXPECT_TRUE(SameBytes(Encoded(encoder, *combined), *ArrowsStream(*combined, {})));
}

TEST(StreamEncoder, BuffersLongerThanTheirValuesAreSentAsArrowsWriterTrimsThem) {
  // Each case twice with one encoder: Arrow's header first, then the patched one.
  const std::vector<std::pair<std::string, std::shared_ptr<arrow::Table>>> cases = {
      {"int64 values beyond the 64-byte padding",
       OneColumn(arrow::int64(), 3, {nullptr, Values<int64_t>(std::vector<int64_t>(40, 5))})},
      {"int16 values within the padding",
       OneColumn(arrow::int16(), 3, {nullptr, Values<int16_t>(std::vector<int16_t>(20, 5))})},
      {"a bitmap beyond the padding",
       OneColumn(arrow::int8(), 3, {Bytes(std::vector<uint8_t>(100, 0x05)), Values<int8_t>({1, 2, 3})}, 1)},
      {"offsets and data beyond what is used",
       OneColumn(arrow::utf8(), 2,
                 {nullptr, Values<int32_t>({0, 1, 3, 90, 100}), Bytes(std::vector<uint8_t>(200, 'x'))})},
      {"offsets not starting at zero",
       OneColumn(arrow::utf8(), 2, {nullptr, Values<int32_t>({4, 5, 7}), Bytes(std::vector<uint8_t>(8, 'y'))})},
      {"absent data of empty strings", OneColumn(arrow::binary(), 2, {nullptr, Values<int32_t>({0, 0, 0}), nullptr})},
  };
  for (const auto& [name, table] : cases) {
    auto encoder = *StreamEncoder::Make();
    const auto arrows = ArrowsStream(*table, {});
    EXPECT_TRUE(SameBytes(Encoded(encoder, *table), *arrows)) << name << " (Arrow's header)";
    EXPECT_TRUE(SameBytes(Encoded(encoder, *table), *arrows)) << name << " (patched, or general where Arrow copies)";
  }
}

TEST(StreamEncoder, ADestinationTooSmallIsACapacityErrorNamingBothSizes) {
  auto encoder = *StreamEncoder::Make();
  const int64_t size = *encoder.Encode(*testing::MakeInt64Table(100));
  std::vector<std::byte> small(static_cast<size_t>(size - 1));
  auto written = encoder.WriteTo(small);
  ASSERT_FALSE(written.ok());
  EXPECT_TRUE(written.status().IsCapacityError());
  EXPECT_NE(written.status().message().find(std::to_string(size)), std::string::npos);
}

}  // namespace
}  // namespace arrowring
