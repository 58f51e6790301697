// The core ring for Python (nanobind), built twice (python/CMakeLists.txt):
//   arrowring._core_ring   the ring only, no libarrow: works with any pyarrow;
//   arrowring._core_arrow  the same plus loans (loan_bindings.h), linked against the libarrow of
//                          the pyarrow wheel it was built with.
// arrowring/_core.py loads one of them per process. Loans, the writing of large tables
// (stream_writing.h) and, where pyarrow's C++ API was found, the publishing and reading of
// tables (table_publishing.h, table_reading.h) use the Arrow C++ layer, and then the same libarrow pyarrow has loaded;
// otherwise reading goes through pyarrow's own IPC reader over ring memory, exposed through
// the buffer protocol.
#include <Python.h>

#include <chrono>
#include <cmath>
#include <cstring>
#include <optional>
#include <string>

#include <nanobind/nanobind.h>
#include <nanobind/stl/map.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/string_view.h>
#include <nanobind/stl/vector.h>

#include "arrowring/ring/internal/segment.h"
#include "arrowring/ring/internal/stats_json.h"
#include "arrowring/ring/ring.h"
#include "arrowring/ring/streaming_copy.h"

namespace nb = nanobind;
using namespace nb::literals;

namespace arrowring::python {
namespace {

// A core Error on its way to Python, where it becomes arrowring.errors.<Kind>Error.
struct RingError : std::exception {
  Error error;
  explicit RingError(Error e) : error(std::move(e)) {}
  const char* what() const noexcept override { return error.message.c_str(); }
};

template <typename T>
T Unwrap(Result<T> result) {
  if (!result.ok()) throw RingError(result.error());
  return std::move(result).value();
}

std::chrono::nanoseconds Timeout(std::optional<double> seconds) {
  if (!seconds) return kWaitForever;
  if (!std::isfinite(*seconds) || *seconds < 0) {
    throw RingError({Errc::kInvalidArgument, "timeout must be None or a non-negative number of seconds"});
  }
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::duration<double>(*seconds));
}

// --- objects exporting ring memory through the buffer protocol ---------------------------
// `exports` counts live views; releasing the memory while a view exists is refused.
struct PyWriteSlot {
  std::optional<WriteSlot> slot;
  uint64_t requested = 0;
  Py_ssize_t exports = 0;
  std::span<std::byte> bytes() const { return slot ? slot->data().first(requested) : std::span<std::byte>(); }
};

struct PyReadSlot {
  std::optional<ReadSlot> slot;
  Py_ssize_t exports = 0;
  std::span<const std::byte> bytes() const { return slot ? slot->data() : std::span<const std::byte>(); }
};

template <typename T, bool kReadOnly>
int GetBuffer(PyObject* self, Py_buffer* view, int flags) {
  T* object = nb::inst_ptr<T>(self);
  if (!object->slot) {
    PyErr_SetString(PyExc_BufferError, "this slot was committed, aborted or released: its memory is gone");
    view->obj = nullptr;
    return -1;
  }
  if (kReadOnly && (flags & PyBUF_WRITABLE)) {
    PyErr_SetString(PyExc_BufferError, "a read slot is read-only");
    view->obj = nullptr;
    return -1;
  }
  auto bytes = object->bytes();
  if (PyBuffer_FillInfo(view, self, const_cast<std::byte*>(bytes.data()), static_cast<Py_ssize_t>(bytes.size()),
                        kReadOnly ? 1 : 0, flags) != 0) {
    return -1;
  }
  ++object->exports;
  return 0;
}

template <typename T>
void ReleaseBuffer(PyObject* self, Py_buffer*) {
  --nb::inst_ptr<T>(self)->exports;
}

PyType_Slot write_slot_slots[] = {{Py_bf_getbuffer, reinterpret_cast<void*>(GetBuffer<PyWriteSlot, false>)},
                                  {Py_bf_releasebuffer, reinterpret_cast<void*>(ReleaseBuffer<PyWriteSlot>)},
                                  {0, nullptr}};
PyType_Slot read_slot_slots[] = {{Py_bf_getbuffer, reinterpret_cast<void*>(GetBuffer<PyReadSlot, true>)},
                                 {Py_bf_releasebuffer, reinterpret_cast<void*>(ReleaseBuffer<PyReadSlot>)},
                                 {0, nullptr}};

void RefuseWhileExported(Py_ssize_t exports, const char* what) {
  if (exports > 0) {
    throw RingError({Errc::kBadState, std::string(what) + " while " + std::to_string(exports) +
                                          " memoryview(s) of it are alive; release them first"});
  }
}

}  // namespace
}  // namespace arrowring::python

#include "commit_notifier.h"
#ifdef ARROWRING_PYTHON_LOANS
#include "loan_bindings.h"
#include "stream_writing.h"
#endif
#ifdef ARROWRING_PYTHON_PYARROW_CPP
#include "table_publishing.h"
#include "table_reading.h"
#endif

#ifndef ARROWRING_MODULE
#define ARROWRING_MODULE _core_ring
#endif

using namespace arrowring;
using namespace arrowring::python;

NB_MODULE(ARROWRING_MODULE, m) {
  // Tables alive at interpreter exit still hold their read slots; the process is ending and
  // the ring reclaims what a dead process held, so nanobind's leak report is noise to users.
  nb::set_leak_warnings(false);
  m.doc() = "arrowring's core ring (C++), for the arrowring package. Use arrowring's public API.";

  // Errors become the Python classes of arrowring.errors, one per Errc.
  // Kept for the life of the process: destroying it after interpreter shutdown would crash.
  static nb::object* errors = new nb::object(nb::module_::import_("arrowring.errors"));
  nb::register_exception_translator([](const std::exception_ptr& pointer, void*) {
    try {
      std::rethrow_exception(pointer);
    } catch (const RingError& e) {
      nb::object type = errors->attr("error_for")(std::string(ErrcName(e.error.code)));
      PyErr_SetString(type.ptr(), e.error.message.c_str());
    }
  });

  m.attr("UNTIL_DROPPED") = WriteSlot::kUntilDropped;
  m.def("cold_lap_bytes", &ColdLapBytes, "The writer's lap length from which ring bytes count as cold.");
  m.def(
      "segment_path",
      [](std::string_view name) {
        Unwrap(ValidateRingName(name));
        return "/dev/shm" + SegmentName(name);
      },
      "name"_a, "The file in /dev/shm that holds ring `name`.");

  nb::class_<Handle>(m, "Handle", "Names one committed message of one ring.")
      .def_ro("ring_id", &Handle::ring_id)
      .def_ro("sequence", &Handle::sequence)
      .def_ro("offset", &Handle::offset)
      .def_ro("size", &Handle::size)
      .def("__bytes__",
           [](const Handle& h) {
             auto encoded = h.Encode();
             return nb::bytes(reinterpret_cast<const char*>(encoded.data()), encoded.size());
           })
      .def_static(
          "from_bytes",
          [](nb::bytes data) {
            return Unwrap(Handle::Decode(std::span(reinterpret_cast<const std::byte*>(data.c_str()), data.size())));
          },
          "data"_a)
      .def_static(
          "parse", [](std::string_view text) { return Unwrap(Handle::Parse(text)); }, "text"_a)
      .def("__str__", &Handle::ToString)
      .def("__repr__", [](const Handle& h) { return "Handle('" + h.ToString() + "')"; })
      .def("__eq__", [](const Handle& a, const Handle& b) { return a == b; })
      .def("__hash__", [](const Handle& h) { return std::hash<std::string>{}(h.ToString()); })
      .def("__getstate__", [](const Handle& h) { return h.ToString(); })
      .def("__setstate__", [](Handle& h, std::string_view text) { new (&h) Handle(Unwrap(Handle::Parse(text))); });

  nb::class_<PyWriteSlot>(m, "WriteSlot", nb::type_slots(write_slot_slots),
                          "Ring space being written; exports it as a writable buffer.")
      .def_prop_ro("size", [](const PyWriteSlot& s) { return s.requested; })
      .def_prop_ro("sequence", [](const PyWriteSlot& s) { return s.slot ? s.slot->sequence() : 0; })
      .def_prop_ro("address", [](const PyWriteSlot& s) { return reinterpret_cast<uintptr_t>(s.bytes().data()); })
      .def_prop_ro("open", [](const PyWriteSlot& s) { return s.slot.has_value(); })
      .def_prop_ro(
          "cold", [](const PyWriteSlot& s) { return s.slot && s.slot->cold(); },
          "Whether the slot's bytes are out of cache (the writer's last lap was long).")
      .def(
          "commit",
          [](PyWriteSlot& s, uint64_t bytes_used, uint32_t deliveries, int64_t delivery_ttl_s) {
            if (!s.slot) throw RingError({Errc::kBadState, "commit on a slot that was already committed or aborted"});
            RefuseWhileExported(s.exports, "commit");
            auto handle = s.slot->Commit(bytes_used, deliveries, std::chrono::seconds(delivery_ttl_s));
            if (!handle.ok() && handle.error().code == Errc::kInvalidArgument) throw RingError(handle.error());
            s.slot.reset();
            return Unwrap(std::move(handle));
          },
          "bytes_used"_a, "deliveries"_a = 1, "delivery_ttl"_a = 60)
      .def("abort", [](PyWriteSlot& s) {
        RefuseWhileExported(s.exports, "abort");
        s.slot.reset();
      });

  nb::class_<PyReadSlot>(m, "ReadSlot", nb::type_slots(read_slot_slots),
                         "A read reference to one message; exports it as a read-only buffer.")
      .def_prop_ro("handle",
                   [](const PyReadSlot& s) {
                     if (!s.slot) throw RingError({Errc::kBadState, "the read slot was released"});
                     return s.slot->handle();
                   })
      .def_prop_ro("size", [](const PyReadSlot& s) { return s.bytes().size(); })
      .def_prop_ro("address", [](const PyReadSlot& s) { return reinterpret_cast<uintptr_t>(s.bytes().data()); })
      .def_prop_ro("commit_time_ns", [](const PyReadSlot& s) { return s.slot ? s.slot->commit_time_ns() : 0; })
      .def_prop_ro("held", [](const PyReadSlot& s) { return s.slot.has_value(); })
      .def(
          "duplicate",
          [](const PyReadSlot& s) {
            if (!s.slot) throw RingError({Errc::kBadState, "duplicate() of a read slot that was released"});
            PyReadSlot copy;
            copy.slot.emplace(Unwrap(s.slot->Duplicate()));
            return copy;
          },
          "Another reference to the same message, released on its own; counts no delivery.")
      .def("release", [](PyReadSlot& s) {
        RefuseWhileExported(s.exports, "release");
        s.slot.reset();
      });

  nb::class_<Subscription>(m, "Subscription")
      .def_prop_ro("name", &Subscription::name)
      .def_prop_ro("missed", &Subscription::missed)
      .def(
          "set_spin",
          [](Subscription& s, double limit, bool adaptive) {
            if (!(limit >= 0 && limit <= 1))
              Unwrap(Status(Error{Errc::kInvalidArgument, "spin must lie between 0 and 1 second"}));
            const auto ns = std::chrono::nanoseconds(static_cast<int64_t>(limit * 1e9));
            Unwrap(s.SetSpin({ns, adaptive}));
          },
          "limit"_a, "adaptive"_a)
      .def_prop_ro(
          "spin",
          [](Subscription& s) {
            return std::make_pair(static_cast<double>(s.spin().limit.count()) / 1e9, s.spin().adaptive);
          },
          "(limit in seconds, adaptive)")
      .def(
          "next",
          [](Subscription& s, std::optional<double> timeout) -> std::optional<std::pair<PyReadSlot, uint64_t>> {
            const auto wait = Timeout(timeout);
            Result<std::optional<Subscription::Delivery>> delivery = Error{Errc::kSystem, ""};
            {
              nb::gil_scoped_release unlocked;  // Other Python threads run while we wait.
              delivery = s.Next(wait);
            }
            auto got = Unwrap(std::move(delivery));
            if (!got) return std::nullopt;
            PyReadSlot slot;
            slot.slot.emplace(std::move(got->slot));
            return std::make_pair(std::move(slot), got->missed);
          },
          "timeout"_a = nb::none())
      .def("leave", &Subscription::Leave);

  nb::class_<Ring>(m, "Ring")
      .def_static(
          "create",
          [](std::string_view name, uint64_t capacity, std::string_view policy, uint32_t mode, uint32_t max_messages,
             bool retain, uint32_t max_kept, std::optional<uint64_t> warm_bytes, bool prefault) {
            return Unwrap(Ring::Create(name, capacity,
                                       {.policy = Unwrap(ParsePolicy(policy)),
                                        .max_messages = max_messages,
                                        .mode = mode,
                                        .retain = retain,
                                        .max_kept = max_kept,
                                        .warm_bytes = warm_bytes.value_or(RingOptions::kWarmDefault),
                                        .prefault = prefault}));
          },
          "name"_a, "capacity"_a, "policy"_a = "block", "mode"_a = 0600, "max_messages"_a = 0, "retain"_a = false,
          "max_kept"_a = 0, "warm_bytes"_a = nb::none(), "prefault"_a = false)
      .def_static(
          "attach", [](std::string_view name) { return Unwrap(Ring::Attach(name)); }, "name"_a)
      .def_static(
          "unlink", [](std::string_view name) { Unwrap(Ring::Unlink(name)); }, "name"_a)
      .def_static("list", &MappedSegment::List)
      .def_static(
          "find", [](uint64_t ring_id) { return Unwrap(Ring::Find(ring_id)); }, "ring_id"_a,
          "Name of the ring with this id, read from headers without attaching to any.")
      .def_prop_ro("name", &Ring::name)
      .def_prop_ro("ring_id", &Ring::ring_id)
      .def_prop_ro("capacity", &Ring::capacity)
      .def_prop_ro("policy", [](const Ring& r) { return std::string(PolicyName(r.policy())); })
      .def_prop_ro("data_address", [](const Ring& r) { return reinterpret_cast<uintptr_t>(r.data_region().data()); })
      .def_prop_ro("data_size", [](const Ring& r) { return r.data_region().size(); })
      .def(
          "try_allocate",
          [](Ring& r, uint64_t size) -> std::optional<PyWriteSlot> {
            auto slot = Unwrap(r.TryAllocate(size));
            if (!slot) return std::nullopt;
            PyWriteSlot result;
            result.slot.emplace(std::move(*slot));
            result.requested = size;
            return result;
          },
          "size"_a)
      .def(
          "allocate",
          [](Ring& r, uint64_t size, std::optional<double> timeout) -> std::optional<PyWriteSlot> {
            const auto wait = Timeout(timeout);
            Result<std::optional<WriteSlot>> slot = Error{Errc::kSystem, ""};
            {
              nb::gil_scoped_release unlocked;
              slot = r.Allocate(size, wait);
            }
            auto reserved = Unwrap(std::move(slot));
            if (!reserved) return std::nullopt;
            PyWriteSlot result;
            result.slot.emplace(std::move(*reserved));
            result.requested = size;
            return result;
          },
          "size"_a, "timeout"_a = nb::none())
      .def(
          "acquire",
          [](Ring& r, const Handle& handle) {
            PyReadSlot slot;
            slot.slot.emplace(Unwrap(r.Acquire(handle)));
            return slot;
          },
          "handle"_a)
      .def(
          "acquire_sequence",
          [](Ring& r, uint64_t sequence, uint64_t length) {
            PyReadSlot slot;
            slot.slot.emplace(Unwrap(r.AcquireSequence(sequence, length)));
            return slot;
          },
          "sequence"_a, "length"_a = 0)
      .def(
          "retire", [](Ring& r, uint64_t sequence) { Unwrap(r.Retire(sequence)); }, "sequence"_a)
      .def(
          "waive_deliveries", [](Ring& r, uint64_t sequence) { Unwrap(r.WaiveDeliveries(sequence)); }, "sequence"_a)
      .def_prop_ro("next_sequence", &Ring::next_sequence)
      .def_prop_ro("oldest_sequence", &Ring::oldest_sequence)
      .def_prop_ro("messages_read", &Ring::messages_read)
      .def(
          "subscribe",
          [](Ring& r, std::string_view name, std::string_view start) {
            if (start != "new" && start != "oldest") {
              Unwrap(Result<int>(Error{Errc::kInvalidArgument,
                                       "start must be \"new\" (messages published from now on) "
                                       "or \"oldest\" (every message still in the ring first), not \"" +
                                           std::string(start.substr(0, 40)) + "\""}));
            }
            return Unwrap(r.Subscribe(name, start == "oldest" ? SubscribeStart::kOldest : SubscribeStart::kNew));
          },
          "name"_a, "start"_a = "new")
      .def("handle_of", &Ring::HandleOf, "sequence"_a)
      .def("pending_deliveries", &Ring::PendingDeliveries, "sequence"_a)
      .def("stats_json", [](const Ring& r) { return StatsJson(r.Stats()); })
      .def("recover", [](Ring& r) {
        const RecoveryReport report = r.Recover();
        nb::dict result;
        result["dead_pids"] = nb::cast(report.dead_pids);
        result["aborted_writes"] = report.aborted_writes;
        result["released_references"] = report.released_references;
        result["removed_subscribers"] = report.removed_subscribers;
        result["reclaimed_bytes"] = report.reclaimed_bytes;
        return result;
      });

  BindCommitNotifier(m);  // after Ring, which it takes

#ifdef ARROWRING_PYTHON_LOANS
  BindLoans(m);  // after Ring, which LoanPublisher takes
  BindStreamWriting(m);
#else
  m.attr("LOANS") = false;
#endif
#ifdef ARROWRING_PYTHON_PYARROW_CPP
  if (arrow::py::import_pyarrow() != 0) throw nb::python_error();
  m.attr("NATIVE_TABLES") = true;
  BindTableReading(m);
  BindTablePublishing(m);  // after LoanPublisher, which it takes
#else
  m.attr("NATIVE_TABLES") = false;
#endif
}
