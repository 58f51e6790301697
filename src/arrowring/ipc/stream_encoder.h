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
namespace internal {
struct PatchedEncoding;
}  // namespace internal

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
/// For a schema of flat columns (internal::FlatColumnsOf) written uncompressed, the record
/// batch message is built by Arrow once too: from the second batch on, Encode() patches the
/// row count, the node and buffer values and the body length into Arrow's first message
/// (internal::RecordBatchHeader) and keeps only pointers to the buffers — no flatbuffer built,
/// no allocation. The bytes stay exactly Arrow's. Columns Arrow's writer would copy or rebase
/// (slices, oversized bitmaps) and empty batches take the general path, message by message.
///
/// Not thread-safe: one encoder per publishing thread.
class StreamEncoder {
 public:
  static arrow::Result<StreamEncoder> Make(const WriteOptions& options = {});
  StreamEncoder(StreamEncoder&&) noexcept;
  StreamEncoder& operator=(StreamEncoder&&) noexcept;
  ~StreamEncoder();

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
  /// Whether the stream last encoded had its record batch messages patched into the header
  /// Arrow built for an earlier batch (rather than built by Arrow).
  bool reused_batch_header() const { return patched_batches_ > 0; }
  /// Forgets the stream last encoded, whose payloads hold the table's buffers (which may be
  /// another ring's memory): once it is written, the encoder keeps only the schema's message.
  void Release();

 private:
  StreamEncoder(arrow::ipc::IpcWriteOptions options, bool compress);
  template <typename Data>
  arrow::Result<int64_t> EncodeImpl(const Data& data);
  arrow::Status EncodeWithArrowWriter(const std::shared_ptr<arrow::Schema>& schema, const arrow::Table* table,
                                      const arrow::RecordBatch* batch);
  arrow::Status Replay(arrow::io::OutputStream* sink) const;
  void UseSchema(const std::shared_ptr<arrow::Schema>& schema);
  template <typename Data>
  bool EncodePatched(const Data& data);
  template <typename ColumnData>
  bool AddPatchedBatch(int64_t num_rows, const ColumnData& column);
  arrow::Status WritePatched(arrow::io::OutputStream* sink) const;

  arrow::ipc::IpcWriteOptions options_;
  bool compress_;
  std::shared_ptr<arrow::Schema> schema_;  // whose message schema_payload_ holds
  arrow::ipc::IpcPayload schema_payload_;
  std::vector<arrow::ipc::IpcPayload> payloads_;  // of the last Encode, schema first
  std::shared_ptr<void> rebuilt_;                 // a table rebuilt for compression, kept alive
  int64_t size_ = 0;

  // The patched path's state while schema_ is a schema of flat columns, else null.
  std::unique_ptr<internal::PatchedEncoding> patched_;
  int patched_batches_ = 0;  // of the last Encode, when it took the patched path
};

}  // namespace arrowring
