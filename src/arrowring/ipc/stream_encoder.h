// StreamEncoder: encodes tables as complete Arrow IPC streams once, for sizing and writing.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include <arrow/io/interfaces.h>
#include <arrow/ipc/options.h>
#include <arrow/ipc/writer.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/table.h>

#include "arrowring/ipc/ipc.h"

namespace arrowring {

/// Encodes tables and record batches as complete Arrow IPC streams — schema message, record
/// batch (and dictionary) messages, end-of-stream marker — byte for byte what Arrow's stream
/// writer produces, so that any Arrow reader opens each one on its own.
///
/// Encode() builds every message's metadata (and compresses, if asked) exactly once and keeps
/// the payloads, which reference the table's buffers: the exact size is known without a
/// second pass, and WriteTo() only frames metadata and copies the buffers. The schema message
/// is built once and reused while the schema stays equal (schemas with dictionaries go
/// through Arrow's own stream writer, which decides when dictionaries are sent).
///
/// Not thread-safe: one encoder per publishing thread.
class StreamEncoder {
 public:
  static arrow::Result<StreamEncoder> Make(const WriteOptions& options = {});

  /// Encodes `data` (replacing what was encoded before); returns the stream's exact size.
  arrow::Result<int64_t> Encode(const arrow::Table& table);
  arrow::Result<int64_t> Encode(const arrow::RecordBatch& batch);

  /// Writes the stream last encoded into `destination`, which must hold its size; returns the
  /// bytes written. The table encoded must still be alive (its buffers are read here).
  /// `cold`: the destination is out of cache (WriteSlot::cold), so large buffers are copied
  /// with streaming stores (RingOutputStream).
  arrow::Result<int64_t> WriteTo(std::span<std::byte> destination, bool cold = false) const;

  /// Size of the stream last encoded.
  int64_t size() const { return size_; }
  /// Forgets the stream last encoded, whose payloads hold the table's buffers (which may be
  /// another ring's memory): once it is written, the encoder keeps only the schema's message.
  void Release();

 private:
  StreamEncoder(arrow::ipc::IpcWriteOptions options, bool compress)
      : options_(std::move(options)), compress_(compress) {}
  template <typename Data>
  arrow::Result<int64_t> EncodeImpl(const Data& data);
  arrow::Status EncodeWithArrowWriter(const std::shared_ptr<arrow::Schema>& schema, const arrow::Table* table,
                                      const arrow::RecordBatch* batch);
  arrow::Status Replay(arrow::io::OutputStream* sink) const;

  arrow::ipc::IpcWriteOptions options_;
  bool compress_;
  std::shared_ptr<arrow::Schema> schema_;  // whose message schema_payload_ holds
  arrow::ipc::IpcPayload schema_payload_;
  std::vector<arrow::ipc::IpcPayload> payloads_;  // of the last Encode, schema first
  std::shared_ptr<void> rebuilt_;                 // a table rebuilt for compression, kept alive
  int64_t size_ = 0;
};

}  // namespace arrowring
