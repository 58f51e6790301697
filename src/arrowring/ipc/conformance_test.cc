// Conformance on data nobody here wrote: the gold IPC streams of Apache arrow-testing.
// For every file: our zero-copy read equals Arrow C++'s own reading of the same bytes, and
// our write followed by our read gives an equal table. Reads use the default (basic)
// validation, as Arrow's own integration readers do; see the test on full validation. (That pyarrow reads our bytes
// back as an equal table is checked by tests/interop.)
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/key_value_metadata.h>
#include <gtest/gtest.h>

#include "arrowring/ipc/ipc.h"
#include "arrowring/ipc/pubsub.h"
#include "arrowring/ipc/test_tables.h"
#include "arrowring/ring/test_memory.h"

namespace arrowring {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> GoldStreams() {
  std::vector<std::string> files;
  const fs::path root = fs::path(ARROWRING_TESTING_DATA) / "integration";
  std::error_code error;
  for (const auto& entry : fs::recursive_directory_iterator(root, error)) {
    if (entry.path().extension() == ".stream") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::shared_ptr<arrow::Buffer> ReadWholeFile(const std::string& path) {
  auto file = arrow::io::ReadableFile::Open(path);
  if (!file.ok()) return nullptr;
  auto size = (*file)->GetSize();
  if (!size.ok()) return nullptr;
  auto bytes = (*file)->Read(*size);  // Allocated by Arrow's pool: 64-byte aligned.
  return bytes.ok() ? *bytes : nullptr;
}

std::shared_ptr<arrow::Table> ArrowsOwnReading(const std::string& path) {
  auto file = arrow::io::ReadableFile::Open(path);
  if (!file.ok()) return nullptr;
  auto reader = arrow::ipc::RecordBatchStreamReader::Open(*file);
  if (!reader.ok()) return nullptr;
  auto table = (*reader)->ToTable();
  return table.ok() ? *table : nullptr;
}

TEST(GoldStreams, AreAllPresent) {
  // The data set has 27 streams; finding none means the path is wrong, not that all passed.
  EXPECT_GE(GoldStreams().size(), 27u) << "looked under " << ARROWRING_TESTING_DATA;
}

class GoldStream : public ::testing::TestWithParam<std::string> {};

TEST_P(GoldStream, ZeroCopyReadEqualsArrowsOwnReading) {
  const std::string& path = GetParam();
  auto bytes = ReadWholeFile(path);
  ASSERT_NE(bytes, nullptr);
  auto expected = ArrowsOwnReading(path);
  ASSERT_NE(expected, nullptr);

  auto ours = ReadTable(bytes);
  ASSERT_TRUE(ours.ok()) << ours.status().ToString();
  EXPECT_TRUE((*ours)->schema()->Equals(*expected->schema(), /*check_metadata=*/true));
  EXPECT_TRUE(testing::TablesEqual(**ours, *expected));
  const bool compressed = path.find("compression") != std::string::npos;
  if (!compressed) {
    EXPECT_EQ(testing::BuffersOutside(**ours, bytes->data(), bytes->size()), 0)
        << "a buffer of the table does not point into the stream's bytes";
  }
}

TEST_P(GoldStream, OurWriteThenOurReadGivesAnEqualTable) {
  auto bytes = ReadWholeFile(GetParam());
  ASSERT_NE(bytes, nullptr);
  auto original = ReadTable(bytes);
  ASSERT_TRUE(original.ok()) << original.status().ToString();

  auto size = IpcStreamSize(**original);
  ASSERT_TRUE(size.ok()) << size.status().ToString();
  auto rewritten = SerializeTable(**original);
  ASSERT_TRUE(rewritten.ok()) << rewritten.status().ToString();
  EXPECT_EQ((*rewritten)->size(), *size);
  auto again = ReadTable(*rewritten);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_TRUE(testing::TablesEqual(**again, **original));
  EXPECT_EQ(testing::BuffersOutside(**again, (*rewritten)->data(), (*rewritten)->size()), 0);
}

TEST_P(GoldStream, FullValidationRejectsOnlyValuesOutsideTheirTypesDomain) {
  // Arrow's integration generator writes random decimals beyond their precision and date64
  // values that are not whole days. Arrow's readers accept them (they are memory-safe);
  // ValidateFull, which also checks values, rejects them. Everything else passes it.
  auto bytes = ReadWholeFile(GetParam());
  ASSERT_NE(bytes, nullptr);
  auto full = ReadTable(bytes, {.validation = Validation::kFull});
  if (!full.ok()) {
    const std::string& message = full.status().message();
    EXPECT_TRUE(message.find("does not fit in precision") != std::string::npos ||
                message.find("whole number of days") != std::string::npos)
        << message;
  }
}

// Every gold table, and each also with its schema metadata absent and empty: schemas Arrow
// calls equal (Schema::Equals with metadata) that serialize differently, as Arrow 0.14.1's
// generated_primitive and generated_primitive_no_batches do.
std::vector<std::pair<std::string, std::shared_ptr<arrow::Table>>> GoldTablesAndMetadataVariants() {
  std::vector<std::pair<std::string, std::shared_ptr<arrow::Table>>> tables;
  for (const auto& path : GoldStreams()) {
    auto table = ArrowsOwnReading(path);
    if (table == nullptr) continue;
    const std::string name = fs::path(path).stem().string();
    tables.emplace_back(name, table);
    tables.emplace_back(name + " (metadata absent)", table->ReplaceSchemaMetadata(nullptr));
    tables.emplace_back(name + " (metadata empty)",
                        table->ReplaceSchemaMetadata(std::make_shared<arrow::KeyValueMetadata>()));
  }
  return tables;
}

// The stream Arrow's own writer makes of `table` with the publisher's default options.
std::shared_ptr<arrow::Buffer> ArrowsStream(const arrow::Table& table) {
  auto options = arrow::ipc::IpcWriteOptions::Defaults();
  options.alignment = 64;
  auto sink = *arrow::io::BufferOutputStream::Create();
  auto writer = *arrow::ipc::MakeStreamWriter(sink, table.schema(), options);
  EXPECT_TRUE(writer->WriteTable(table).ok());
  EXPECT_TRUE(writer->Close().ok());
  return *sink->Finish();
}

// Publishes every table through `publisher_for(i)` and checks each message holds exactly the
// bytes Arrow's writer makes of that table (its own schema message, not an equal one's).
template <typename PublisherFor>
void PublishEachAndCompareBytes(Ring& ring, PublisherFor publisher_for) {
  const auto tables = GoldTablesAndMetadataVariants();
  ASSERT_GE(tables.size(), 3 * 27u);
  for (size_t i = 0; i < tables.size(); ++i) {
    const auto& [name, table] = tables[i];
    auto handle = publisher_for(i).Publish(*table);
    ASSERT_TRUE(handle.ok()) << name << ": " << handle.status().ToString();
    auto read = ring.Acquire(*handle);
    ASSERT_TRUE(read.ok()) << name << ": " << read.error().ToString();
    const auto arrows = ArrowsStream(*table);
    ASSERT_EQ(static_cast<int64_t>(read->data().size()), arrows->size()) << name;
    EXPECT_EQ(0, std::memcmp(read->data().data(), arrows->data(), read->data().size()))
        << name << ": the message is not the stream Arrow writes of this table";
    auto back = ReadTable(read->data().data(), static_cast<int64_t>(read->data().size()), nullptr);
    ASSERT_TRUE(back.ok()) << name << ": " << back.status().ToString();
    EXPECT_TRUE(testing::TablesEqual(**back, *table)) << name;
    EXPECT_EQ((*back)->schema()->metadata() == nullptr, table->schema()->metadata() == nullptr) << name;
  }
}

TEST(GoldStreams, OnePublisherPublishesEveryGoldTableInSequenceAsArrowWritesEach) {
  Ring ring = testing::HeapRing(64 << 20);
  Publisher publisher(ring, {.deliveries = 1});
  PublishEachAndCompareBytes(ring, [&](size_t) -> Publisher& { return publisher; });
}

TEST(GoldStreams, AFreshPublisherPerGoldTablePublishesItAsArrowWritesIt) {
  Ring ring = testing::HeapRing(64 << 20);
  std::optional<Publisher> publisher;
  PublishEachAndCompareBytes(ring, [&](size_t) -> Publisher& {
    publisher.emplace(ring, PublishOptions{.deliveries = 1});
    return *publisher;
  });
}

std::string StreamName(const ::testing::TestParamInfo<std::string>& info) {
  const fs::path path(info.param);
  std::string name = path.parent_path().filename().string() + "_" + path.stem().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Integration, GoldStream, ::testing::ValuesIn(GoldStreams()), StreamName);

}  // namespace
}  // namespace arrowring
