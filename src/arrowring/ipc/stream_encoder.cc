#include "arrowring/ipc/stream_encoder.h"

#include <arrow/buffer.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/dictionary.h>
#include <arrow/ipc/writer.h>
#include <arrow/type.h>

#include "arrowring/ipc/internal/arrow_write_internal.h"
#include "arrowring/ipc/ring_output_stream.h"

namespace arrowring {
namespace {

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

arrow::Result<StreamEncoder> StreamEncoder::Make(const WriteOptions& options) {
  ARROW_ASSIGN_OR_RAISE(auto arrow_options, internal::ToArrowOptions(options));
  return StreamEncoder(std::move(arrow_options), options.compression != Compression::kNone);
}

arrow::Result<int64_t> StreamEncoder::Encode(const arrow::Table& table) { return EncodeImpl(table); }
arrow::Result<int64_t> StreamEncoder::Encode(const arrow::RecordBatch& batch) { return EncodeImpl(batch); }

void StreamEncoder::Release() {
  payloads_.clear();
  rebuilt_.reset();
  size_ = 0;
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
      schema_ = schema;
    }
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
  }
  arrow::io::MockOutputStream counter;  // Counts the framing; copies nothing.
  ARROW_RETURN_NOT_OK(Replay(&counter));
  size_ = counter.GetExtentBytesWritten();
  return size_;
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
  ARROW_RETURN_NOT_OK(Replay(&sink));
  return sink.Tell();
}

}  // namespace arrowring
