#include "arrowring/ipc/stream_decoder.h"

#include <cstring>
#include <span>
#include <vector>

#include <arrow/io/memory.h>
#include <arrow/ipc/dictionary.h>
#include <arrow/ipc/message.h>
#include <arrow/ipc/reader.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

#include "arrowring/ipc/internal/flat_columns.h"
#include "arrowring/ipc/internal/record_batch_header.h"

namespace arrowring {
namespace {

bool HasDictionary(const arrow::DataType& type) {
  if (type.id() == arrow::Type::DICTIONARY) return true;
  for (const auto& child : type.fields()) {
    if (HasDictionary(*child->type())) return true;
  }
  return false;
}

constexpr uint32_t kContinuation = 0xFFFFFFFF;
constexpr int64_t kFramePrefixBytes = 8;  // continuation token and metadata length

arrow::Status Annotated(const arrow::Status& status, int64_t size) {
  return status.WithMessage("reading Arrow IPC stream of ", size, " bytes: ", status.message());
}

}  // namespace

namespace internal {

// What the recognized path knows of one schema of flat columns.
struct BatchTemplate {
  std::vector<FlatColumn> columns;
  int num_buffers = 0;
  std::optional<RecordBatchHeader> header;  // once Arrow's reader accepted a batch
  std::vector<FieldNodeValues> nodes;       // of the message being read
  std::vector<BufferValues> buffers;
};

}  // namespace internal

StreamDecoder::StreamDecoder() = default;
StreamDecoder::StreamDecoder(StreamDecoder&&) noexcept = default;
StreamDecoder& StreamDecoder::operator=(StreamDecoder&&) noexcept = default;
StreamDecoder::~StreamDecoder() = default;

std::optional<arrow::Result<std::shared_ptr<arrow::Table>>> StreamDecoder::DecodeRecognized(
    const std::shared_ptr<arrow::Buffer>& stream, const ReadOptions& options) {
  const uint8_t* bytes = stream->data();
  const int64_t size = stream->size();
  int64_t position = 0;
  // One message's frame at `position`: the continuation token and a metadata length that
  // fits the stream. Anything else (legacy framing, a cut stream) is left to Arrow's reader.
  auto frame = [&](int64_t* metadata_length) {
    if (size - position < kFramePrefixBytes) return false;
    uint32_t continuation;
    int32_t length;
    std::memcpy(&continuation, bytes + position, sizeof(continuation));
    std::memcpy(&length, bytes + position + sizeof(continuation), sizeof(length));
    if (continuation != kContinuation || length < 0 || length > size - position - kFramePrefixBytes) return false;
    *metadata_length = length;
    return true;
  };
  int64_t metadata_length = 0;
  if (!frame(&metadata_length) || metadata_length != schema_metadata_->size() ||
      std::memcmp(bytes + kFramePrefixBytes, schema_metadata_->data(), static_cast<size_t>(metadata_length)) != 0) {
    return std::nullopt;
  }
  position = kFramePrefixBytes + metadata_length;

  internal::BatchTemplate& known = *template_;
  const auto& columns = known.columns;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  while (position < size) {  // A stream may end without the end-of-stream marker.
    if (!frame(&metadata_length)) return std::nullopt;
    if (metadata_length == 0) break;  // End of stream.
    const std::span metadata(reinterpret_cast<const std::byte*>(bytes + position + kFramePrefixBytes),
                             static_cast<size_t>(metadata_length));
    if (!known.header->Matches(metadata)) return std::nullopt;
    const int64_t body_offset = position + kFramePrefixBytes + metadata_length;
    const int64_t body_length = known.header->ReadBodyLength(metadata);
    if (body_length < 0 || body_length > size - body_offset || (stream->address() + body_offset) % 8 != 0) {
      return std::nullopt;
    }
    known.header->ReadNodes(metadata, known.nodes);
    const int64_t length = known.header->ReadLength(metadata);
    known.header->ReadBuffers(metadata, known.buffers);
    arrow::ArrayDataVector column_data(columns.size());
    size_t buffer = 0;
    for (size_t i = 0; i < columns.size(); ++i) {
      if (known.nodes[i].length != length) return std::nullopt;  // Arrow's loader refuses it
      const auto count = static_cast<size_t>(columns[i].num_buffers);
      column_data[i] =
          internal::LoadForReading(columns[i], schema_->field(static_cast<int>(i))->type(), known.nodes[i],
                                   std::span(known.buffers).subspan(buffer, count), stream, body_offset, body_length);
      if (column_data[i] == nullptr) return std::nullopt;
      buffer += count;
    }
    auto batch = arrow::RecordBatch::Make(schema_, length, std::move(column_data));
    if (options.validation == Validation::kFull) {
      if (auto status = batch->ValidateFull(); !status.ok()) return Annotated(status, size);
    }
    batches.push_back(std::move(batch));
    position = body_offset + body_length;
  }
  auto table = arrow::Table::FromRecordBatches(schema_, batches);
  if (!table.ok()) return Annotated(table.status(), size);
  if (options.validation == Validation::kBasic) {
    if (auto status = (*table)->Validate(); !status.ok()) return Annotated(status, size);
  }
  return table;
}

arrow::Result<std::shared_ptr<arrow::Table>> StreamDecoder::Decode(std::shared_ptr<arrow::Buffer> stream,
                                                                   const ReadOptions& options) {
  recognized_last_ = false;
  if (stream == nullptr || stream->address() % 8 != 0) return ReadTable(std::move(stream), options);
  if (template_ && template_->header) {
    if (auto recognized = DecodeRecognized(stream, options)) {
      recognized_last_ = true;
      return *std::move(recognized);
    }
  }
  const int64_t size = stream->size();
  auto annotate = [size](const arrow::Status& status) { return Annotated(status, size); };
  arrow::io::BufferReader input(stream);
  auto first = arrow::ipc::ReadMessage(&input);
  if (!first.ok() || *first == nullptr || (*first)->type() != arrow::ipc::MessageType::SCHEMA ||
      (*first)->body_length() != 0) {
    return ReadTable(std::move(stream), options);  // Let the general reader explain it.
  }
  const arrow::Buffer& metadata = *(*first)->metadata();
  if (schema_metadata_ == nullptr || !schema_metadata_->Equals(metadata)) {
    arrow::ipc::DictionaryMemo memo;
    auto schema = arrow::ipc::ReadSchema(**first, &memo);
    if (!schema.ok()) return annotate(schema.status());
    // Dictionaries, and streams of the other byte order (which the stream reader converts),
    // go through the general reader.
    if (!(*schema)->is_native_endian()) return ReadTable(std::move(stream), options);
    for (const auto& field : (*schema)->fields()) {
      if (HasDictionary(*field->type())) return ReadTable(std::move(stream), options);
    }
    ARROW_ASSIGN_OR_RAISE(auto copy, arrow::AllocateBuffer(metadata.size()));
    std::memcpy(copy->mutable_data(), metadata.data(), static_cast<size_t>(metadata.size()));
    schema_ = *schema;
    schema_metadata_ = std::move(copy);
    template_.reset();
    if (auto columns = internal::FlatColumnsOf(*schema_)) {
      template_ = std::make_unique<internal::BatchTemplate>();
      template_->num_buffers = internal::BufferCount(*columns);
      template_->columns = std::move(*columns);
    }
  }

  auto arrow_options = arrow::ipc::IpcReadOptions::Defaults();
  arrow_options.use_threads = options.use_threads;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  while (true) {
    auto message = arrow::ipc::ReadMessage(&input);
    if (!message.ok()) return annotate(message.status());
    if (*message == nullptr) break;  // End of stream.
    if ((*message)->type() != arrow::ipc::MessageType::RECORD_BATCH) {
      return annotate(arrow::Status::Invalid("expected a record batch message after the schema, got message type ",
                                             static_cast<int>((*message)->type())));
    }
    auto batch = arrow::ipc::ReadRecordBatch(**message, schema_, /*dictionary_memo=*/nullptr, arrow_options);
    if (!batch.ok()) return annotate(batch.status());
    if (template_ && !template_->header) {
      // The first batch Arrow's reader accepts (its metadata as the stream frames it,
      // padding included) is the template later streams are recognized by.
      const arrow::Buffer& metadata = *(*message)->metadata();
      template_->header = internal::RecordBatchHeader::Locate(
          {reinterpret_cast<const std::byte*>(metadata.data()), static_cast<size_t>(metadata.size())},
          static_cast<int>(template_->columns.size()), template_->num_buffers);
      template_->nodes.resize(template_->columns.size());
      template_->buffers.resize(static_cast<size_t>(template_->num_buffers));
    }
    if (options.validation == Validation::kFull) {
      // Validate each batch before anything else touches it (as ReadTable does).
      if (auto status = (*batch)->ValidateFull(); !status.ok()) return annotate(status);
    }
    batches.push_back(std::move(*batch));
  }
  auto table = arrow::Table::FromRecordBatches(schema_, batches);
  if (!table.ok()) return annotate(table.status());
  if (options.validation == Validation::kBasic) {
    if (auto status = (*table)->Validate(); !status.ok()) return annotate(status);
  }
  return table;
}

}  // namespace arrowring
