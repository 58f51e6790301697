// Reading a message's table into a pyarrow.Table in the C++ layer (arrowring._core_arrow,
// when pyarrow's own C++ API, libarrow_python, was found at build time). arrowring's
// StreamDecoder reads the stream zero-copy — one schema decoded once, then only each record
// batch — and pyarrow wraps the resulting arrow::Table as it is: the same libarrow pyarrow has
// loaded, so no C data interface export and import per message (that costs more than pyarrow's
// own IPC reader for small tables). The read slot moves into the table's buffers: the message
// is released when the last buffer of the table, or of a slice of it, is gone, on any thread,
// with no Python object to decref.
#pragma once

#include <memory>

#include <arrow/python/pyarrow.h>

#include "arrowring/ipc/ipc.h"
#include "arrowring/ipc/stream_decoder.h"

namespace arrowring::python {

// One subscriber's decoder (it keeps the schema between messages). Python calls it with the
// GIL held, which serializes the callers of one reader.
struct PyTableReader {
  StreamDecoder decoder;
};

inline void BindTableReading(nb::module_& m) {
  nb::class_<PyTableReader>(m, "TableReader", "Reads messages' tables in the C++ layer, each schema decoded once.")
      .def(nb::init<>())
      .def(
          "read",
          [](PyTableReader& reader, PyReadSlot& slot) -> nb::object {
            if (!slot.slot) throw RingError({Errc::kBadState, "this slot was already read or released"});
            RefuseWhileExported(slot.exports, "reading a slot's table");
            auto owner = std::make_shared<ReadSlot>(std::move(*slot.slot));
            slot.slot.reset();
            const std::span<const std::byte> bytes = owner->data();
            auto table =
                reader.decoder.Decode(OwnedBuffer(bytes.data(), static_cast<int64_t>(bytes.size()), std::move(owner)));
            if (!table.ok()) {
              if (table.status().IsOutOfMemory()) throw StatusError(table.status(), "reading the table");
              throw RingError({Errc::kCorrupt, table.status().ToString()});  // the message's bytes
            }
            PyObject* wrapped = arrow::py::wrap_table(*table);
            if (wrapped == nullptr) throw nb::python_error();
            return nb::steal(wrapped);
          },
          "slot"_a,
          "The slot's table, zero-copy; the slot is spent (the table holds the message). CorruptError "
          "(Arrow's reason inside) when the message is no Arrow IPC stream.");
}

}  // namespace arrowring::python
