// Loans for Python (arrowring._core_arrow only): Publisher::Loan from the Arrow layer, its
// memory exported through the buffer protocol so NumPy views the ring in place.
//
// This part links libarrow — the very libarrow.so of the pyarrow wheel in the same environment:
// arrowring/_core.py imports pyarrow first, so the dynamic loader finds that soname already
// loaded and binds to it (one libarrow per process; python/tests/test_loan.py checks
// /proc/self/maps). The schema crosses over through the Arrow C data interface
// (`__arrow_c_schema__`, a PyCapsule holding an ArrowSchema), never as a pyarrow C++ object.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <arrow/c/abi.h>
#include <arrow/c/bridge.h>

#include "arrowring/ipc/pubsub.h"

namespace arrowring::python {

// An arrow::Status as the error Python sees: ours keep their Errc and message; Arrow's own
// become TooLarge (more than one IPC stream holds), InvalidArgument (bad schema or arguments)
// or System, with Arrow's message inside.
inline RingError StatusError(const arrow::Status& status, const std::string& context) {
  if (auto code = ErrcOf(status)) return RingError({*code, status.message()});
  if (status.IsCapacityError()) return RingError({Errc::kTooLarge, context + ": " + status.ToString()});
  const bool ours_to_fix = status.IsUnknownError() || status.IsIOError() || status.IsOutOfMemory();
  return RingError({ours_to_fix ? Errc::kSystem : Errc::kInvalidArgument, context + ": " + status.ToString()});
}

// One C++ Publisher per Python Publisher: it keeps the framing of its last loan, so a steady
// stream of loans of one schema builds no flatbuffer. A Publisher is one thread at a time and
// Python threads may share the object, hence the mutex (taken with the GIL released).
struct PyLoanPublisher {
  PyLoanPublisher(Ring ring, PublishOptions options) : publisher(std::move(ring), options) {}
  std::mutex mutex;
  Publisher publisher;
};

// A loan as Python holds it. The reservation is exported as one writable buffer while the
// loan is open; NumPy arrays are views of it. `ring` keeps the mapping alive as long as this
// object (and so every array over it) lives: after commit or abort the arrays point at ring
// memory that belongs to the ring again, but never at unmapped memory.
struct PyLoan {
  std::optional<LoanedBatch> loan;
  std::optional<Ring> ring;
  std::span<std::byte> memory;
  const char* ended = nullptr;  // "committed" or "aborted" once over
  Py_ssize_t exports = 0;
  // The nodes whose validity bitmap buffer() handed out: the only bitmaps Python can change
  // (LoanedBatch.validity()). Every other bitmap is as the loan made it, all valid.
  std::set<std::vector<int>> bitmaps_handed_out;

  bool open() const { return loan && loan->active(); }

  void RequireOpen(const char* what) const {
    if (!open()) {
      throw RingError({Errc::kBadState, std::string(what) + " on a loan that was " + (ended ? ended : "finished") +
                                            ": make a new loan (pub.loan(...))"});
    }
  }

  // Gives every bitmap never handed out, whose null count is still unknown, a null count of 0
  // (it is all valid as loaned), so that Commit counts only the bitmaps Python may have
  // changed: O(nodes), where counting is O(rows / 8) per bitmap.
  void TrustBitmapsNeverHandedOut() {
    std::vector<int> path;
    for (int c = 0; c < loan->num_columns(); ++c) {
      path.assign(1, c);
      TrustBitmapsNeverHandedOut(*loan->column_data(c), &path);
    }
  }
  void TrustBitmapsNeverHandedOut(arrow::ArrayData& node, std::vector<int>* path) {
    if (!node.buffers.empty() && node.buffers[0] != nullptr && node.null_count < 0 &&
        bitmaps_handed_out.count(*path) == 0) {
      node.null_count = 0;
    }
    for (size_t i = 0; i < node.child_data.size(); ++i) {
      path->push_back(static_cast<int>(i));
      TrustBitmapsNeverHandedOut(*node.child_data[i], path);
      path->pop_back();
    }
  }

  // The array data at `path`: a column index, then child indices (fixed-size list: 0; struct:
  // the field's index).
  arrow::ArrayData& Node(const std::vector<int>& path) const {
    if (path.empty() || path[0] < 0 || path[0] >= loan->num_columns()) {
      throw RingError({Errc::kInvalidArgument,
                       "no column " + (path.empty() ? std::string("(empty path)") : std::to_string(path[0])) +
                           " in a loan of " + std::to_string(loan->num_columns()) + " columns"});
    }
    arrow::ArrayData* node = loan->column_data(path[0]).get();
    for (size_t i = 1; i < path.size(); ++i) {
      if (path[i] < 0 || static_cast<size_t>(path[i]) >= node->child_data.size()) {
        throw RingError({Errc::kInvalidArgument, "no child " + std::to_string(path[i]) + " in a " +
                                                     node->type->ToString() + " column of the loan"});
      }
      node = node->child_data[path[i]].get();
    }
    return *node;
  }
};

inline int GetLoanBuffer(PyObject* self, Py_buffer* view, int flags) {
  PyLoan* loan = nb::inst_ptr<PyLoan>(self);
  if (!loan->open()) {
    // New views of a finished loan would write into a published message or into space the
    // ring gives to the next one.
    PyErr_SetString(PyExc_BufferError, "the loan was committed or aborted: its memory belongs to the ring again");
    view->obj = nullptr;
    return -1;
  }
  if (PyBuffer_FillInfo(view, self, loan->memory.data(), static_cast<Py_ssize_t>(loan->memory.size()), 0, flags) != 0) {
    return -1;
  }
  ++loan->exports;
  return 0;
}

inline void ReleaseLoanBuffer(PyObject* self, Py_buffer*) { --nb::inst_ptr<PyLoan>(self)->exports; }

inline PyType_Slot loan_slots[] = {{Py_bf_getbuffer, reinterpret_cast<void*>(GetLoanBuffer)},
                                   {Py_bf_releasebuffer, reinterpret_cast<void*>(ReleaseLoanBuffer)},
                                   {0, nullptr}};

inline void BindLoans(nb::module_& m) {
  m.attr("LOANS") = true;

  nb::class_<PyLoanPublisher>(m, "LoanPublisher", "The C++ Publisher behind Publisher.loan (keeps its framing).")
      .def(
          "__init__",
          [](PyLoanPublisher* self, const Ring& ring, std::optional<double> timeout, uint32_t deliveries,
             int64_t delivery_ttl) {
            PublishOptions options;
            options.timeout = Timeout(timeout);
            options.deliveries = deliveries;
            options.delivery_ttl = std::chrono::seconds(delivery_ttl);
            new (self) PyLoanPublisher(ring, options);
          },
          "ring"_a, "timeout"_a, "deliveries"_a, "delivery_ttl"_a)
      .def(
          "loan",
          [](PyLoanPublisher& p, nb::handle schema_capsule, int64_t num_rows, bool validity, bool wait,
             std::map<std::string, int64_t> capacities) {
            if (!PyCapsule_IsValid(schema_capsule.ptr(), "arrow_schema")) {
              throw RingError(
                  {Errc::kInvalidArgument, "the schema must be an 'arrow_schema' PyCapsule (__arrow_c_schema__)"});
            }
            auto* c_schema =
                static_cast<struct ArrowSchema*>(PyCapsule_GetPointer(schema_capsule.ptr(), "arrow_schema"));
            // ImportSchema moves the struct out (marks it released): the capsule's destructor then
            // has nothing left to free.
            auto schema = arrow::ImportSchema(c_schema);
            if (!schema.ok()) throw StatusError(schema.status(), "the schema could not be imported");
            arrow::Result<LoanedBatch> loan = arrow::Status::UnknownError("not loaned");
            {
              nb::gil_scoped_release unlocked;  // Loan may wait for room; other threads run meanwhile.
              std::lock_guard<std::mutex> lock(p.mutex);
              loan = p.publisher.Loan(*schema, num_rows,
                                      {.validity = validity, .wait = wait, .capacities = std::move(capacities)});
            }
            if (!loan.ok()) throw StatusError(loan.status(), "loan");
            PyLoan result;
            result.ring.emplace(p.publisher.ring());
            result.memory = loan->reservation();
            result.loan.emplace(std::move(*loan));
            return result;
          },
          "schema"_a, "num_rows"_a, "validity"_a = true, "wait"_a = true,
          "capacities"_a = std::map<std::string, int64_t>{});

  nb::class_<PyLoan>(m, "Loan", nb::type_slots(loan_slots),
                     "A loaned record batch in ring memory; a writable buffer while open.")
      .def_prop_ro("open", &PyLoan::open)
      .def_prop_ro("address", [](const PyLoan& l) { return reinterpret_cast<uintptr_t>(l.memory.data()); })
      .def_prop_ro("size", [](const PyLoan& l) { return l.memory.size(); })
      .def_prop_ro("num_rows", [](const PyLoan& l) { return l.loan ? l.loan->num_rows() : 0; })
      .def(
          "length",
          [](const PyLoan& l, const std::vector<int>& path) {
            l.RequireOpen("length()");
            return l.Node(path).length;
          },
          "path"_a)
      .def(
          "buffer",
          [](PyLoan& l, const std::vector<int>& path, int index) -> std::optional<std::pair<uint64_t, int64_t>> {
            l.RequireOpen("buffer()");
            const arrow::ArrayData& node = l.Node(path);
            if (index < 0 || static_cast<size_t>(index) >= node.buffers.size() || node.buffers[index] == nullptr) {
              return std::nullopt;
            }
            if (index == 0) l.bitmaps_handed_out.insert(path);  // Python may write it from now on
            const auto& buffer = node.buffers[index];
            const auto offset = reinterpret_cast<const std::byte*>(buffer->data()) - l.memory.data();
            return std::make_pair(static_cast<uint64_t>(offset), buffer->size());
          },
          "path"_a, "index"_a,
          "(offset in the reservation, bytes) of buffer `index` of the node at `path`, or None. Index 0 (the "
          "validity bitmap) marks the bitmap as one the commit counts unless given a null count.")
      .def(
          "set_null_count",
          [](PyLoan& l, const std::vector<int>& path, int64_t null_count) {
            l.RequireOpen("set_null_count()");
            arrow::ArrayData& node = l.Node(path);
            if (null_count < 0 || null_count > node.length) {
              throw RingError({Errc::kInvalidArgument, "null count " + std::to_string(null_count) + " outside 0.." +
                                                           std::to_string(node.length) + " (the column's rows)"});
            }
            if (node.buffers[0] == nullptr && null_count != 0) {
              throw RingError({Errc::kInvalidArgument,
                               "the column has no validity bitmap (its field is not nullable, or the loan was "
                               "made with validity=False), so its null count is 0"});
            }
            node.null_count = null_count;
          },
          "path"_a, "null_count"_a)
      .def("commit",
           [](PyLoan& l) {
             l.RequireOpen("commit()");
             l.TrustBitmapsNeverHandedOut();
             auto handle = l.loan->Commit();  // finished afterwards even on error (aborted)
             l.ended = handle.ok() ? "committed" : "aborted (its commit failed)";
             if (!handle.ok()) throw StatusError(handle.status(), "commit");
             return *handle;
           })
      .def("abort", [](PyLoan& l) {
        if (!l.open()) return;  // aborting a finished loan is a no-op, as for the with-block's exit
        l.loan->Abort();
        l.ended = "aborted";
      });
}

}  // namespace arrowring::python
