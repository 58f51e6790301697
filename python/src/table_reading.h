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
#include <optional>
#include <string>

#include <arrow/python/pyarrow.h>

#include "arrowring/ipc/ipc.h"
#include "arrowring/ipc/stream_decoder.h"

namespace arrowring::python {

// One subscriber's decoder (it keeps the schema between messages). Python calls it with the
// GIL held, which serializes the callers of one reader.
struct PyTableReader {
  StreamDecoder decoder;

  // The table of `slot`, which is spent: the table's buffers hold the message.
  arrow::Result<std::shared_ptr<arrow::Table>> Decode(ReadSlot slot) {
    auto owner = std::make_shared<ReadSlot>(std::move(slot));
    const std::span<const std::byte> bytes = owner->data();
    return decoder.Decode(OwnedBuffer(bytes.data(), static_cast<int64_t>(bytes.size()), std::move(owner)));
  }
};

// A failed decode as the error Python sees: out of memory is the system's; anything else is the
// message's bytes (Arrow's reason inside, which Python's reader names the message around).
inline RingError DecodeFailure(const arrow::Status& status) {
  if (status.IsOutOfMemory()) return StatusError(status, "reading a table");
  return RingError({Errc::kCorrupt, status.ToString()});
}

inline nb::object Wrapped(const std::shared_ptr<arrow::Table>& table) {
  PyObject* wrapped = arrow::py::wrap_table(table);
  if (wrapped == nullptr) throw nb::python_error();
  return nb::steal(wrapped);
}

inline void BindTableReading(nb::module_& m) {
  nb::class_<PyTableReader>(m, "TableReader", "Reads messages' tables in the C++ layer, each schema decoded once.")
      .def(nb::init<>())
      .def(
          "read",
          [](PyTableReader& reader, PyReadSlot& slot) -> nb::object {
            if (!slot.slot) throw RingError({Errc::kBadState, "this slot was already read or released"});
            RefuseWhileExported(slot.exports, "reading a slot's table");
            ReadSlot taken = std::move(*slot.slot);
            slot.slot.reset();
            auto table = reader.Decode(std::move(taken));
            if (!table.ok()) throw DecodeFailure(table.status());
            return Wrapped(*table);
          },
          "slot"_a,
          "The slot's table, zero-copy; the slot is spent (the table holds the message). CorruptError "
          "(Arrow's reason inside) when the message is no Arrow IPC stream.")
      .def(
          "read_many",
          [](PyTableReader& reader, Subscription& subscription, size_t max_tables,
             std::optional<double> timeout) -> nb::tuple {
            const auto first_wait = Timeout(timeout);
            nb::list tables;
            while (tables.size() < max_tables) {
              Result<std::optional<Subscription::Delivery>> delivery = Error{Errc::kSystem, ""};
              {
                nb::gil_scoped_release unlocked;  // Other Python threads run while we wait.
                delivery = subscription.Next(tables.size() == 0 ? first_wait : std::chrono::nanoseconds(0));
              }
              if (!delivery.ok()) {
                const Error& error = delivery.error();
                return nb::make_tuple(tables,
                                      nb::make_tuple(std::string(ErrcName(error.code)), error.message, nb::none()));
              }
              if (!delivery->has_value()) break;  // Nothing more yet.
              const Handle handle = (*delivery)->slot.handle();
              auto table = reader.Decode(std::move((*delivery)->slot));
              if (!table.ok()) {
                const Error error = DecodeFailure(table.status()).error;
                // The handle names the message whose bytes are bad; other failures are not its.
                nb::object named = error.code == Errc::kCorrupt ? nb::cast(handle) : nb::none();
                return nb::make_tuple(tables, nb::make_tuple(std::string(ErrcName(error.code)), error.message, named));
              }
              tables.append(Wrapped(*table));
            }
            return nb::make_tuple(tables, nb::none());
          },
          "subscription"_a, "max_tables"_a, "timeout"_a,
          "(tables, error): up to `max_tables` tables in one call, waiting up to `timeout` seconds (None: "
          "forever) for the first and taking the ones already there without waiting ([] when none came); "
          "`error` is None or (kind, message, the message's handle or None): what stopped it, after the "
          "tables it had taken.");
}

}  // namespace arrowring::python
