// Tests: StreamDecoder reads what ReadTable reads, zero-copy, with the schema decoded once.
#include "arrowring/ipc/stream_decoder.h"

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "arrowring/ipc/ipc.h"
#include "arrowring/ipc/test_tables.h"

namespace arrowring {
namespace {

std::shared_ptr<arrow::Buffer> Stream(const arrow::Table& table) {
  auto buffer = SerializeTable(table);
  EXPECT_TRUE(buffer.ok()) << buffer.status().ToString();
  return *buffer;
}

TEST(StreamDecoder, ReadsEveryEdgeCaseTableAsReadTableDoesZeroCopyAcrossSchemaChanges) {
  StreamDecoder decoder;
  for (int pass = 0; pass < 2; ++pass) {  // The second pass meets every schema again.
    for (const auto& [name, table] : testing::EdgeCaseTables()) {
      auto stream = Stream(*table);
      auto decoded = decoder.Decode(stream);
      ASSERT_TRUE(decoded.ok()) << name << ": " << decoded.status().ToString();
      EXPECT_TRUE(testing::TablesEqual(**decoded, *table)) << name;
      EXPECT_EQ(testing::BuffersOutside(**decoded, stream->data(), stream->size()), 0) << name;
    }
  }
}

TEST(StreamDecoder, SameSchemaManyTimesGivesEachTableItsOwnValues) {
  StreamDecoder decoder;
  for (int64_t rows : {1, 10, 1000, 0, 7}) {
    auto table = testing::MakeInt64Table(rows);
    auto decoded = decoder.Decode(Stream(*table));
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_TRUE(testing::TablesEqual(**decoded, *table)) << rows << " rows";
  }
}

TEST(StreamDecoder, FullValidationStillChecksEveryBatchWithACachedSchema) {
  StreamDecoder decoder;
  const ReadOptions full{.validation = Validation::kFull};
  auto table = testing::MakeVariedTable(64);
  auto stream = Stream(*table);
  int rejected = 0;
  // Scribble 64 bytes at each 64-byte step of the stream; wherever ReadTable's full
  // validation rejects the result, the decoder (schema cached by the first, clean read) must too.
  for (int64_t at = 0; at + 64 <= stream->size(); at += 64) {
    ASSERT_TRUE(decoder.Decode(stream, full).ok());
    auto bad = *arrow::AllocateBuffer(stream->size());
    std::memcpy(bad->mutable_data(), stream->data(), static_cast<size_t>(stream->size()));
    std::memset(bad->mutable_data() + at, 0xff, 64);
    std::shared_ptr<arrow::Buffer> scribbled(std::move(bad));
    if (ReadTable(scribbled, full).ok()) continue;
    ++rejected;
    EXPECT_FALSE(decoder.Decode(scribbled, full).ok()) << "scribble at byte " << at;
  }
  EXPECT_GT(rejected, 0);
}

}  // namespace
}  // namespace arrowring
