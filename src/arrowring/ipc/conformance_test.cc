// Conformance on data nobody here wrote: the gold IPC streams of Apache arrow-testing.
// For every file: our zero-copy read equals Arrow C++'s own reading of the same bytes, and
// our write followed by our read gives an equal table. Reads use the default (basic)
// validation, as Arrow's own integration readers do; see the test on full validation. (That pyarrow reads our bytes back as
// an equal table is checked by tests/interop.)
#include <filesystem>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/ipc/reader.h>
#include <gtest/gtest.h>

#include "arrowring/ipc/ipc.h"
#include "arrowring/ipc/test_tables.h"

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
