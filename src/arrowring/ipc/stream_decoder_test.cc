// Tests: StreamDecoder reads what ReadTable reads, zero-copy, with the schema decoded once.
#include "arrowring/ipc/stream_decoder.h"

#include <cstring>
#include <tuple>
#include <vector>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "Message_generated.h"  // Arrow's format (third_party/arrow-format), to craft messages
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

TEST(StreamDecoder, FlatStreamsAfterTheFirstAreRecognizedAndReadAsArrowsReaderReadsThemZeroCopy) {
  StreamDecoder decoder;
  for (const auto& [rows, seed, chunks] : std::vector<std::tuple<int64_t, uint64_t, int>>{
           {100, 1, 1}, {100, 2, 1}, {1, 3, 1}, {1000, 4, 3}, {64, 5, 64}, {0, 6, 1}, {65, 7, 1}}) {
    const auto table = testing::MakeFlatTable(rows, seed, chunks);
    const auto stream = Stream(*table);
    auto decoded = decoder.Decode(stream);
    ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
    EXPECT_TRUE(testing::TablesEqual(**decoded, *table)) << rows << " rows, seed " << seed;
    EXPECT_TRUE((*decoded)->ValidateFull().ok()) << rows << " rows, seed " << seed;
    EXPECT_EQ(testing::BuffersOutside(**decoded, stream->data(), stream->size()), 0) << rows << " rows";
    // The first stream teaches the template (an empty table's stream has no batch at all).
    EXPECT_EQ(decoder.recognized_last(), seed != 1) << rows << " rows, seed " << seed;
  }
}

// Every 8-byte word of a recognized stream's record batch message and body set to hostile
// values: the decoder, holding the template, must answer as Arrow's own reader does (the same
// table or an error), under every validation level that checks.
TEST(StreamDecoder, HostileValuesInARecognizedMessageAreJudgedAsArrowsReaderJudgesThem) {
  const auto stream = Stream(*testing::MakeFlatTable(40, 1));
  const auto other = Stream(*testing::MakeFlatTable(41, 2));
  const int64_t hostile[] = {-1, -8, 0, 3, 8, 64, 1 << 20, INT64_C(1) << 40, INT64_MAX, INT64_MIN};
  int recognized = 0;
  int rejected = 0;
  for (Validation validation : {Validation::kNone, Validation::kBasic, Validation::kFull}) {
    const ReadOptions options{.validation = validation};
    StreamDecoder decoder;
    ASSERT_TRUE(decoder.Decode(other, options).ok());  // learns the schema and the template
    for (int64_t at = 0; at + 8 <= stream->size(); at += 8) {
      for (int64_t value : hostile) {
        auto bad = *arrow::AllocateBuffer(stream->size());
        std::memcpy(bad->mutable_data(), stream->data(), static_cast<size_t>(stream->size()));
        std::memcpy(bad->mutable_data() + at, &value, sizeof(value));
        std::shared_ptr<arrow::Buffer> scribbled(std::move(bad));
        auto arrows = ReadTable(scribbled, options);
        auto ours = decoder.Decode(scribbled, options);
        recognized += decoder.recognized_last() ? 1 : 0;
        ASSERT_EQ(ours.ok(), arrows.ok()) << "value " << value << " at byte " << at << ": Arrow's reader says "
                                          << arrows.status().ToString() << "; ours " << ours.status().ToString();
        if (arrows.ok() && validation == Validation::kNone) continue;  // unvalidated tables may not compare
        if (arrows.ok()) {
          // Basic validation lets bad offsets through (in both); only fully valid tables compare.
          const bool valid = (*arrows)->ValidateFull().ok();
          ASSERT_EQ((*ours)->ValidateFull().ok(), valid) << "value " << value << " at byte " << at;
          if (valid) EXPECT_TRUE(testing::TablesEqual(**ours, **arrows)) << "value " << value << " at byte " << at;
        } else {
          ++rejected;
        }
      }
    }
  }
  EXPECT_GT(recognized, 100);  // the values' words were read through the template
  EXPECT_GT(rejected, 100);
}

// A schema message that declares a body: Arrow's reader refuses the stream, and so must the
// decoder (whose general path reads the schema alone), rather than cache it.
TEST(StreamDecoder, ASchemaMessageWithABodyIsRefusedAsArrowsReaderRefusesIt) {
  namespace fb = org::apache::arrow::flatbuf;
  flatbuffers::FlatBufferBuilder builder;
  auto type = fb::CreateInt(builder, 64, true);
  auto field = fb::CreateField(builder, builder.CreateString("x"), true, fb::Type_Int, type.Union());
  auto schema = fb::CreateSchema(builder, fb::Endianness_Little, builder.CreateVector(std::vector{field}));
  builder.Finish(fb::CreateMessage(builder, fb::MetadataVersion_V5, fb::MessageHeader_Schema, schema.Union(),
                                   /*bodyLength=*/8));
  const auto padded = static_cast<int32_t>((builder.GetSize() + 7) / 8 * 8);
  // The batches and end of an Arrow stream of the same schema follow the schema and its body.
  const auto arrows = Stream(*testing::MakeInt64Table(3));
  int32_t arrows_schema = 0;
  std::memcpy(&arrows_schema, arrows->data() + 4, sizeof(arrows_schema));
  const int64_t rest = arrows->size() - 8 - arrows_schema;
  auto crafted = *arrow::AllocateBuffer(8 + padded + 8 + rest);
  std::memset(crafted->mutable_data(), 0, static_cast<size_t>(crafted->size()));
  const uint32_t continuation = 0xFFFFFFFF;
  std::memcpy(crafted->mutable_data(), &continuation, 4);
  std::memcpy(crafted->mutable_data() + 4, &padded, 4);
  std::memcpy(crafted->mutable_data() + 8, builder.GetBufferPointer(), builder.GetSize());
  std::memcpy(crafted->mutable_data() + 8 + padded + 8, arrows->data() + 8 + arrows_schema, static_cast<size_t>(rest));
  std::shared_ptr<arrow::Buffer> stream(std::move(crafted));

  ASSERT_FALSE(ReadTable(stream).ok());
  StreamDecoder decoder;
  for (int pass = 0; pass < 2; ++pass) EXPECT_FALSE(decoder.Decode(stream).ok()) << "pass " << pass;
}

}  // namespace
}  // namespace arrowring
