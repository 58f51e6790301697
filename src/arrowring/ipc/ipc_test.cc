#include "arrowring/ipc/ipc.h"

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/message.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/compression.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "arrowring/ipc/internal/arrow_write_internal.h"
#include "arrowring/ipc/test_tables.h"

namespace arrowring {
namespace {

using testing::BuffersOutside;
using testing::EdgeCaseTables;
using ::testing::HasSubstr;
using testing::MakeInt64Table;
using testing::MakeVariedTable;
using testing::NamedTable;
using testing::TablesEqual;

// 64-byte aligned scratch memory standing in for ring space.
struct AlignedBytes {
  explicit AlignedBytes(size_t size) : storage(size + kStreamAlignment) {
    auto address = reinterpret_cast<uintptr_t>(storage.data());
    offset = static_cast<size_t>((kStreamAlignment - address % kStreamAlignment) % kStreamAlignment);
    length = size;
  }
  std::byte* data() { return storage.data() + offset; }
  std::span<std::byte> span() { return {data(), length}; }
  std::vector<std::byte> storage;
  size_t offset = 0;
  size_t length = 0;
};

class EveryTable : public ::testing::TestWithParam<std::tuple<int, Compression>> {
 protected:
  NamedTable Table() const { return EdgeCaseTables().at(std::get<0>(GetParam())); }
  WriteOptions Options() const { return {.compression = std::get<1>(GetParam())}; }
};

// The oracle: the stream Arrow's own writer makes of `table`, with Arrow's options set here
// from the documented contract (bodies 64-aligned, the codec at its default level) rather
// than by arrowring's code under test.
std::shared_ptr<arrow::Buffer> ArrowsStream(const arrow::Table& table, Compression compression) {
  auto options = arrow::ipc::IpcWriteOptions::Defaults();
  options.alignment = 64;
  if (compression != Compression::kNone) {
    options.codec = *arrow::util::Codec::Create(compression == Compression::kZstd ? arrow::Compression::ZSTD
                                                                                  : arrow::Compression::LZ4_FRAME);
  }
  // Arrow 26's compressing writer crashes on absent data buffers; this rebuild copies nothing.
  std::shared_ptr<arrow::Table> holder;
  const arrow::Table& data = compression == Compression::kNone ? table : internal::ForCompression(table, &holder);
  auto sink = *arrow::io::BufferOutputStream::Create();
  auto writer = *arrow::ipc::MakeStreamWriter(sink, data.schema(), options);
  EXPECT_TRUE(writer->WriteTable(data).ok());
  EXPECT_TRUE(writer->Close().ok());
  return *sink->Finish();
}

TEST_P(EveryTable, SizeAndBytesEqualWhatArrowsOwnWriterProduces) {
  auto [name, table] = Table();
  const auto arrows = ArrowsStream(*table, std::get<1>(GetParam()));
  auto size = IpcStreamSize(*table, Options());
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  EXPECT_EQ(*size, arrows->size());
  auto serialized = SerializeTable(*table, Options());
  ASSERT_TRUE(serialized.ok()) << serialized.status().ToString();
  EXPECT_TRUE((*serialized)->Equals(*arrows)) << name << ": SerializeTable differs from Arrow's writer";

  AlignedBytes exact(static_cast<size_t>(arrows->size()));
  auto written = WriteIpcStream(*table, exact.span(), Options());
  ASSERT_TRUE(written.ok()) << written.status().ToString();
  ASSERT_EQ(*written, arrows->size());
  EXPECT_EQ(0, std::memcmp(exact.data(), arrows->data(), static_cast<size_t>(arrows->size())))
      << name << ": WriteIpcStream differs from Arrow's writer";
}

TEST_P(EveryTable, WriteThenReadGivesAnEqualTable) {
  auto [name, table] = Table();
  auto size = IpcStreamSize(*table, Options());
  ASSERT_TRUE(size.ok());
  AlignedBytes memory(static_cast<size_t>(*size));
  ASSERT_TRUE(WriteIpcStream(*table, memory.span(), Options()).ok());
  auto read = ReadTable(memory.data(), *size, nullptr, {.validation = Validation::kFull});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_TRUE(TablesEqual(**read, *table)) << (*read)->ToString() << "\nvs\n" << table->ToString();
}

TEST_P(EveryTable, ReadIsZeroCopyUnlessCompressed) {
  auto [name, table] = Table();
  auto serialized = SerializeTable(*table, Options());
  ASSERT_TRUE(serialized.ok());
  const auto* begin = (*serialized)->data();
  const int64_t size = (*serialized)->size();
  auto read = ReadTable(*serialized);
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  if (Options().compression == Compression::kNone) {
    EXPECT_EQ(BuffersOutside(**read, begin, size), 0);
  }
}

std::string CaseName(const ::testing::TestParamInfo<std::tuple<int, Compression>>& info) {
  static const char* kCodec[] = {"none", "lz4", "zstd"};
  return EdgeCaseTables().at(std::get<0>(info.param)).name + "_" + kCodec[static_cast<int>(std::get<1>(info.param))];
}

INSTANTIATE_TEST_SUITE_P(Tables, EveryTable,
                         ::testing::Combine(::testing::Range(0, static_cast<int>(EdgeCaseTables().size())),
                                            ::testing::Values(Compression::kNone, Compression::kLz4Frame,
                                                              Compression::kZstd)),
                         CaseName);

TEST(ReadTable, EveryBufferPointsIntoTheSourceRange) {
  auto table = MakeVariedTable(10'000, 3, 4);
  auto serialized = SerializeTable(*table);
  ASSERT_TRUE(serialized.ok());
  auto read = ReadTable(*serialized);
  ASSERT_TRUE(read.ok());
  // The check can fail: the original table's buffers lie elsewhere.
  EXPECT_GT(BuffersOutside(*table, (*serialized)->data(), (*serialized)->size()), 0);
  EXPECT_GT(testing::AllBuffers(**read).size(), 40u);
  EXPECT_EQ(BuffersOutside(**read, (*serialized)->data(), (*serialized)->size()), 0);
}

TEST(ReadTable, OwnerLivesAsLongAsAnySliceOnAnyThread) {
  auto serialized = SerializeTable(*MakeVariedTable(100));
  ASSERT_TRUE(serialized.ok());
  std::atomic<bool> released{false};
  std::shared_ptr<const void> owner(nullptr, [&](const void*) { released = true; });

  auto read = ReadTable((*serialized)->data(), (*serialized)->size(), std::move(owner));
  ASSERT_TRUE(read.ok());
  std::shared_ptr<arrow::Table> slice = (*read)->Slice(10, 5);
  read = arrow::Status::Cancelled("drop the table");
  EXPECT_FALSE(released) << "a slice still references the memory";

  std::thread other([slice = std::move(slice)]() mutable {
    EXPECT_EQ(slice->num_rows(), 5);
    slice.reset();
  });
  other.join();
  EXPECT_TRUE(released) << "the last reference died on another thread";
}

TEST(ReadTable, OwnerIsReleasedWhenReadingFails) {
  std::vector<uint8_t> garbage(64, 0xAB);
  std::atomic<bool> released{false};
  std::shared_ptr<const void> owner(nullptr, [&](const void*) { released = true; });
  auto read = ReadTable(garbage.data(), 64, std::move(owner));
  EXPECT_FALSE(read.ok());
  EXPECT_TRUE(released);
}

TEST(ReadTable, RejectsMisalignedAddressAndSaysWhatToDo) {
  auto serialized = SerializeTable(*MakeInt64Table(10));
  ASSERT_TRUE(serialized.ok());
  std::vector<uint8_t> shifted(static_cast<size_t>((*serialized)->size()) + 8);
  uint8_t* odd = shifted.data() + (reinterpret_cast<uintptr_t>(shifted.data()) % 8 == 0 ? 3 : 0);
  std::memcpy(odd, (*serialized)->data(), static_cast<size_t>((*serialized)->size()));
  auto read = ReadTable(odd, (*serialized)->size(), nullptr);
  ASSERT_FALSE(read.ok());
  EXPECT_THAT(read.status().message(), HasSubstr("not 8-byte aligned"));
  EXPECT_THAT(read.status().message(), HasSubstr("DeserializeTable"));

  auto copied =
      DeserializeTable(std::span(reinterpret_cast<const std::byte*>(odd), static_cast<size_t>((*serialized)->size())));
  ASSERT_TRUE(copied.ok()) << copied.status().ToString();
  EXPECT_TRUE(TablesEqual(**copied, *MakeInt64Table(10)));
}

TEST(ReadTable, GarbageEmptyAndTruncatedInputGiveErrorsNotCrashes) {
  std::vector<std::byte> garbage(256, std::byte{0x5A});
  EXPECT_FALSE(DeserializeTable(garbage).ok());
  EXPECT_FALSE(DeserializeTable({}).ok());
  EXPECT_FALSE(ReadTable(nullptr).ok());
  EXPECT_FALSE(ReadTable(nullptr, 10, nullptr).ok());

  auto serialized = SerializeTable(*MakeVariedTable(50));
  ASSERT_TRUE(serialized.ok());
  const auto* bytes = reinterpret_cast<const std::byte*>((*serialized)->data());
  for (size_t cut : {size_t{4}, size_t{7}, size_t{100}, size_t{300}}) {
    auto read = DeserializeTable(std::span(bytes, cut), {.validation = Validation::kFull});
    EXPECT_FALSE(read.ok()) << "truncated to " << cut;
    EXPECT_THAT(read.status().message(), HasSubstr("reading Arrow IPC stream of"));
  }
}

TEST(ReadTable, FullValidationCatchesCorruptOffsets) {
  auto type = arrow::utf8();
  arrow::StringBuilder builder;
  ASSERT_TRUE(builder.AppendValues({"alpha", "beta", "gamma"}).ok());
  auto table = arrow::Table::Make(arrow::schema({arrow::field("s", type)}), {*builder.Finish()});
  auto serialized = SerializeTable(*table);
  ASSERT_TRUE(serialized.ok());
  auto read = ReadTable(*serialized, {.validation = Validation::kNone});
  ASSERT_TRUE(read.ok());
  // Corrupt the last offset (inside the serialized bytes) to point far past the data.
  auto chunk = std::static_pointer_cast<arrow::StringArray>((*read)->column(0)->chunk(0));
  auto* offsets = const_cast<int32_t*>(chunk->raw_value_offsets());
  offsets[3] = 1 << 20;
  read = arrow::Status::Cancelled("release");
  chunk.reset();

  auto basic = ReadTable(*serialized, {.validation = Validation::kBasic});
  auto full = ReadTable(*serialized, {.validation = Validation::kFull});
  EXPECT_FALSE(full.ok());
  EXPECT_THAT(full.status().message(), HasSubstr("reading Arrow IPC stream"));
  (void)basic;  // Validate() checks only sizes; whether it notices is not part of its contract.
}

TEST(WriteIpcStream, TooSmallDestinationIsCapacityErrorNamingBothSizes) {
  auto table = MakeVariedTable(200);
  auto size = IpcStreamSize(*table);
  ASSERT_TRUE(size.ok());
  // The destination first holds a valid stream, which a failed write must not leave behind.
  AlignedBytes memory(static_cast<size_t>(*size));
  ASSERT_TRUE(WriteIpcStream(*table, memory.span()).ok());
  const size_t available = static_cast<size_t>(*size) - 1;
  auto written = WriteIpcStream(*table, memory.span().first(available));
  ASSERT_FALSE(written.ok());
  EXPECT_TRUE(written.status().IsCapacityError()) << written.status().ToString();
  EXPECT_THAT(written.status().message(), HasSubstr(std::to_string(*size)));
  EXPECT_THAT(written.status().message(), HasSubstr(std::to_string(available)));
  EXPECT_FALSE(ReadTable(memory.data(), *size, nullptr).ok());
}

TEST(WriteIpcStream, TinyAndEmptyDestinationsAreCapacityErrors) {
  auto table = MakeInt64Table(3);
  std::byte tiny[5];
  EXPECT_TRUE(WriteIpcStream(*table, std::span(tiny)).status().IsCapacityError());
  EXPECT_TRUE(WriteIpcStream(*table, std::span<std::byte>()).status().IsCapacityError());
}

TEST(WriteIpcStream, RecordBatchOverloadMatchesTheTableForm) {
  auto table = MakeVariedTable(300);
  auto batch = table->CombineChunksToBatch();
  ASSERT_TRUE(batch.ok());
  auto size = IpcStreamSize(**batch);
  ASSERT_TRUE(size.ok());
  AlignedBytes memory(static_cast<size_t>(*size));
  auto written = WriteIpcStream(**batch, memory.span());
  ASSERT_TRUE(written.ok());
  EXPECT_EQ(*written, *size);
  auto read = ReadTable(memory.data(), *written, nullptr);
  ASSERT_TRUE(read.ok());
  EXPECT_TRUE(TablesEqual(**read, *table));
}

TEST(WriteIpcStream, FirstBodyIsSixtyFourAlignedAndEveryBodyEightAligned) {
  // Arrow pads IPC metadata to WriteOptions' 64 bytes but bodies only to 8, so later bodies
  // are 8-aligned (what Arrow requires), and the first is 64-aligned.
  auto table = MakeVariedTable(1000, 5, 3);
  auto serialized = SerializeTable(*table);
  ASSERT_TRUE(serialized.ok());
  auto reader = arrow::ipc::MessageReader::Open(std::make_shared<arrow::io::BufferReader>(*serialized));
  std::vector<int64_t> body_offsets;
  while (true) {
    auto message = reader->ReadNextMessage();
    ASSERT_TRUE(message.ok());
    if (*message == nullptr) break;
    if ((*message)->body() == nullptr || (*message)->body_length() == 0) continue;
    body_offsets.push_back((*message)->body()->data() - (*serialized)->data());
  }
  ASSERT_GE(body_offsets.size(), 3u);
  EXPECT_EQ(body_offsets.front() % kStreamAlignment, 0);
  for (int64_t offset : body_offsets) EXPECT_EQ(offset % 8, 0);
}

TEST(IpcStreamSize, DoesNotCopyTheData) {
  // A 64 MiB column measured with the default memory pool's allocations observed: sizing
  // must not allocate anything near the data size.
  auto table = MakeInt64Table(8 << 20);
  const int64_t before = arrow::default_memory_pool()->total_bytes_allocated();
  auto size = IpcStreamSize(*table);
  ASSERT_TRUE(size.ok());
  EXPECT_GT(*size, 64 << 20);
  EXPECT_LT(arrow::default_memory_pool()->total_bytes_allocated() - before, 1 << 20);
}

TEST(SerializeTable, RoundTripsThroughDeserialize) {
  auto table = MakeVariedTable(777, 9, 5);
  auto serialized = SerializeTable(*table, {.compression = Compression::kZstd});
  ASSERT_TRUE(serialized.ok());
  auto bytes =
      std::span(reinterpret_cast<const std::byte*>((*serialized)->data()), static_cast<size_t>((*serialized)->size()));
  auto read = DeserializeTable(bytes, {.validation = Validation::kFull});
  ASSERT_TRUE(read.ok()) << read.status().ToString();
  EXPECT_TRUE(TablesEqual(**read, *table));
  // The copy is independent of the source bytes.
  EXPECT_EQ(BuffersOutside(**read, (*serialized)->data(), (*serialized)->size()),
            static_cast<int64_t>(testing::AllBuffers(**read).size()));
}

}  // namespace
}  // namespace arrowring
