// A subscriber read as an arrow::RecordBatchReader: the record batches of its next messages,
// zero-copy, for anything that consumes Arrow streams (Acero, the Arrow C stream interface
// through arrow::ExportRecordBatchReader, DuckDB, ...).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include "arrowring/ipc/pubsub.h"

namespace arrowring {

struct StreamOptions {
  /// The stream ends after this many messages; empty: no limit.
  std::optional<uint64_t> limit;
  /// The stream ends once this long passes without a new message; kWaitForever: never.
  std::chrono::nanoseconds timeout = kWaitForever;
  /// The stream's schema; null: the first message's, taken when the reader is made (within
  /// `timeout`; when none comes, the stream is empty and has no columns).
  std::shared_ptr<arrow::Schema> schema;
};

/// The record batches of a subscriber's next messages, in order, each one's buffers in ring
/// memory (a batch keeps its message alive, as Message::table does). Messages are taken from
/// the subscriber as the batches are read; what the reader did not read stays with the
/// subscriber. A message whose schema differs from the stream's (fields compared, metadata
/// not) ends the stream: ReadNext returns TypeError saying so, and TakeUnread() hands over
/// that message, so nothing is lost. One thread at a time, as the subscriber.
class SubscriberReader final : public arrow::RecordBatchReader {
 public:
  /// Reads `subscriber`, which must outlive the reader.
  static arrow::Result<std::shared_ptr<SubscriberReader>> Make(Subscriber& subscriber, StreamOptions options = {});
  /// Reads `subscriber`, which the reader owns from now on (it leaves the ring with it).
  static arrow::Result<std::shared_ptr<SubscriberReader>> Make(Subscriber&& subscriber, StreamOptions options = {});

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  /// The next batch, or null at the end of the stream (limit reached, or nothing new within
  /// the timeout). TypeError when a message of another schema ended it; then null.
  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* batch) override;
  /// The message of another schema that ended the stream, once; empty otherwise.
  std::optional<Message> TakeUnread();
  /// Messages taken into this stream so far (not counting the one TakeUnread() gives).
  uint64_t messages() const { return messages_; }

 private:
  SubscriberReader(Subscriber* subscriber, std::optional<Subscriber> owned, StreamOptions options);
  arrow::Status Start();
  void Enqueue(const arrow::Table& table);

  std::optional<Subscriber> owned_;
  Subscriber* subscriber_;
  StreamOptions options_;
  std::shared_ptr<arrow::Schema> schema_;
  std::deque<std::shared_ptr<arrow::RecordBatch>> batches_;
  std::optional<Message> unread_;
  uint64_t messages_ = 0;
  bool ended_ = false;
};

}  // namespace arrowring
