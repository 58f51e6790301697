// StreamDecoder: reads Arrow IPC streams zero-copy, decoding each distinct schema once.
#pragma once

#include <memory>
#include <optional>

#include <arrow/buffer.h>
#include <arrow/result.h>
#include <arrow/table.h>

#include "arrowring/ipc/ipc.h"

namespace arrowring {
namespace internal {
struct BatchTemplate;
}  // namespace internal

/// Reads complete Arrow IPC streams as ReadTable does (zero-copy, same validation), for a
/// reader that receives many streams of one schema: the schema message is decoded once and
/// kept with its exact metadata bytes; a stream whose schema message has the same bytes skips
/// the decoding and only its record batch messages are decoded. Streams whose schema has
/// dictionaries, or that do not start with a schema message, go through ReadTable.
///
/// For a schema of flat columns (internal::FlatColumnsOf), the first record batch message
/// Arrow's reader accepts becomes a template (internal::RecordBatchHeader). A later stream
/// whose schema message and record batch metadata equal it everywhere but the per-batch
/// values is read without parsing a flatbuffer: the values are read at their known places,
/// checked as Arrow's loader checks them (every buffer inside the body, 8-aligned offsets,
/// no negative lengths), and the columns built straight from them — the same table Arrow's
/// reader builds, validated the same way. Anything else, or any check that fails, goes
/// through Arrow's reader, which says what is wrong.
///
/// Not thread-safe: one decoder per reading thread.
class StreamDecoder {
 public:
  StreamDecoder();
  StreamDecoder(StreamDecoder&&) noexcept;
  StreamDecoder& operator=(StreamDecoder&&) noexcept;
  ~StreamDecoder();

  arrow::Result<std::shared_ptr<arrow::Table>> Decode(std::shared_ptr<arrow::Buffer> stream,
                                                      const ReadOptions& options = {});

  /// Whether the stream last decoded was recognized as the template's shape (read without
  /// Arrow's message parsing).
  bool recognized_last() const { return recognized_last_; }

 private:
  std::optional<arrow::Result<std::shared_ptr<arrow::Table>>> DecodeRecognized(
      const std::shared_ptr<arrow::Buffer>& stream, const ReadOptions& options);

  std::shared_ptr<arrow::Schema> schema_;
  std::shared_ptr<arrow::Buffer> schema_metadata_;  // our copy of the schema message's bytes
  // While schema_ is a schema of flat columns: its columns, and the template once Arrow's
  // reader accepted a batch. Null otherwise.
  std::unique_ptr<internal::BatchTemplate> template_;
  bool recognized_last_ = false;
};

}  // namespace arrowring
