// LoanedBatch: a record batch whose buffers already lie in ring memory at the positions they
// will have in the published Arrow IPC stream (Publisher::Loan). The caller fills them in
// place; Commit() writes only the IPC framing around the body and publishes: no copy.
//
//   ARROW_ASSIGN_OR_RAISE(LoanedBatch loan, publisher.Loan(schema, 4096));
//   std::span<int64_t> ids = *loan.Values<int64_t>(0);
//   for (int64_t i = 0; i < loan.num_rows(); ++i) ids[i] = i;
//   ARROW_ASSIGN_OR_RAISE(Handle handle, loan.Commit());
//
// Layout (docs/design.md, "Loaned batches"): [schema message][record batch metadata][body]
// [end-of-stream]. Byte for byte what Arrow's stream writer produces for the same batch when
// every bitmap has nulls and every capacity is used up to the last column; otherwise the body
// has gaps where a dropped bitmap or unused capacity lies, which the metadata's buffer offsets
// step over (a valid stream for any Arrow reader), since nothing is moved at Commit.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include <arrow/array/data.h>
#include <arrow/buffer.h>
#include <arrow/ipc/writer.h>
#include <arrow/record_batch.h>
#include <arrow/result.h>
#include <arrow/type.h>

#include "arrowring/ring/ring.h"

namespace arrowring {

struct LoanOptions {
  /// Validity bitmaps for the nullable fields (and nullable children of nested fields), all
  /// bits set at first. false: no bitmap anywhere, every null count 0. Non-nullable fields
  /// never get one.
  bool validity = true;
  /// Wait for room as Publish does (up to PublishOptions::timeout); false: never wait.
  bool wait = true;
  /// The capacity of every variable-width top-level column, by field name: bytes of values
  /// for utf8/binary (and their large_ forms), bytes of the child's values for a list (or
  /// large_list) of a fixed-width type. The column's offsets say at Commit how much is used;
  /// what is left stays in the ring until the message is freed. Nothing moves at Commit: the
  /// capacity a column leaves unused is a gap in the published body (part of the message's
  /// bytes) unless only such tails follow it, where the body simply ends earlier. Put such
  /// columns last when their use varies.
  std::map<std::string, int64_t> capacities;
};

/// A loan of ring space holding one record batch at its final IPC positions: fixed-width
/// columns (and fixed-size lists and structs of them) of `num_rows` values, variable-width
/// columns (utf8, binary, lists of fixed-width values) up to a capacity. Move-only. Commit() publishes it; destroying
/// it uncommitted (or Abort()) frees the space and publishes nothing. One thread at a time.
class LoanedBatch {
 public:
  LoanedBatch(LoanedBatch&&) noexcept = default;
  LoanedBatch& operator=(LoanedBatch&&) noexcept = default;
  LoanedBatch(const LoanedBatch&) = delete;
  LoanedBatch& operator=(const LoanedBatch&) = delete;
  ~LoanedBatch() = default;  // ~WriteSlot aborts an uncommitted reservation

  const std::shared_ptr<arrow::Schema>& schema() const { return schema_; }
  int64_t num_rows() const { return num_rows_; }
  int num_columns() const { return static_cast<int>(columns_.size()); }

  /// The column's array data: buffers[0] the validity bitmap (null when the column has none),
  /// buffers[1] the values (arrow::MutableBuffer over ring memory), child_data for nested
  /// types. Fill the buffers in place; set null_count (or leave it unknown: Commit counts).
  /// Do not replace buffers.
  const std::shared_ptr<arrow::ArrayData>& column_data(int i) const { return columns_[i]; }
  /// The values buffer of a top-level fixed-width column (the bit-packed values of a boolean
  /// column). Variable-width columns have offsets() and data() instead.
  arrow::Result<std::shared_ptr<arrow::MutableBuffer>> values(int i) const;
  /// The validity bitmap of a top-level column (bit set: valid), or an error if it has none.
  arrow::Result<std::shared_ptr<arrow::MutableBuffer>> validity(int i) const;
  /// The values of a top-level fixed-width column as T (T's size must be the type's width).
  template <typename T>
  arrow::Result<std::span<T>> Values(int i) const {
    ARROW_ASSIGN_OR_RAISE(auto buffer, values(i));
    const auto* fw = dynamic_cast<const arrow::FixedWidthType*>(columns_[i]->type.get());
    if (fw == nullptr || columns_[i]->type->id() == arrow::Type::BOOL ||
        fw->bit_width() != 8 * static_cast<int>(sizeof(T))) {
      return arrow::Status::TypeError("column ", i, " (", columns_[i]->type->ToString(), ") is not ", sizeof(T),
                                      "-byte values");
    }
    return std::span<T>(reinterpret_cast<T*>(buffer->mutable_data()), static_cast<size_t>(num_rows_));
  }
  /// The offsets of a variable-width top-level column, num_rows + 1 of them, all 0 at first
  /// (every value empty): value r spans [offsets[r], offsets[r + 1]) of data(i) (or of the
  /// list's child). T is int32_t, or int64_t for the large_ types. At Commit offsets[0] must
  /// be 0 and offsets[num_rows] at most capacity(i); Commit does not read the ones between
  /// (O(columns)), so keep them non-decreasing or readers that validate will refuse the batch.
  template <typename T>
  arrow::Result<std::span<T>> Offsets(int i) const {
    ARROW_ASSIGN_OR_RAISE(auto buffer, offsets(i));
    if (buffer->size() != (num_rows_ + 1) * static_cast<int64_t>(sizeof(T))) {
      return arrow::Status::TypeError("column ", i, " (", columns_[i]->type->ToString(), ") does not have ", sizeof(T),
                                      "-byte offsets");
    }
    return std::span<T>(reinterpret_cast<T*>(buffer->mutable_data()), static_cast<size_t>(num_rows_ + 1));
  }
  /// The offsets buffer of a variable-width top-level column (see Offsets).
  arrow::Result<std::shared_ptr<arrow::MutableBuffer>> offsets(int i) const;
  /// The values of a utf8/binary top-level column, capacity(i) bytes; for a list column the
  /// child's values buffer (column_data(i)->child_data[0]), capacity(i) values.
  arrow::Result<std::shared_ptr<arrow::MutableBuffer>> data(int i) const;
  /// The most offsets[num_rows] of a variable-width column may be: bytes for utf8/binary,
  /// values for a list. 0 for a fixed-width column.
  int64_t capacity(int i) const { return capacities_[i]; }

  /// Sets the null count of a top-level column (saves Commit counting the bitmap, O(rows / 8)).
  void SetNullCount(int i, int64_t null_count) { columns_[i]->null_count = null_count; }

  /// The batch as Arrow sees it now (buffers in ring memory); valid until Commit or Abort.
  std::shared_ptr<arrow::RecordBatch> batch() const;

  /// Writes the framing (schema message, batch metadata, end-of-stream) and commits:
  /// O(columns), no byte of the body moves. The one part that reads the body: a validity
  /// bitmap whose null count is unknown (not set through SetNullCount or column_data) is
  /// counted, O(rows / 8) for it. A column with a validity bitmap and no nulls is published
  /// without it (null count 0, a buffer of length 0), as Arrow's writer does, and a
  /// variable-width column takes only the capacity its offsets use; what either leaves is a
  /// gap in the body that the metadata's buffer offsets step over. Offsets that do not start
  /// at 0 or end beyond the capacity are an Invalid error naming the column. The loan is
  /// finished afterwards, even on error: on error nothing is published and the space returns
  /// to the ring.
  arrow::Result<Handle> Commit();
  /// Publishes `batch` through this loan: `batch` has the loan's schema and row count, and
  /// its arrays may be the loan's own (batch(), or arrays made over the loan's buffers), any
  /// others (Arrow's builders, compute kernels), or a mix. A buffer that is the loan's own is
  /// published where it lies; any other is copied into the loan's place for it, and
  /// `copied`, when given, gets one line per such buffer naming the column, the buffer and the
  /// bytes ("column 'energy': values, 8000 bytes copied into the loan"): empty means nothing
  /// was copied. A batch that does not fit the loan (other schema or rows, nulls where the loan
  /// has no bitmap, values beyond a capacity, sliced arrays) is an Invalid error; nothing is
  /// published and the space returns, as for Commit().
  arrow::Result<Handle> Commit(const arrow::RecordBatch& batch, std::vector<std::string>* copied = nullptr);
  /// Frees the space without publishing (what destruction does).
  void Abort();

  /// Bytes reserved in the ring (the largest the stream can be).
  int64_t reserved_bytes() const { return reserved_; }
  /// The whole reservation (framing, body, end marker), every buffer of the batch inside it;
  /// empty once committed or aborted. For bindings that expose the memory as one object.
  std::span<std::byte> reservation() const {
    return slot_ ? slot_->data().first(static_cast<size_t>(reserved_)) : std::span<std::byte>();
  }
  bool active() const { return slot_.has_value(); }

  /// One buffer of the body (internal bookkeeping, exposed for the planner).
  struct BufferSpec {
    // What the buffer holds decides its size at Commit: a bitmap of owner->length bits (or
    // none without nulls), owner->length fixed-width values, num_rows + 1 offsets, or the
    // bytes the offsets use.
    enum class Role { kValidity, kValues, kOffsets, kData };
    arrow::ArrayData* owner;
    int index;       // in owner->buffers
    int64_t size;    // bytes, as reserved
    int64_t offset;  // in the body, as reserved
    Role role;
    int column = -1;  // the top-level column it belongs to
  };

 private:
  friend class Publisher;
  LoanedBatch() = default;

  std::shared_ptr<arrow::Schema> schema_;
  int64_t num_rows_ = 0;
  std::vector<std::shared_ptr<arrow::ArrayData>> columns_;
  std::vector<int64_t> capacities_;  // per column: offsets' limit, 0 if fixed-width
  std::vector<BufferSpec> buffers_;  // in IPC body order
  arrow::ipc::IpcWriteOptions ipc_options_;
  arrow::ipc::IpcPayload schema_payload_;
  int64_t body_start_ = 0;   // schema message + batch metadata
  int64_t body_length_ = 0;  // as reserved (every bitmap present, every capacity used)
  int64_t reserved_ = 0;
  uint32_t deliveries_ = 0;
  std::chrono::seconds delivery_ttl_{};
  std::optional<WriteSlot> slot_;
};

}  // namespace arrowring
