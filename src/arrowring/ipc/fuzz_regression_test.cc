// Streams that once crashed Arrow's own reader (OSS-Fuzz cases from Apache arrow-testing).
// Through our read path with full validation each must give a clean error or a table that
// passes ValidateFull. `make test` runs this under AddressSanitizer + UndefinedBehaviorSanitizer.
#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <arrow/buffer.h>
#include <arrow/table.h>
#include <gtest/gtest.h>

#include "arrowring/ipc/ipc.h"
#include "arrowring/ipc/stream_decoder.h"

namespace arrowring {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> FuzzCases() {
  std::vector<std::string> files;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(fs::path(ARROWRING_TESTING_DATA) / "fuzz", error)) {
    if (entry.is_regular_file() && entry.path().filename().string().find("ipc-stream") != std::string::npos) {
      files.push_back(entry.path().string());
    }
    if (entry.is_regular_file() && entry.path().filename().string().rfind("crash-", 0) == 0) {
      files.push_back(entry.path().string());
    }
  }
  // Inputs our own fuzzers found (fuzz/regressions/), kept so they stay fixed.
  for (const auto& entry :
       fs::directory_iterator(fs::path(ARROWRING_SOURCE_DIR) / "fuzz" / "regressions" / "read_table", error)) {
    if (entry.is_regular_file()) files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TEST(FuzzCases, AreAllPresent) { EXPECT_GE(FuzzCases().size(), 70u) << "looked under " << ARROWRING_TESTING_DATA; }

class FuzzCase : public ::testing::TestWithParam<std::string> {};

TEST_P(FuzzCase, GivesACleanErrorOrAValidTable) {
  std::ifstream in(GetParam(), std::ios::binary);
  ASSERT_TRUE(in.good());
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  auto bytes = std::as_bytes(std::span(raw));
  auto table = DeserializeTable(bytes, {.validation = Validation::kFull});
  if (table.ok()) {
    EXPECT_TRUE((*table)->ValidateFull().ok());
  } else {
    EXPECT_FALSE(table.status().message().empty());
  }
  // The subscribers' path too: StreamDecoder, cold and then with this stream's schema cached.
  auto copy = *arrow::AllocateBuffer(static_cast<int64_t>(bytes.size()));
  if (!bytes.empty()) std::memcpy(copy->mutable_data(), bytes.data(), bytes.size());
  std::shared_ptr<arrow::Buffer> stream(std::move(copy));
  StreamDecoder decoder;
  for (int pass = 0; pass < 2; ++pass) {
    auto decoded = decoder.Decode(stream, {.validation = Validation::kFull});
    EXPECT_EQ(decoded.ok(), table.ok()) << "pass " << pass;
    if (decoded.ok()) EXPECT_TRUE((*decoded)->ValidateFull().ok());
  }
}

std::string CaseName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = fs::path(info.param).filename().string();
  for (char& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(ArrowTesting, FuzzCase, ::testing::ValuesIn(FuzzCases()), CaseName);

}  // namespace
}  // namespace arrowring
