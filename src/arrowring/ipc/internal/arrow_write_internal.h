// Internal: how arrowring's options become Arrow's writer options, shared by the IPC writers.
#pragma once

#include <memory>

#include <arrow/ipc/options.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/table.h>

#include "arrowring/ipc/ipc.h"

namespace arrowring::internal {

/// Arrow's IPC write options for ours: bodies kStreamAlignment-aligned, the codec made.
arrow::Result<arrow::ipc::IpcWriteOptions> ToArrowOptions(const WriteOptions& options);

/// The table or batch to hand to a compressing writer: `data` itself unless it has absent
/// data buffers (which Arrow 26's compressing writer dereferences); `holder` keeps a rebuilt
/// copy alive. No data is copied.
const arrow::Table& ForCompression(const arrow::Table& table, std::shared_ptr<arrow::Table>* holder);
const arrow::RecordBatch& ForCompression(const arrow::RecordBatch& batch, std::shared_ptr<arrow::RecordBatch>* holder);

}  // namespace arrowring::internal
