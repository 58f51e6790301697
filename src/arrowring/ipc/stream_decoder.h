// StreamDecoder: reads Arrow IPC streams zero-copy, decoding each distinct schema once.
#pragma once

#include <memory>

#include <arrow/buffer.h>
#include <arrow/result.h>
#include <arrow/table.h>

#include "arrowring/ipc/ipc.h"

namespace arrowring {

/// Reads complete Arrow IPC streams as ReadTable does (zero-copy, same validation), for a
/// reader that receives many streams of one schema: the schema message is decoded once and
/// kept with its exact metadata bytes; a stream whose schema message has the same bytes skips
/// the decoding and only its record batch messages are decoded. Streams whose schema has
/// dictionaries, or that do not start with a schema message, go through ReadTable.
///
/// Not thread-safe: one decoder per reading thread.
class StreamDecoder {
 public:
  arrow::Result<std::shared_ptr<arrow::Table>> Decode(std::shared_ptr<arrow::Buffer> stream,
                                                      const ReadOptions& options = {});

 private:
  std::shared_ptr<arrow::Schema> schema_;
  std::shared_ptr<arrow::Buffer> schema_metadata_;  // our copy of the schema message's bytes
};

}  // namespace arrowring
