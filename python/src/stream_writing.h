// Writing pyarrow tables into write slots with arrowring's C++ stream sink
// (arrowring._core_arrow only). The table's batches cross over through the Arrow C stream
// interface (`__arrow_c_stream__`, zero-copy) and its schema as its IPC schema message
// (`Schema.serialize()`): the C interface cannot tell empty metadata from none, and the schema
// a reader gets back must be the one published. Arrow's own stream writer — the libarrow
// pyarrow has loaded, with pyarrow's default options — sizes the stream and writes it into the
// slot through RingOutputStream, which copies large buffers with streaming stores when the
// slot is cold (WriteSlot::cold): byte for byte what pyarrow's writer writes, the size exact.
#pragma once

#include <memory>
#include <vector>

#include <arrow/c/abi.h>
#include <arrow/c/bridge.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/dictionary.h>
#include <arrow/ipc/reader.h>
#include <arrow/ipc/writer.h>

#include "arrowring/ipc/ring_output_stream.h"

namespace arrowring::python {

// A table imported for writing: its schema and record batches (views of pyarrow's buffers,
// which the imported arrays keep alive) and the exact size of its stream.
struct PyIpcStream {
  std::shared_ptr<arrow::Schema> schema;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  int64_t size = 0;

  arrow::Status WriteTo(arrow::io::OutputStream* sink) const {
    ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(sink, schema));
    for (const auto& batch : batches) ARROW_RETURN_NOT_OK(writer->WriteRecordBatch(*batch));
    return writer->Close();
  }

  // The stream of `batches` under `schema`, sized by Arrow's writer against a counting sink.
  static arrow::Result<PyIpcStream> Of(std::shared_ptr<arrow::Schema> schema,
                                       std::vector<std::shared_ptr<arrow::RecordBatch>> batches) {
    PyIpcStream stream{std::move(schema), std::move(batches), 0};
    arrow::io::MockOutputStream counter;  // Counts; copies nothing.
    ARROW_RETURN_NOT_OK(stream.WriteTo(&counter));
    stream.size = counter.GetExtentBytesWritten();
    return stream;
  }
};

inline void BindStreamWriting(nb::module_& m) {
  nb::class_<PyIpcStream>(m, "IpcStream", "A table imported for writing into ring memory by the C++ layer.")
      .def(
          "__init__",
          [](PyIpcStream* self, nb::handle stream_capsule, nb::bytes schema_message) {
            if (!PyCapsule_IsValid(stream_capsule.ptr(), "arrow_array_stream")) {
              throw RingError({Errc::kInvalidArgument,
                               "the table must come as an 'arrow_array_stream' PyCapsule (__arrow_c_stream__)"});
            }
            auto* c_stream =
                static_cast<struct ArrowArrayStream*>(PyCapsule_GetPointer(stream_capsule.ptr(), "arrow_array_stream"));
            // Moves the stream out of the capsule (marks it released), so the capsule frees nothing.
            auto imported = [&]() -> arrow::Result<PyIpcStream> {
              ARROW_ASSIGN_OR_RAISE(auto reader, arrow::ImportRecordBatchReader(c_stream));
              // A view of the Python bytes, alive for this call.
              arrow::io::BufferReader message(
                  std::make_shared<arrow::Buffer>(reinterpret_cast<const uint8_t*>(schema_message.c_str()),
                                                  static_cast<int64_t>(schema_message.size())));
              arrow::ipc::DictionaryMemo dictionaries;
              ARROW_ASSIGN_OR_RAISE(auto schema, arrow::ipc::ReadSchema(&message, &dictionaries));
              if (!schema->Equals(*reader->schema(), /*check_metadata=*/false)) {
                return arrow::Status::Invalid("the schema message does not describe the table's columns");
              }
              ARROW_ASSIGN_OR_RAISE(auto imported, reader->ToRecordBatches());
              std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
              for (const auto& batch : imported) {  // the same columns under the schema as published
                batches.push_back(arrow::RecordBatch::Make(schema, batch->num_rows(), batch->columns()));
              }
              return PyIpcStream::Of(std::move(schema), std::move(batches));
            }();
            if (!imported.ok()) throw StatusError(imported.status(), "the table could not be imported");
            new (self) PyIpcStream(std::move(*imported));
          },
          "stream"_a, "schema_message"_a)
      .def_prop_ro(
          "size", [](const PyIpcStream& s) { return s.size; }, "Exact bytes of the Arrow IPC stream.")
      .def(
          "write_into",
          [](const PyIpcStream& s, PyWriteSlot& slot) -> int64_t {
            if (!slot.slot) throw RingError({Errc::kBadState, "write on a slot that was already committed or aborted"});
            arrow::Result<int64_t> written = arrow::Status::UnknownError("not written");
            {
              nb::gil_scoped_release unlocked;  // Only our copy runs here: no Python objects touched.
              RingOutputStream sink(slot.bytes(), slot.slot->cold());
              const arrow::Status status = s.WriteTo(&sink);
              written = status.ok() ? sink.Tell() : arrow::Result<int64_t>(status);
            }
            if (!written.ok()) throw StatusError(written.status(), "writing the table into the ring");
            return *written;
          },
          "slot"_a, "Writes the stream into `slot` (which holds at least `size` bytes); returns the bytes written.");
}

}  // namespace arrowring::python
