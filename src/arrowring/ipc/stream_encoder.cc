#include "arrowring/ipc/stream_encoder.h"

#include <array>
#include <cstring>
#include <limits>

#include <arrow/array.h>
#include <arrow/buffer.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/dictionary.h>
#include <arrow/ipc/writer.h>
#include <arrow/type.h>
#include <arrow/util/bit_util.h>

#include "arrowring/ipc/internal/arrow_write_internal.h"
#include "arrowring/ipc/internal/flat_columns.h"
#include "arrowring/ipc/internal/record_batch_header.h"
#include "arrowring/ipc/ring_output_stream.h"

namespace arrowring {
namespace {

constexpr size_t kFramePrefixBytes = 8;  // continuation token and metadata length
constexpr int64_t kEndOfStreamBytes = 8;

bool HasDictionary(const arrow::DataType& type) {
  if (type.id() == arrow::Type::DICTIONARY) return true;
  for (const auto& child : type.fields()) {
    if (HasDictionary(*child->type())) return true;
  }
  return false;
}

bool HasDictionary(const arrow::Schema& schema) {
  for (const auto& field : schema.fields()) {
    if (HasDictionary(*field->type())) return true;
  }
  return false;
}

// Collects the payloads Arrow's stream writer hands to its sink.
class CapturingPayloadWriter final : public arrow::ipc::internal::IpcPayloadWriter {
 public:
  explicit CapturingPayloadWriter(std::vector<arrow::ipc::IpcPayload>* payloads) : payloads_(payloads) {}
  arrow::Status WritePayload(const arrow::ipc::IpcPayload& payload) override {
    payloads_->push_back(payload);
    return arrow::Status::OK();
  }
  arrow::Status Close() override { return arrow::Status::OK(); }

 private:
  std::vector<arrow::ipc::IpcPayload>* payloads_;
};

}  // namespace

namespace internal {

// The patched path's state for one schema of flat columns (uncompressed).
struct PatchedEncoding {
  std::vector<FlatColumn> columns;
  int num_buffers = 0;                      // IPC buffers per batch
  std::optional<RecordBatchHeader> header;  // located in Arrow's first batch of the schema
  std::vector<std::byte> schema_frame;      // the schema message as the stream carries it
  std::vector<std::byte> batch_frame;       // a batch's framed metadata, values as Arrow first wrote them
  // Of the last Encode, when it took the patched path:
  std::vector<std::byte> frames;  // each batch's framed, patched metadata
  std::vector<FieldNodeValues> nodes;
  std::vector<BufferValues> buffer_values;
  std::vector<BodyPart> parts;  // what each buffer copies: num_buffers per batch
  // The columns those parts point into, held until Release() as Arrow's payloads hold them.
  std::vector<std::shared_ptr<arrow::ArrayData>> held;
};

}  // namespace internal

StreamEncoder::StreamEncoder(arrow::ipc::IpcWriteOptions options, bool compress)
    : options_(std::move(options)), compress_(compress) {}
StreamEncoder::StreamEncoder(StreamEncoder&&) noexcept = default;
StreamEncoder& StreamEncoder::operator=(StreamEncoder&&) noexcept = default;
StreamEncoder::~StreamEncoder() = default;

arrow::Result<StreamEncoder> StreamEncoder::Make(const WriteOptions& options) {
  ARROW_ASSIGN_OR_RAISE(auto arrow_options, internal::ToArrowOptions(options));
  return StreamEncoder(std::move(arrow_options), options.compression != Compression::kNone);
}

arrow::Result<int64_t> StreamEncoder::Encode(const arrow::Table& table) { return EncodeImpl(table); }
arrow::Result<int64_t> StreamEncoder::Encode(const arrow::RecordBatch& batch) { return EncodeImpl(batch); }

void StreamEncoder::Release() {
  payloads_.clear();
  rebuilt_.reset();
  patched_batches_ = 0;
  if (patched_) {
    patched_->parts.clear();
    patched_->held.clear();
  }
  size_ = 0;
}

void StreamEncoder::UseSchema(const std::shared_ptr<arrow::Schema>& schema) {
  schema_ = schema;
  patched_.reset();
  if (compress_) return;
  if (auto columns = internal::FlatColumnsOf(*schema)) {
    patched_ = std::make_unique<internal::PatchedEncoding>();
    patched_->num_buffers = internal::BufferCount(*columns);
    patched_->columns = std::move(*columns);
  }
}

// The message as a stream carries it (arrow::ipc::WriteMessage: continuation, length,
// metadata, padding to the options' alignment).
static arrow::Result<std::vector<std::byte>> Framed(const arrow::Buffer& metadata,
                                                    const arrow::ipc::IpcWriteOptions& options) {
  ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create());
  int32_t length = 0;
  ARROW_RETURN_NOT_OK(arrow::ipc::WriteMessage(metadata, options, sink.get(), &length));
  ARROW_ASSIGN_OR_RAISE(auto framed, sink->Finish());
  const auto* bytes = reinterpret_cast<const std::byte*>(framed->data());
  return std::vector<std::byte>(bytes, bytes + framed->size());
}

template <typename Data>
arrow::Result<int64_t> StreamEncoder::EncodeImpl(const Data& data) {
  Release();
  const Data* to_write = &data;
  if (compress_) {
    std::shared_ptr<Data> holder;
    to_write = &internal::ForCompression(data, &holder);
    rebuilt_ = holder;
  }
  const std::shared_ptr<arrow::Schema>& schema = to_write->schema();
  if (HasDictionary(*schema)) {
    if constexpr (std::is_same_v<Data, arrow::Table>) {
      ARROW_RETURN_NOT_OK(EncodeWithArrowWriter(schema, to_write, nullptr));
    } else {
      ARROW_RETURN_NOT_OK(EncodeWithArrowWriter(schema, nullptr, to_write));
    }
  } else {
    // The schema's message, kept for as long as the same schema object comes back. Keyed on
    // what is written, not on Schema::Equals: schemas Arrow calls equal can serialize
    // differently (metadata absent against empty), and the stream must carry this one's bytes.
    if (schema_ != schema) {
      arrow::ipc::DictionaryFieldMapper mapper(*schema);
      ARROW_RETURN_NOT_OK(arrow::ipc::GetSchemaPayload(*schema, options_, mapper, &schema_payload_));
      UseSchema(schema);
    }
    if (patched_ && patched_->header && EncodePatched(*to_write)) return size_;
    payloads_.push_back(schema_payload_);
    auto add_batch = [&](const arrow::RecordBatch& batch) {
      arrow::ipc::IpcPayload payload;
      ARROW_RETURN_NOT_OK(arrow::ipc::GetRecordBatchPayload(batch, options_, &payload));
      payloads_.push_back(std::move(payload));
      return arrow::Status::OK();
    };
    if constexpr (std::is_same_v<Data, arrow::Table>) {
      arrow::TableBatchReader reader(*to_write);  // As Arrow's writer splits a table.
      while (true) {
        std::shared_ptr<arrow::RecordBatch> batch;
        ARROW_RETURN_NOT_OK(reader.ReadNext(&batch));
        if (batch == nullptr) break;
        ARROW_RETURN_NOT_OK(add_batch(*batch));
      }
    } else {
      ARROW_RETURN_NOT_OK(add_batch(*to_write));
    }
    // The first record batch message Arrow built for a flat schema becomes the header the
    // following batches are patched into.
    if (patched_ && !patched_->header && payloads_.size() > 1) {
      const arrow::Buffer& metadata = *payloads_[1].metadata;
      auto header = internal::RecordBatchHeader::Locate(
          {reinterpret_cast<const std::byte*>(metadata.data()), static_cast<size_t>(metadata.size())},
          static_cast<int>(patched_->columns.size()), patched_->num_buffers);
      if (header) {
        ARROW_ASSIGN_OR_RAISE(patched_->schema_frame, Framed(*schema_payload_.metadata, options_));
        ARROW_ASSIGN_OR_RAISE(patched_->batch_frame, Framed(metadata, options_));
        patched_->header = std::move(header);
      }
    }
  }
  arrow::io::MockOutputStream counter;  // Counts the framing; copies nothing.
  ARROW_RETURN_NOT_OK(Replay(&counter));
  size_ = counter.GetExtentBytesWritten();
  return size_;
}

template <typename Data>
bool StreamEncoder::EncodePatched(const Data& data) {
  patched_batches_ = 0;
  patched_->nodes.clear();
  patched_->buffer_values.clear();
  patched_->parts.clear();
  patched_->held.clear();
  size_ = static_cast<int64_t>(patched_->schema_frame.size()) + kEndOfStreamBytes;
  bool ok = true;
  if constexpr (std::is_same_v<Data, arrow::Table>) {
    // As Arrow's TableBatchReader splits it: one batch per chunk when all columns are
    // chunked alike; other tables take the general path.
    const int num_chunks = data.num_columns() > 0 ? data.column(0)->num_chunks() : 0;
    ok = num_chunks > 0 && data.column(0)->length() == data.num_rows();  // the reader stops at num_rows
    for (int chunk = 0; ok && chunk < num_chunks; ++chunk) {
      const int64_t num_rows = data.column(0)->chunk(chunk)->length();
      for (int i = 0; ok && i < data.num_columns(); ++i) {
        ok = data.column(i)->num_chunks() == num_chunks && data.column(i)->chunk(chunk)->length() == num_rows;
      }
      ok = ok && AddPatchedBatch(num_rows, [&](int i) -> const std::shared_ptr<arrow::ArrayData>& {
             return data.column(i)->chunk(chunk)->data();
           });
    }
  } else {
    const arrow::ArrayDataVector& columns = data.column_data();
    ok =
        AddPatchedBatch(data.num_rows(), [&](int i) -> const std::shared_ptr<arrow::ArrayData>& { return columns[i]; });
  }
  if (!ok) {
    patched_batches_ = 0;
    patched_->parts.clear();
    patched_->held.clear();
  }
  return ok;
}

template <typename ColumnData>
bool StreamEncoder::AddPatchedBatch(int64_t num_rows, const ColumnData& column) {
  internal::PatchedEncoding& patched = *patched_;
  const auto& columns = patched.columns;
  const auto num_buffers = static_cast<size_t>(patched.num_buffers);
  auto& nodes = patched.nodes;
  auto& parts = patched.parts;
  auto& values = patched.buffer_values;
  const size_t first_node = nodes.size();
  const size_t first_part = parts.size();
  if (num_rows <= 0) return false;  // A zero row count leaves no place in the header.
  if (!options_.allow_64bit && num_rows > std::numeric_limits<int32_t>::max()) return false;
  nodes.resize(first_node + columns.size());
  parts.resize(first_part + num_buffers);
  values.resize(parts.size());
  size_t part = first_part;
  for (size_t i = 0; i < columns.size(); ++i) {
    const std::shared_ptr<arrow::ArrayData>& data = column(static_cast<int>(i));
    if (data->length != num_rows) return false;
    if (!internal::DescribeForWriting(columns[i], *data, &nodes[first_node + i], &parts[part])) return false;
    patched.held.push_back(data);
    part += static_cast<size_t>(columns[i].num_buffers);
  }
  // Each buffer 8-padded after the one before (RecordBatchSerializer::Assemble).
  int64_t body_length = 0;
  for (size_t i = first_part; i < parts.size(); ++i) {
    values[i] = {body_length, parts[i].size};
    body_length += arrow::bit_util::RoundUpToMultipleOf8(parts[i].size);
  }
  if (body_length == 0) return false;  // Nor does a zero body length.
  const size_t frame_size = patched.batch_frame.size();
  patched.frames.resize(frame_size * static_cast<size_t>(patched_batches_ + 1));
  std::byte* frame = patched.frames.data() + frame_size * static_cast<size_t>(patched_batches_);
  std::memcpy(frame, patched.batch_frame.data(), frame_size);  // prefix, metadata, padding
  patched.header->Write(num_rows, body_length, std::span(nodes).subspan(first_node, columns.size()),
                        std::span(values).subspan(first_part, num_buffers), frame + kFramePrefixBytes);
  ++patched_batches_;
  size_ += static_cast<int64_t>(frame_size) + body_length;
  return true;
}

arrow::Status StreamEncoder::WritePatched(arrow::io::OutputStream* sink) const {
  static constexpr std::array<uint8_t, 8> kZeros{};
  const internal::PatchedEncoding& patched = *patched_;
  ARROW_RETURN_NOT_OK(sink->Write(patched.schema_frame.data(), static_cast<int64_t>(patched.schema_frame.size())));
  const size_t frame_size = patched.batch_frame.size();
  for (int batch = 0; batch < patched_batches_; ++batch) {
    ARROW_RETURN_NOT_OK(
        sink->Write(patched.frames.data() + frame_size * static_cast<size_t>(batch), static_cast<int64_t>(frame_size)));
    for (int i = 0; i < patched.num_buffers; ++i) {
      const internal::BodyPart& part =
          patched
              .parts[(static_cast<size_t>(batch) * static_cast<size_t>(patched.num_buffers)) + static_cast<size_t>(i)];
      if (part.size > 0) ARROW_RETURN_NOT_OK(sink->Write(part.data, part.size));
      const int64_t padding = arrow::bit_util::RoundUpToMultipleOf8(part.size) - part.size;
      if (padding > 0) ARROW_RETURN_NOT_OK(sink->Write(kZeros.data(), padding));
    }
  }
  // The end-of-stream marker: a continuation token and a zero length.
  static constexpr std::array<uint8_t, kEndOfStreamBytes> kEndOfStream{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0};
  return sink->Write(kEndOfStream.data(), kEndOfStreamBytes);
}

arrow::Status StreamEncoder::EncodeWithArrowWriter(const std::shared_ptr<arrow::Schema>& schema,
                                                   const arrow::Table* table, const arrow::RecordBatch* batch) {
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::internal::OpenRecordBatchWriter(
                                         std::make_unique<CapturingPayloadWriter>(&payloads_), schema, options_));
  ARROW_RETURN_NOT_OK(table != nullptr ? writer->WriteTable(*table) : writer->WriteRecordBatch(*batch));
  return writer->Close();
}

arrow::Status StreamEncoder::Replay(arrow::io::OutputStream* sink) const {
  // Arrow's own stream framing: continuation markers, metadata padding, end-of-stream.
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::internal::MakePayloadStreamWriter(sink, options_));
  ARROW_RETURN_NOT_OK(writer->Start());
  for (const auto& payload : payloads_) ARROW_RETURN_NOT_OK(writer->WritePayload(payload));
  return writer->Close();
}

arrow::Result<int64_t> StreamEncoder::WriteTo(std::span<std::byte> destination, bool cold) const {
  if (static_cast<int64_t>(destination.size()) < size_) {
    return arrow::Status::CapacityError("Arrow IPC stream needs ", size_, " bytes but the destination holds ",
                                        destination.size());
  }
  RingOutputStream sink(destination, cold);
  ARROW_RETURN_NOT_OK(patched_batches_ > 0 ? WritePatched(&sink) : Replay(&sink));
  return sink.Tell();
}

}  // namespace arrowring
