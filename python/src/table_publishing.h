// Publishing a pyarrow.Table or RecordBatch through the C++ Publisher (arrowring._core_arrow,
// when pyarrow's own C++ API, libarrow_python, was found at build time). pyarrow hands over its
// arrow::Table as it is (the same libarrow), and the Publisher behind Publisher.loan encodes it
// with its StreamEncoder: the schema message built once per schema, the exact size without a
// second serialization, one copy into ring memory with the GIL released.
#pragma once

#include <memory>

#include <arrow/python/pyarrow.h>
#include <arrow/table.h>

#include "arrowring/ipc/pubsub.h"

namespace arrowring::python {

// The pyarrow Table or RecordBatch `data` as it is (its own schema, metadata included), or a
// RingError when it is neither.
struct UnwrappedTable {
  std::shared_ptr<arrow::Table> table;
  std::shared_ptr<arrow::RecordBatch> batch;
};

inline UnwrappedTable Unwrapped(nb::handle data) {
  UnwrappedTable result;
  if (arrow::py::is_table(data.ptr())) {
    auto unwrapped = arrow::py::unwrap_table(data.ptr());
    if (!unwrapped.ok()) throw StatusError(unwrapped.status(), "the table could not be taken over");
    result.table = std::move(*unwrapped);
  } else if (arrow::py::is_batch(data.ptr())) {
    auto unwrapped = arrow::py::unwrap_batch(data.ptr());
    if (!unwrapped.ok()) throw StatusError(unwrapped.status(), "the record batch could not be taken over");
    result.batch = std::move(*unwrapped);
  } else {
    throw RingError({Errc::kInvalidArgument, "publish takes a pyarrow.Table or pyarrow.RecordBatch"});
  }
  return result;
}

inline void BindTablePublishing(nb::module_& m) {
  m.def(
      "ipc_stream_of",
      [](nb::handle data) -> PyIpcStream {
        UnwrappedTable unwrapped = Unwrapped(data);
        auto stream = [&]() -> arrow::Result<PyIpcStream> {
          if (unwrapped.batch) return PyIpcStream::Of(unwrapped.batch->schema(), {unwrapped.batch});
          // Batches as pyarrow's writer cuts them (TableBatchReader, one per run of whole chunks).
          ARROW_ASSIGN_OR_RAISE(auto batches, arrow::TableBatchReader(*unwrapped.table).ToRecordBatches());
          return PyIpcStream::Of(unwrapped.table->schema(), std::move(batches));
        }();
        if (!stream.ok()) throw StatusError(stream.status(), "the table could not be sized as an Arrow IPC stream");
        return std::move(*stream);
      },
      "data"_a,
      "A pyarrow.Table or RecordBatch as it is, for the C++ layer to write: pyarrow's stream writer's bytes, "
      "sized exactly.");
  m.def(
      "publish_table",
      [](PyLoanPublisher& p, nb::handle data, bool wait) -> Handle {
        auto [table, batch] = Unwrapped(data);
        arrow::Result<Handle> handle = arrow::Status::UnknownError("not published");
        {
          nb::gil_scoped_release unlocked;  // Publish may wait for room; other threads run meanwhile.
          std::lock_guard<std::mutex> lock(p.mutex);
          if (wait) {
            handle = table ? p.publisher.Publish(*table) : p.publisher.Publish(*batch);
          } else if (table) {
            handle = p.publisher.TryPublish(*table);
          } else {
            auto one = arrow::Table::FromRecordBatches({batch});
            handle = one.ok() ? p.publisher.TryPublish(**one) : arrow::Result<Handle>(one.status());
          }
        }
        if (!handle.ok()) throw StatusError(handle.status(), "publish");
        return *handle;
      },
      "publisher"_a, "data"_a, "wait"_a,
      "Publishes a pyarrow.Table or RecordBatch through the C++ Publisher; its handle.");
}

}  // namespace arrowring::python
