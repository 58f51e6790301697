// Tests: StreamEncoder writes exactly the bytes Arrow's own stream writer writes.
#include "arrowring/ipc/stream_encoder.h"

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
