#include "arrowring/ipc/record_batch_reader.h"

#include <string>
#include <utility>

#include <arrow/table.h>

namespace arrowring {

SubscriberReader::SubscriberReader(Subscriber* subscriber, std::optional<Subscriber> owned, StreamOptions options)
    : owned_(std::move(owned)), subscriber_(owned_ ? &*owned_ : subscriber), options_(std::move(options)) {}

arrow::Result<std::shared_ptr<SubscriberReader>> SubscriberReader::Make(Subscriber& subscriber, StreamOptions options) {
  std::shared_ptr<SubscriberReader> reader(new SubscriberReader(&subscriber, std::nullopt, std::move(options)));
  ARROW_RETURN_NOT_OK(reader->Start());
  return reader;
}

arrow::Result<std::shared_ptr<SubscriberReader>> SubscriberReader::Make(Subscriber&& subscriber,
                                                                        StreamOptions options) {
  std::shared_ptr<SubscriberReader> reader(
      new SubscriberReader(nullptr, std::optional<Subscriber>(std::move(subscriber)), std::move(options)));
  ARROW_RETURN_NOT_OK(reader->Start());
  return reader;
}

arrow::Status SubscriberReader::Start() {
  if (options_.timeout.count() < 0) {
    return ToStatus(Error{Errc::kInvalidArgument, "StreamOptions::timeout must not be negative"});
  }
  schema_ = options_.schema;
  if (schema_) return arrow::Status::OK();
  std::optional<Message> first;
  if (options_.limit != 0u) {
    ARROW_ASSIGN_OR_RAISE(first, subscriber_->Next(options_.timeout));
  }
  if (!first) {  // Nothing within the timeout (or a limit of 0): an empty stream.
    schema_ = arrow::schema({});
    ended_ = true;
    return arrow::Status::OK();
  }
  schema_ = first->table->schema();
  ++messages_;
  Enqueue(*first->table);
  return arrow::Status::OK();
}

void SubscriberReader::Enqueue(const arrow::Table& table) {
  arrow::TableBatchReader batches(table);  // zero-copy: slices of the table's chunks
  std::shared_ptr<arrow::RecordBatch> batch;
  while (batches.ReadNext(&batch).ok() && batch) batches_.push_back(std::move(batch));
}

arrow::Status SubscriberReader::ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) {
  while (batches_.empty()) {
    if (ended_ || (options_.limit && messages_ >= *options_.limit)) {
      ended_ = true;
      *batch = nullptr;
      return arrow::Status::OK();
    }
    ARROW_ASSIGN_OR_RAISE(std::optional<Message> message, subscriber_->Next(options_.timeout));
    if (!message) {  // Nothing new within the timeout.
      ended_ = true;
      continue;
    }
    const std::shared_ptr<arrow::Schema>& schema = message->table->schema();
    if (!schema->Equals(*schema_, /*check_metadata=*/false)) {
      ended_ = true;
      *batch = nullptr;
      const uint64_t sequence = message->handle.sequence;
      unread_ = std::move(*message);
      return arrow::Status::TypeError("message ", sequence, " of ring '", subscriber_->ring().name(),
                                      "' has another schema than this stream's, which ends here (",
                                      unread_->table->schema()->ToString(), " instead of ", schema_->ToString(),
                                      "); the message is not lost: TakeUnread() returns it");
    }
    ++messages_;
    Enqueue(*message->table);
  }
  *batch = std::move(batches_.front());
  batches_.pop_front();
  return arrow::Status::OK();
}

std::optional<Message> SubscriberReader::TakeUnread() {
  std::optional<Message> message = std::move(unread_);
  unread_.reset();
  return message;
}

}  // namespace arrowring
