#include "arrowring/ipc/ipc.h"

#include "arrowring/ipc/internal/arrow_write_internal.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>
#include <vector>

#include <arrow/array/array_base.h>
#include <arrow/array/data.h>
#include <arrow/array/util.h>
#include <arrow/buffer.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>
#include <arrow/util/compression.h>

namespace arrowring {
namespace {

// Zeroing this many bytes at the head of a destination makes it read as an empty stream
// (a zero continuation/length word), which every Arrow reader rejects as "no schema".
constexpr size_t kPoisonBytes = 8;

// Buffer over memory someone else owns; `owner` lives as long as this buffer or any slice
// of it (slices hold their parent), which is how a table keeps ring space alive.
// Modelled on arrow::io::MemoryMappedFile's Region.
class OwnedRegion final : public arrow::Buffer {
 public:
  OwnedRegion(const void* data, int64_t size, std::shared_ptr<const void> owner)
      : arrow::Buffer(static_cast<const uint8_t*>(data), size), owner_(std::move(owner)) {}

 private:
  std::shared_ptr<const void> owner_;
};

}  // namespace

namespace internal {

arrow::Result<arrow::ipc::IpcWriteOptions> ToArrowOptions(const WriteOptions& options) {
  auto arrow_options = arrow::ipc::IpcWriteOptions::Defaults();
  // Pads each message's metadata so its body starts kStreamAlignment-aligned relative to
  // the start of the stream.
  arrow_options.alignment = static_cast<int32_t>(kStreamAlignment);
  arrow_options.use_threads = options.use_threads;
  if (options.compression != Compression::kNone) {
    const auto type =
        options.compression == Compression::kLz4Frame ? arrow::Compression::LZ4_FRAME : arrow::Compression::ZSTD;
    const int level = options.compression_level.value_or(arrow::util::kUseDefaultCompressionLevel);
    ARROW_ASSIGN_OR_RAISE(arrow_options.codec, arrow::util::Codec::Create(type, level));
  }
  return arrow_options;
}

// Arrow 26's compressing IPC writer dereferences buffers that a zero-length array may leave
// absent (pyarrow crashes the same way writing the union columns of arrow-testing's
// generated_union.stream with LZ4). Give such slots a shared empty buffer; validity bitmaps
// and slots the layout declares always-null stay absent. No data is copied.
static bool HasAbsentDataBuffer(const arrow::ArrayData& data) {
  const auto& layout = data.type->layout().buffers;
  for (size_t i = 1; i < std::min(layout.size(), data.buffers.size()); ++i) {
    if (data.buffers[i] == nullptr && layout[i].kind != arrow::DataTypeLayout::ALWAYS_NULL) {
      return true;
    }
  }
  for (const auto& child : data.child_data) {
    if (HasAbsentDataBuffer(*child)) return true;
  }
  return data.dictionary != nullptr && HasAbsentDataBuffer(*data.dictionary);
}

static std::shared_ptr<arrow::ArrayData> FillAbsentDataBuffers(const arrow::ArrayData& data) {
  static const auto kEmpty = std::make_shared<arrow::Buffer>(nullptr, 0);
  auto copy = std::make_shared<arrow::ArrayData>(data);
  const auto& layout = data.type->layout().buffers;
  for (size_t i = 1; i < std::min(layout.size(), copy->buffers.size()); ++i) {
    if (copy->buffers[i] == nullptr && layout[i].kind != arrow::DataTypeLayout::ALWAYS_NULL) {
      copy->buffers[i] = kEmpty;
    }
  }
  for (auto& child : copy->child_data) child = FillAbsentDataBuffers(*child);
  if (copy->dictionary != nullptr) copy->dictionary = FillAbsentDataBuffers(*copy->dictionary);
  return copy;
}

// The table or batch to hand to a compressing writer: `data` itself unless it has absent
// data buffers. `holder` keeps a rebuilt copy alive.
const arrow::Table& ForCompression(const arrow::Table& table, std::shared_ptr<arrow::Table>* holder) {
  bool affected = false;
  for (const auto& column : table.columns()) {
    for (const auto& chunk : column->chunks()) affected |= HasAbsentDataBuffer(*chunk->data());
  }
  if (!affected) return table;
  std::vector<std::shared_ptr<arrow::ChunkedArray>> columns;
  for (const auto& column : table.columns()) {
    arrow::ArrayVector chunks;
    for (const auto& chunk : column->chunks()) {
      chunks.push_back(arrow::MakeArray(FillAbsentDataBuffers(*chunk->data())));
    }
    columns.push_back(std::make_shared<arrow::ChunkedArray>(std::move(chunks), column->type()));
  }
  *holder = arrow::Table::Make(table.schema(), std::move(columns), table.num_rows());
  return **holder;
}

const arrow::RecordBatch& ForCompression(const arrow::RecordBatch& batch, std::shared_ptr<arrow::RecordBatch>* holder) {
  bool affected = false;
  for (const auto& column : batch.column_data()) affected |= HasAbsentDataBuffer(*column);
  if (!affected) return batch;
  std::vector<std::shared_ptr<arrow::ArrayData>> columns;
  for (const auto& column : batch.column_data()) columns.push_back(FillAbsentDataBuffers(*column));
  *holder = arrow::RecordBatch::Make(batch.schema(), batch.num_rows(), std::move(columns));
  return **holder;
}

}  // namespace internal

namespace {

using internal::ForCompression;
using internal::ToArrowOptions;

template <typename Data>
arrow::Status WriteStream(const Data& data, arrow::io::OutputStream* sink, const WriteOptions& options) {
  ARROW_ASSIGN_OR_RAISE(auto arrow_options, ToArrowOptions(options));
  std::shared_ptr<Data> rebuilt;
  const Data& to_write = options.compression == Compression::kNone ? data : ForCompression(data, &rebuilt);
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(sink, to_write.schema(), arrow_options));
  if constexpr (std::is_same_v<Data, arrow::Table>) {
    ARROW_RETURN_NOT_OK(writer->WriteTable(to_write));
  } else {
    ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(to_write));
  }
  return writer->Close();
}

template <typename Data>
arrow::Result<int64_t> StreamSize(const Data& data, const WriteOptions& options) {
  arrow::io::MockOutputStream counter;
  ARROW_RETURN_NOT_OK(WriteStream(data, &counter, options));
  return counter.GetExtentBytesWritten();
}

template <typename Data>
arrow::Result<int64_t> WriteInto(const Data& data, std::span<std::byte> destination, const WriteOptions& options) {
  const auto available = static_cast<int64_t>(destination.size());
  auto poison = [&] { std::memset(destination.data(), 0, std::min(destination.size(), kPoisonBytes)); };
  // One pass on success: the writer stops before copying past the end (FixedSizeBufferWriter
  // checks bounds first), and only then do we pay for sizing to explain the failure.
  auto target = std::make_shared<arrow::MutableBuffer>(reinterpret_cast<uint8_t*>(destination.data()), available);
  arrow::io::FixedSizeBufferWriter sink(target);
  arrow::Status status = WriteStream(data, &sink, options);
  if (status.ok()) {
    auto position = sink.Tell();
    if (position.ok()) return *position;
    status = position.status();
  }
  poison();
  auto needed = StreamSize(data, options);
  if (needed.ok() && *needed > available) {
    return arrow::Status::CapacityError("Arrow IPC stream needs ", *needed, " bytes but the destination holds ",
                                        available, "; provide at least ", *needed,
                                        " bytes (IpcStreamSize gives the exact size)");
  }
  return status;
}

arrow::Status ValidateTable(const arrow::Table& table, Validation validation) {
  switch (validation) {
    case Validation::kNone:
    case Validation::kFull:  // Batches were fully validated as they were read.
      return arrow::Status::OK();
    case Validation::kBasic: return table.Validate();
  }
  return arrow::Status::OK();
}

}  // namespace

arrow::Result<int64_t> IpcStreamSize(const arrow::Table& table, const WriteOptions& options) {
  return StreamSize(table, options);
}

arrow::Result<int64_t> IpcStreamSize(const arrow::RecordBatch& batch, const WriteOptions& options) {
  return StreamSize(batch, options);
}

arrow::Result<int64_t> WriteIpcStream(const arrow::Table& table, std::span<std::byte> destination,
                                      const WriteOptions& options) {
  return WriteInto(table, destination, options);
}

arrow::Result<int64_t> WriteIpcStream(const arrow::RecordBatch& batch, std::span<std::byte> destination,
                                      const WriteOptions& options) {
  return WriteInto(batch, destination, options);
}

arrow::Result<std::shared_ptr<arrow::Buffer>> SerializeTable(const arrow::Table& table, const WriteOptions& options) {
  ARROW_ASSIGN_OR_RAISE(const int64_t size, StreamSize(table, options));
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> buffer, arrow::AllocateBuffer(size));
  std::span<std::byte> destination(reinterpret_cast<std::byte*>(buffer->mutable_data()), static_cast<size_t>(size));
  ARROW_ASSIGN_OR_RAISE(const int64_t written, WriteInto(table, destination, options));
  if (written != size) {
    return arrow::Status::UnknownError("Arrow IPC writer produced ", written, " bytes after sizing the stream at ",
                                       size);
  }
  return buffer;
}

arrow::Result<std::shared_ptr<arrow::Table>> ReadTable(std::shared_ptr<arrow::Buffer> stream,
                                                       const ReadOptions& options) {
  if (stream == nullptr) {
    return arrow::Status::Invalid("ReadTable: the stream buffer is null");
  }
  if (stream->address() % 8 != 0) {
    return arrow::Status::Invalid("ReadTable: stream at address 0x", std::hex, stream->address(),
                                  " is not 8-byte aligned, which zero-copy reading requires; "
                                  "use DeserializeTable to copy it into aligned memory");
  }
  const int64_t size = stream->size();
  auto annotate = [size](const arrow::Status& status) {
    return status.WithMessage("reading Arrow IPC stream of ", size, " bytes: ", status.message());
  };

  auto arrow_options = arrow::ipc::IpcReadOptions::Defaults();
  arrow_options.use_threads = options.use_threads;
  auto input = std::make_shared<arrow::io::BufferReader>(std::move(stream));
  auto reader = arrow::ipc::RecordBatchStreamReader::Open(input, arrow_options);
  if (!reader.ok()) return annotate(reader.status());

  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  while (true) {
    std::shared_ptr<arrow::RecordBatch> batch;
    arrow::Status status = (*reader)->ReadNext(&batch);
    if (!status.ok()) return annotate(status);
    if (batch == nullptr) break;
    if (options.validation == Validation::kFull) {
      // Validate each batch before anything else touches it (as Arrow's own fuzz target does).
      status = batch->ValidateFull();
      if (!status.ok()) return annotate(status);
    }
    batches.push_back(std::move(batch));
  }
  auto table = arrow::Table::FromRecordBatches((*reader)->schema(), batches);
  if (!table.ok()) return annotate(table.status());
  arrow::Status valid = ValidateTable(**table, options.validation);
  if (!valid.ok()) return annotate(valid);
  return table;
}

arrow::Result<std::shared_ptr<arrow::Table>> ReadTable(const void* address, int64_t size,
                                                       std::shared_ptr<const void> owner, const ReadOptions& options) {
  if (address == nullptr || size < 0) {
    return arrow::Status::Invalid("ReadTable: invalid memory range (address ", address, ", size ", size, ")");
  }
  return ReadTable(std::make_shared<OwnedRegion>(address, size, std::move(owner)), options);
}

std::shared_ptr<arrow::Buffer> OwnedBuffer(const void* address, int64_t size, std::shared_ptr<const void> owner) {
  return std::make_shared<OwnedRegion>(address, size, std::move(owner));
}

arrow::Result<std::shared_ptr<arrow::Table>> DeserializeTable(std::span<const std::byte> bytes,
                                                              const ReadOptions& options) {
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> copy, arrow::AllocateBuffer(static_cast<int64_t>(bytes.size())));
  if (!bytes.empty()) std::memcpy(copy->mutable_data(), bytes.data(), bytes.size());
  return ReadTable(std::move(copy), options);
}

}  // namespace arrowring
