// Tests: RingOutputStream writes Arrow's own bytes, cold or warm, and refuses to overrun.
#include "arrowring/ipc/ring_output_stream.h"

#include <cstring>
#include <vector>

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/writer.h>
#include <gtest/gtest.h>

#include "arrowring/ipc/test_tables.h"

namespace arrowring {
namespace {

std::shared_ptr<arrow::Buffer> ArrowsStream(const arrow::Table& table) {
  auto sink = *arrow::io::BufferOutputStream::Create();
  auto writer = *arrow::ipc::MakeStreamWriter(sink, table.schema());
  EXPECT_TRUE(writer->WriteTable(table).ok());
  EXPECT_TRUE(writer->Close().ok());
  return *sink->Finish();
}

// Arrow's stream writer into a RingOutputStream: the bytes Arrow's writer puts in a buffer,
// with buffers from a few bytes to well past the streaming threshold, cold and warm.
TEST(RingOutputStream, ArrowsStreamWriterWritesItsOwnBytesColdOrWarm) {
  for (int64_t rows : {1, 100, 5000, 70000}) {
    auto table = testing::MakeVariedTable(rows, /*seed=*/7, /*chunks=*/2);
    auto expected = ArrowsStream(*table);
    for (bool cold : {false, true}) {
      std::vector<std::byte> memory(static_cast<size_t>(expected->size()) + 64, std::byte{0xEE});
      auto sink = std::make_shared<RingOutputStream>(std::span(memory).first(expected->size()), cold);
      auto writer = *arrow::ipc::MakeStreamWriter(sink, table->schema());
      ASSERT_TRUE(writer->WriteTable(*table).ok());
      ASSERT_TRUE(writer->Close().ok());
      EXPECT_EQ(*sink->Tell(), expected->size());
      EXPECT_EQ(std::memcmp(memory.data(), expected->data(), static_cast<size_t>(expected->size())), 0)
          << rows << " rows, cold=" << cold;
      EXPECT_EQ(memory.back(), std::byte{0xEE}) << "nothing past the span";
    }
  }
}

TEST(RingOutputStream, AWritePastTheEndFailsWithCapacityErrorAndWritesNothing) {
  std::vector<std::byte> memory(100, std::byte{0});
  RingOutputStream sink(std::span<std::byte>(memory).first(64), /*cold=*/true);
  const std::vector<std::byte> bytes(80, std::byte{1});
  ASSERT_TRUE(sink.Write(bytes.data(), 60).ok());
  const arrow::Status status = sink.Write(bytes.data(), 5);
  EXPECT_TRUE(status.IsCapacityError()) << status.ToString();
  EXPECT_EQ(*sink.Tell(), 60);
  EXPECT_EQ(memory[60], std::byte{0}) << "a refused write writes nothing";
  ASSERT_TRUE(sink.Close().ok());
  EXPECT_FALSE(sink.Write(bytes.data(), 1).ok()) << "closed";
}

}  // namespace
}  // namespace arrowring
