#include "arrowring/ipc/stream_decoder.h"

#include <cstring>
#include <vector>

#include <arrow/io/memory.h>
#include <arrow/ipc/dictionary.h>
#include <arrow/ipc/message.h>
#include <arrow/ipc/reader.h>
#include <arrow/record_batch.h>
#include <arrow/type.h>

namespace arrowring {
namespace {

bool HasDictionary(const arrow::DataType& type) {
  if (type.id() == arrow::Type::DICTIONARY) return true;
  for (const auto& child : type.fields()) {
    if (HasDictionary(*child->type())) return true;
  }
  return false;
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::Table>> StreamDecoder::Decode(std::shared_ptr<arrow::Buffer> stream,
                                                                   const ReadOptions& options) {
  if (stream == nullptr || stream->address() % 8 != 0) return ReadTable(std::move(stream), options);
  const int64_t size = stream->size();
  auto annotate = [size](const arrow::Status& status) {
    return status.WithMessage("reading Arrow IPC stream of ", size, " bytes: ", status.message());
  };
  arrow::io::BufferReader input(stream);
  auto first = arrow::ipc::ReadMessage(&input);
  if (!first.ok() || *first == nullptr || (*first)->type() != arrow::ipc::MessageType::SCHEMA) {
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
