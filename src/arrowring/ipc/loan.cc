#include "arrowring/ipc/loan.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>

#include <arrow/array/util.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/dictionary.h>
#include <arrow/type_traits.h>
#include <arrow/util/bit_util.h>
#include <arrow/util/bitmap_ops.h>

#include "arrowring/ipc/internal/arrow_write_internal.h"
#include "arrowring/ipc/pubsub.h"  // defines Publisher::Loan
#include "arrowring/ipc/ring_status.h"

namespace arrowring {
namespace {

constexpr int64_t kEndOfStream = 8;  // continuation marker + zero length
// The most values one Arrow array may hold in IPC (Arrow's writer refuses more). Checked
// before any size arithmetic, which it also keeps from overflowing.
constexpr int64_t kMaxArrayLength = std::numeric_limits<int32_t>::max();

int64_t Pad8(int64_t n) { return arrow::bit_util::RoundUpToMultipleOf8(n); }

// A non-null address for buffers before the reservation exists (never dereferenced: Arrow
// only reads sizes while building metadata).
alignas(64) uint8_t placeholder[64];

using Role = LoanedBatch::BufferSpec::Role;

bool IsBinaryLike(arrow::Type::type id) {
  return id == arrow::Type::STRING || id == arrow::Type::BINARY || id == arrow::Type::LARGE_STRING ||
         id == arrow::Type::LARGE_BINARY;
}
bool IsList(arrow::Type::type id) { return id == arrow::Type::LIST || id == arrow::Type::LARGE_LIST; }
bool IsVariableWidth(arrow::Type::type id) { return IsBinaryLike(id) || IsList(id); }
int OffsetWidth(arrow::Type::type id) {
  return id == arrow::Type::LARGE_STRING || id == arrow::Type::LARGE_BINARY || id == arrow::Type::LARGE_LIST ? 8 : 4;
}

// Bytes of `length` values of a fixed-width type (bit-packed for booleans).
int64_t ValueBytes(const arrow::DataType& type, int64_t length) {
  return arrow::bit_util::BytesForBits(length * static_cast<const arrow::FixedWidthType&>(type).bit_width());
}

// Whether a loan can hold `type` as fixed-width values: numbers, booleans, temporal,
// decimals, fixed-size binary, and fixed-size lists and structs of them.
bool IsLoanableFixedWidth(const arrow::DataType& type) {
  const arrow::Type::type id = type.id();
  if (id == arrow::Type::FIXED_SIZE_LIST) {
    return IsLoanableFixedWidth(*static_cast<const arrow::FixedSizeListType&>(type).value_type());
  }
  if (id == arrow::Type::STRUCT) {
    for (const auto& child : type.fields()) {
      if (!IsLoanableFixedWidth(*child->type())) return false;
    }
    return true;
  }
  if (id == arrow::Type::BOOL) return true;
  if (arrow::is_primitive(id) || arrow::is_temporal(id) || arrow::is_decimal(id) ||
      id == arrow::Type::FIXED_SIZE_BINARY || id == arrow::Type::INTERVAL_MONTH_DAY_NANO) {
    return static_cast<const arrow::FixedWidthType&>(type).bit_width() % 8 == 0;
  }
  return false;
}

// Builds the array data of `field` with `length` rows, placeholder buffers, and appends its
// buffers to `specs` in the order Arrow's writer puts them in the body (pre-order: a node's
// validity, its values or offsets and data, then its children). `capacity` is the
// variable-width capacity of a top-level column (bytes; -1: none given); nested fields never
// have one. Sets `unsupported` for a type a loan cannot hold.
arrow::Result<std::shared_ptr<arrow::ArrayData>> Plan(const arrow::Field& field, int64_t length, int64_t capacity,
                                                      bool validity, std::vector<LoanedBatch::BufferSpec>* specs,
                                                      std::string* unsupported) {
  const auto& type = field.type();
  auto data = arrow::ArrayData::Make(type, length, {nullptr}, 0);
  auto add = [&](int index, int64_t size, Role role) {
    data->buffers.resize(std::max<size_t>(data->buffers.size(), static_cast<size_t>(index) + 1));
    data->buffers[index] = std::make_shared<arrow::MutableBuffer>(placeholder, size);
    specs->push_back({data.get(), index, size, 0, role});
  };
  if (validity && field.nullable()) {
    add(0, arrow::bit_util::BytesForBits(length), Role::kValidity);
    data->null_count = 1;  // every bitmap present while sizing (see Commit)
  }
  const arrow::Type::type id = type->id();
  if (IsVariableWidth(id)) {
    if (capacity < 0) {
      *unsupported = type->ToString() + " (field '" + field.name() +
                     "') without a capacity: give one in "
                     "LoanOptions::capacities (Python: capacities=); only top-level columns take one";
      return data;
    }
    // With no rows, offsets[0] = offsets[num_rows] = 0: nothing of a capacity could be used,
    // and Arrow's writer gives such a column no values at all.
    if (length == 0) capacity = 0;
    add(1, (length + 1) * OffsetWidth(id), Role::kOffsets);
    if (IsBinaryLike(id)) {
      add(2, capacity, Role::kData);
      return data;
    }
    const auto& value_field = static_cast<const arrow::BaseListType&>(*type).value_field();
    const auto& value_type = *value_field->type();
    if (!IsLoanableFixedWidth(value_type) || value_type.id() == arrow::Type::FIXED_SIZE_LIST ||
        value_type.id() == arrow::Type::STRUCT) {
      *unsupported = type->ToString() + " (field '" + field.name() +
                     "'): a loaned list holds fixed-width "
                     "values (numbers, booleans, temporal, decimals, fixed-size binary)";
      return data;
    }
    // The capacity in values: as many whole values as the bytes hold.
    const int64_t values = capacity * 8 / static_cast<const arrow::FixedWidthType&>(value_type).bit_width();
    if (values > kMaxArrayLength) {
      return ToStatus({Errc::kTooLarge, "field '" + field.name() + "' (" + type->ToString() + "): a capacity of " +
                                            std::to_string(capacity) + " bytes holds " + std::to_string(values) +
                                            " values, more than the 2^31 - 1 an Arrow array holds; give a smaller "
                                            "capacity"});
    }
    ARROW_ASSIGN_OR_RAISE(auto child, Plan(*value_field, values, -1, validity, specs, unsupported));
    data->child_data.push_back(std::move(child));
    return data;
  }
  if (!IsLoanableFixedWidth(*type)) {
    *unsupported = type->ToString() + " (field '" + field.name() + "')";
    return data;
  }
  if (id == arrow::Type::FIXED_SIZE_LIST) {
    const auto& list = static_cast<const arrow::FixedSizeListType&>(*type);
    const int64_t values = length * list.list_size();  // both <= 2^31 - 1: no overflow
    if (values > kMaxArrayLength) {
      return ToStatus({Errc::kTooLarge, "field '" + field.name() + "' (" + type->ToString() +
                                            "): " + std::to_string(length) + " lists make " + std::to_string(values) +
                                            " values, more than the 2^31 - 1 an Arrow array holds; loan fewer "
                                            "rows per batch"});
    }
    ARROW_ASSIGN_OR_RAISE(auto child, Plan(*list.value_field(), values, -1, validity, specs, unsupported));
    data->child_data.push_back(std::move(child));
  } else if (id == arrow::Type::STRUCT) {
    for (const auto& child_field : type->fields()) {
      ARROW_ASSIGN_OR_RAISE(auto child, Plan(*child_field, length, -1, validity, specs, unsupported));
      data->child_data.push_back(std::move(child));
    }
  } else {
    add(1, ValueBytes(*type, length), Role::kValues);
  }
  return data;
}

// Sets the length of `node` and of the nodes below it that follow it (fixed-size lists'
// values, structs' fields): a list's values at Commit, once its offsets say how many.
void SetLength(arrow::ArrayData* node, int64_t length) {
  node->length = length;
  if (node->type->id() == arrow::Type::FIXED_SIZE_LIST) {
    SetLength(node->child_data[0].get(),
              length * static_cast<const arrow::FixedSizeListType&>(*node->type).list_size());
  } else if (node->type->id() == arrow::Type::STRUCT) {
    for (auto& child : node->child_data) SetLength(child.get(), length);
  }
}

// The last offset of a variable-width node whose offsets start at 0; an error naming the
// column otherwise, or when it exceeds `capacity`.
arrow::Result<int64_t> UsedCapacity(const arrow::ArrayData& node, const uint8_t* offsets, int64_t capacity,
                                    const std::string& column) {
  int64_t first, last;
  if (OffsetWidth(node.type->id()) == 8) {
    std::memcpy(&first, offsets, 8);
    std::memcpy(&last, offsets + 8 * node.length, 8);
  } else {
    int32_t first32, last32;
    std::memcpy(&first32, offsets, 4);
    std::memcpy(&last32, offsets + 4 * node.length, 4);
    first = first32;
    last = last32;
  }
  if (first != 0) {
    return arrow::Status::Invalid("column '", column, "': offsets[0] is ", first, "; a loan's offsets start at 0");
  }
  if (last < 0 || last > capacity) {
    return arrow::Status::Invalid(
        "column '", column, "': offsets[", node.length, "] is ", last, ", beyond the loan's capacity of ", capacity,
        IsList(node.type->id()) ? " values" : " bytes", ": loan with a larger capacity (LoanOptions::capacities)");
  }
  return last;
}

}  // namespace

arrow::Result<std::shared_ptr<arrow::MutableBuffer>> LoanedBatch::values(int i) const {
  if (!slot_) return ToStatus({Errc::kBadState, "the loan is committed or aborted"});
  if (i < 0 || i >= num_columns()) return arrow::Status::IndexError("no column ", i);
  const auto& data = columns_[i];
  if (IsVariableWidth(data->type->id())) {
    return arrow::Status::TypeError("column ", i, " (", data->type->ToString(),
                                    ") is variable-width: fill offsets(i) and data(i)");
  }
  if (data->buffers.size() < 2 || data->buffers[1] == nullptr) {
    return arrow::Status::TypeError("column ", i, " (", data->type->ToString(), ") has no values buffer");
  }
  return std::static_pointer_cast<arrow::MutableBuffer>(data->buffers[1]);
}

arrow::Result<std::shared_ptr<arrow::MutableBuffer>> LoanedBatch::offsets(int i) const {
  if (!slot_) return ToStatus({Errc::kBadState, "the loan is committed or aborted"});
  if (i < 0 || i >= num_columns()) return arrow::Status::IndexError("no column ", i);
  const auto& data = columns_[i];
  if (!IsVariableWidth(data->type->id())) {
    return arrow::Status::TypeError("column ", i, " (", data->type->ToString(), ") has no offsets: fill values(i)");
  }
  return std::static_pointer_cast<arrow::MutableBuffer>(data->buffers[1]);
}

arrow::Result<std::shared_ptr<arrow::MutableBuffer>> LoanedBatch::data(int i) const {
  ARROW_RETURN_NOT_OK(offsets(i).status());
  const auto& data = columns_[i];
  const auto& holder = IsList(data->type->id()) ? data->child_data[0] : data;
  return std::static_pointer_cast<arrow::MutableBuffer>(holder->buffers[IsList(data->type->id()) ? 1 : 2]);
}

arrow::Result<std::shared_ptr<arrow::MutableBuffer>> LoanedBatch::validity(int i) const {
  if (!slot_) return ToStatus({Errc::kBadState, "the loan is committed or aborted"});
  if (i < 0 || i >= num_columns()) return arrow::Status::IndexError("no column ", i);
  if (columns_[i]->buffers[0] == nullptr) {
    return arrow::Status::Invalid("column ", i,
                                  " has no validity bitmap (field not nullable, or "
                                  "LoanOptions::validity false)");
  }
  return std::static_pointer_cast<arrow::MutableBuffer>(columns_[i]->buffers[0]);
}

std::shared_ptr<arrow::RecordBatch> LoanedBatch::batch() const {
  std::vector<std::shared_ptr<arrow::Array>> arrays;
  arrays.reserve(columns_.size());
  for (const auto& column : columns_) arrays.push_back(arrow::MakeArray(column));
  return arrow::RecordBatch::Make(schema_, num_rows_, std::move(arrays));
}

void LoanedBatch::Abort() {
  if (slot_) slot_->Abort();
  slot_.reset();
}

namespace {

// Makes the loaned node `target` hold what `source` holds, `length` values of it: buffers that
// already are the loan's (same address) stay, others are copied in and noted in `copied`.
// `name` names the node in errors and notes.
arrow::Status Adopt(const arrow::ArrayData& source, arrow::ArrayData& target, int64_t length, int64_t capacity,
                    const std::string& name, std::vector<std::string>* copied) {
  if (source.offset != 0) {
    return arrow::Status::Invalid("column '", name, "' is a slice (offset ", source.offset,
                                  "): a loan publishes whole arrays; publish slices with Publish");
  }
  if (source.length < length) {
    return arrow::Status::Invalid("column '", name, "' has ", source.length, " values, the loan ", length);
  }
  auto take = [&](int index, int64_t bytes, const char* what) {
    const auto& from = index < static_cast<int>(source.buffers.size()) ? source.buffers[index] : nullptr;
    const auto& to = target.buffers[index];
    if (bytes == 0 || (from != nullptr && from->data() == to->data())) return arrow::Status::OK();
    if (from == nullptr || from->size() < bytes) {
      return arrow::Status::Invalid("column '", name, "': its ", what, " buffer holds ", from ? from->size() : 0,
                                    " bytes, ", bytes, " needed");
    }
    std::memmove(to->mutable_data(), from->data(), static_cast<size_t>(bytes));  // may be ring memory too
    if (copied != nullptr) {
      copied->push_back("column '" + name + "': " + what + ", " + std::to_string(bytes) +
                        " bytes copied into the loan");
    }
    return arrow::Status::OK();
  };
  // Nulls among the `length` values taken (a list's values may run past what its offsets use).
  const bool has_bitmap = !source.buffers.empty() && source.buffers[0] != nullptr && source.null_count != 0;
  const int64_t nulls = !has_bitmap ? 0
                        : source.length == length
                            ? source.GetNullCount()
                            : length - arrow::internal::CountSetBits(source.buffers[0]->data(), 0, length);
  if (nulls > 0) {
    if (target.buffers[0] == nullptr) {
      return arrow::Status::Invalid("column '", name, "' has ", nulls, " nulls and its loan no validity bitmap: ",
                                    "loan with a nullable field and LoanOptions::validity");
    }
    ARROW_RETURN_NOT_OK(take(0, arrow::bit_util::BytesForBits(length), "validity bitmap"));
  }
  if (target.buffers[0] != nullptr) target.null_count = nulls;  // none: Commit drops the bitmap
  const arrow::Type::type id = target.type->id();
  if (IsVariableWidth(id)) {
    const int width = OffsetWidth(id);
    ARROW_RETURN_NOT_OK(take(1, (length + 1) * width, "offsets"));
    const uint8_t* offsets = target.buffers[1]->data();
    int64_t last = 0;
    std::memcpy(&last, offsets + width * length, static_cast<size_t>(width));  // little endian
    if (width == 4) last = static_cast<int32_t>(last);
    if (last < 0 || last > capacity) {
      return arrow::Status::Invalid("column '", name, "' uses ", last, IsList(id) ? " values" : " bytes",
                                    ", beyond the loan's capacity of ", capacity,
                                    ": loan with a larger capacity (LoanOptions::capacities)");
    }
    if (IsBinaryLike(id)) return take(2, last, "values");
    if (source.child_data.empty()) return arrow::Status::Invalid("column '", name, "' has no list values");
    return Adopt(*source.child_data[0], *target.child_data[0], last, 0, name + ".values", copied);
  }
  if (id == arrow::Type::FIXED_SIZE_LIST) {
    const int32_t size = static_cast<const arrow::FixedSizeListType&>(*target.type).list_size();
    return Adopt(*source.child_data[0], *target.child_data[0], length * size, 0, name + ".values", copied);
  }
  if (id == arrow::Type::STRUCT) {
    for (size_t c = 0; c < target.child_data.size(); ++c) {
      ARROW_RETURN_NOT_OK(Adopt(*source.child_data[c], *target.child_data[c], length, 0,
                                name + "." + target.type->field(static_cast<int>(c))->name(), copied));
    }
    return arrow::Status::OK();
  }
  return take(1, ValueBytes(*target.type, length), "values");
}

// The record batch message `metadata` (a flatbuffer Message as Arrow's writer makes it, its
// body laid out packed) with the body laid out as the loan has it: buffer i at `offsets[i]`
// (lengths unchanged) and a body of `body_length` bytes. The same buffer when that is already
// so; otherwise a copy (a few hundred bytes: O(columns)) with those fields set in place, which
// keeps its size. Reads only what Message.fbs fixes: Message { version, header_type, header,
// bodyLength, ... } and RecordBatch { length, nodes, buffers: [Buffer { offset, length }], ... }.
arrow::Result<std::shared_ptr<arrow::Buffer>> WithBodyLayout(std::shared_ptr<arrow::Buffer> metadata,
                                                             const std::vector<int64_t>& offsets, int64_t body_length) {
  const uint8_t* fb = metadata->data();
  const int64_t size = metadata->size();
  auto unexpected = [](const char* what) {
    return arrow::Status::UnknownError("loan framing: Arrow's record batch metadata is not as expected (", what, ")");
  };
  auto read = [&](int64_t at, auto* out) {
    if (at < 0 || at + static_cast<int64_t>(sizeof(*out)) > size) return false;
    std::memcpy(out, fb + at, sizeof(*out));  // little endian, as flatbuffers are
    return true;
  };
  // Where field `id` of the table at `table` lies, or 0 when the table leaves it out.
  auto field = [&](int64_t table, int64_t id) -> int64_t {
    int32_t to_vtable;
    uint16_t vtable_size, at = 0;
    if (!read(table, &to_vtable) || !read(table - to_vtable, &vtable_size)) return 0;
    const int64_t entry = 4 + 2 * id;  // after the vtable's own size and the table's
    if (entry + 2 > vtable_size || !read(table - to_vtable + entry, &at)) return 0;
    return at == 0 ? 0 : table + at;
  };
  // The table or vector an offset field at `at` points to (0: the field is absent).
  auto follow = [&](int64_t at) -> int64_t {
    uint32_t to;
    return at != 0 && read(at, &to) ? at + to : 0;
  };
  constexpr uint8_t kRecordBatchHeader = 3;  // MessageHeader.RecordBatch
  uint8_t header_type = 0;
  uint32_t root = 0;
  const int64_t message = read(0, &root) ? root : 0;
  const int64_t header_type_at = message == 0 ? 0 : field(message, 1);
  if (header_type_at == 0 || !read(header_type_at, &header_type) || header_type != kRecordBatchHeader) {
    return unexpected("no record batch header");
  }
  const int64_t batch = follow(field(message, 2));
  const int64_t buffers = batch == 0 ? 0 : follow(field(batch, 2));
  uint32_t count = 0;
  if (buffers == 0 || !read(buffers, &count) || count != offsets.size() || buffers + 4 + int64_t{16} * count > size) {
    return unexpected("its buffers are not the batch's");
  }
  // Buffer i's offset field: the first of its struct { offset: long, length: long }.
  auto offset_at = [&](size_t i) { return buffers + 4 + 16 * static_cast<int64_t>(i); };
  const int64_t body_length_at = field(message, 3);  // absent: 0, the default
  int64_t old_body_length = 0;
  if (body_length_at != 0 && !read(body_length_at, &old_body_length)) return unexpected("bodyLength");
  if (body_length_at == 0 && body_length != 0) return unexpected("no bodyLength");
  bool same = old_body_length == body_length;
  for (size_t i = 0; same && i < offsets.size(); ++i) {
    int64_t offset;
    same = read(offset_at(i), &offset) && offset == offsets[i];
  }
  if (same) return metadata;
  ARROW_ASSIGN_OR_RAISE(std::shared_ptr<arrow::Buffer> patched, arrow::AllocateBuffer(size));
  uint8_t* out = patched->mutable_data();
  std::memcpy(out, fb, static_cast<size_t>(size));
  for (size_t i = 0; i < offsets.size(); ++i) std::memcpy(out + offset_at(i), &offsets[i], 8);
  if (body_length_at != 0) std::memcpy(out + body_length_at, &body_length, 8);
  return patched;
}

}  // namespace

arrow::Result<Handle> LoanedBatch::Commit(const arrow::RecordBatch& batch, std::vector<std::string>* copied) {
  if (!slot_) return ToStatus({Errc::kBadState, "the loan is already committed or aborted"});
  arrow::Status fits;
  if (!batch.schema()->Equals(*schema_, /*check_metadata=*/true)) {
    fits = arrow::Status::Invalid("the batch's schema is not the loan's: ", batch.schema()->ToString(), " vs ",
                                  schema_->ToString());
  } else if (batch.num_rows() != num_rows_) {
    fits = arrow::Status::Invalid("the batch has ", batch.num_rows(), " rows, the loan ", num_rows_);
  }
  for (int c = 0; fits.ok() && c < num_columns(); ++c) {
    fits = Adopt(*batch.column_data(c), *columns_[c], num_rows_, capacities_[c], schema_->field(c)->name(), copied);
  }
  if (!fits.ok()) {
    Abort();  // as Commit() does on error: nothing published, the space returned
    return fits;
  }
  return Commit();
}

arrow::Result<Handle> LoanedBatch::Commit() {
  if (!slot_) return ToStatus({Errc::kBadState, "the loan is already committed or aborted"});
  // Finished whatever happens: on error the slot aborts as it goes.
  WriteSlot slot = std::move(*slot_);
  slot_.reset();
  auto* base = reinterpret_cast<uint8_t*>(slot.data().data());
  uint8_t* body = base + body_start_;

  // Each buffer's published size, in body order (parents before children): null counts decide
  // which bitmaps Arrow's writer keeps (only those with nulls); offsets decide how much of a
  // variable-width column's capacity is used, and so a list's values' length. Every buffer
  // stays where the loan put it: a dropped bitmap, or capacity left unused, is a gap in the
  // body that the batch's metadata steps over (each IPC buffer has its own offset), never a
  // move of the bytes after it.
  std::vector<int64_t> used(columns_.size(), 0);
  for (auto& spec : buffers_) {
    arrow::ArrayData& owner = *spec.owner;
    int64_t size = spec.size;
    switch (spec.role) {
      case Role::kValidity:
        if (owner.null_count < 0) owner.null_count = owner.GetNullCount();  // counts the bitmap: O(rows / 8)
        if (owner.null_count > owner.length) {
          return arrow::Status::Invalid("null count ", owner.null_count, " exceeds the length ", owner.length, " of a ",
                                        owner.type->ToString(), " array");
        }
        size = owner.null_count == 0 ? 0 : arrow::bit_util::BytesForBits(owner.length);
        break;
      case Role::kValues: size = ValueBytes(*owner.type, owner.length); break;
      case Role::kOffsets: {  // top-level only (Plan)
        ARROW_ASSIGN_OR_RAISE(used[spec.column], UsedCapacity(owner, body + spec.offset, capacities_[spec.column],
                                                              schema_->field(spec.column)->name()));
        if (IsList(owner.type->id())) SetLength(owner.child_data[0].get(), used[spec.column]);
        break;
      }
      case Role::kData: size = used[spec.column]; break;
    }
    if (size == 0 && spec.role == Role::kValidity) {
      owner.buffers[0] = nullptr;
      continue;
    }
    uint8_t* at = body + spec.offset;
    if (size != owner.buffers[spec.index]->size() || owner.buffers[spec.index]->data() != at) {
      owner.buffers[spec.index] = std::make_shared<arrow::MutableBuffer>(at, size);
    }
    std::memset(at + size, 0, static_cast<size_t>(Pad8(size) - size));  // Arrow's zero padding
  }

  // Arrow's writer frames the batch as if its buffers were packed; the metadata then gets the
  // loan's own layout: each buffer's offset in the body, and the body's length up to the end
  // of the last buffer (capacity unused at the very end is not part of the message).
  arrow::ipc::IpcPayload payload;
  ARROW_RETURN_NOT_OK(arrow::ipc::GetRecordBatchPayload(*batch(), ipc_options_, &payload));
  std::vector<int64_t> offsets;
  offsets.reserve(payload.body_buffers.size());
  int64_t body_length = 0;  // the end of the last buffer so far (padded)
  for (const auto& buffer : payload.body_buffers) {
    const int64_t size = buffer ? buffer->size() : 0;
    if (size == 0) {  // an absent bitmap: no bytes, at the end of what precedes it
      offsets.push_back(body_length);
      continue;
    }
    const int64_t at = buffer->data() - body;
    if (at < body_length || at % 8 != 0 || at + Pad8(size) > body_length_) {
      return arrow::Status::UnknownError("loan layout disagrees with Arrow's writer: a buffer of ", size,
                                         " bytes at body offset ", at, ", after ", body_length);
    }
    offsets.push_back(at);
    body_length = at + Pad8(size);
  }
  ARROW_ASSIGN_OR_RAISE(payload.metadata, WithBodyLayout(payload.metadata, offsets, body_length));
  payload.body_length = body_length;
  payload.body_buffers.clear();  // in place already: write only the framing

  auto target = std::make_shared<arrow::MutableBuffer>(base, reserved_);
  arrow::io::FixedSizeBufferWriter sink(target);
  ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::internal::MakePayloadStreamWriter(&sink, ipc_options_));
  ARROW_RETURN_NOT_OK(writer->Start());
  ARROW_RETURN_NOT_OK(writer->WritePayload(schema_payload_));
  ARROW_RETURN_NOT_OK(writer->WritePayload(payload));
  ARROW_ASSIGN_OR_RAISE(const int64_t metadata_end, sink.Tell());
  if (metadata_end != body_start_) {
    return arrow::Status::UnknownError("loan framing disagrees with Arrow's writer: body starts at ", metadata_end,
                                       ", laid out at ", body_start_);
  }
  ARROW_RETURN_NOT_OK(sink.Seek(body_start_ + body_length));
  ARROW_RETURN_NOT_OK(writer->Close());  // end-of-stream
  ARROW_ASSIGN_OR_RAISE(const int64_t total, sink.Tell());
  auto handle = slot.Commit(static_cast<uint64_t>(total), deliveries_, delivery_ttl_);
  if (!handle.ok()) return ToStatus(handle.error());
  return *handle;
}

arrow::Result<LoanedBatch> Publisher::Loan(const std::shared_ptr<arrow::Schema>& schema, int64_t num_rows,
                                           const LoanOptions& loan_options) {
  if (schema == nullptr) return ToStatus({Errc::kInvalidArgument, "Loan needs a schema"});
  if (num_rows < 0) {
    return ToStatus({Errc::kInvalidArgument, "a loan needs num_rows >= 0, not " + std::to_string(num_rows)});
  }
  if (num_rows > kMaxArrayLength) {
    return ToStatus({Errc::kTooLarge, "a loan of " + std::to_string(num_rows) +
                                          " rows: an Arrow record batch holds at most 2^31 - 1; loan fewer rows "
                                          "per batch"});
  }
  if (options_.write.compression != Compression::kNone) {
    return ToStatus({Errc::kInvalidArgument,
                     "a loan cannot be compressed (the body is written in place); publish with "
                     "Compression::kNone or use Publish"});
  }
  LoanedBatch loan;
  loan.schema_ = schema;
  loan.num_rows_ = num_rows;
  for (const auto& [name, capacity] : loan_options.capacities) {
    const auto field = schema->GetFieldByName(name);
    if (field != nullptr && IsVariableWidth(field->type()->id()) && capacity > 0) {
      // 32-bit offsets address at most 2^31 - 1 bytes (or list values); anything past the
      // ring's size can never be reserved (kTooLarge), and is refused before it overflows.
      const arrow::Type::type id = field->type()->id();
      const int64_t limit = OffsetWidth(id) == 4 ? std::numeric_limits<int32_t>::max() : (int64_t{1} << 56);
      if (capacity > limit) {
        return ToStatus(
            {OffsetWidth(id) == 4 && capacity <= (int64_t{1} << 56) ? Errc::kInvalidArgument : Errc::kTooLarge,
             "LoanOptions::capacities['" + name + "'] = " + std::to_string(capacity) + ": more than " +
                 std::to_string(limit) +
                 (OffsetWidth(id) == 4 ? " (32-bit offsets: use the large_ type)" : ", beyond any ring")});
      }
    }
    if (field == nullptr || !IsVariableWidth(field->type()->id()) || capacity < 0) {
      return ToStatus(
          {Errc::kInvalidArgument, "LoanOptions::capacities['" + name + "'] = " + std::to_string(capacity) + ": " +
                                       (field == nullptr ? "the schema has no (unique) field of that name"
                                        : capacity < 0   ? "a capacity is a number of bytes, 0 or more"
                                                         : "the column is fixed-width (" + field->type()->ToString() +
                                                             "); only utf8, binary and list columns take a capacity")});
    }
    // A capacity no ring could hold, said before any size arithmetic with it.
    if (static_cast<uint64_t>(capacity) > ring_.capacity()) {
      return ToStatus({Errc::kTooLarge, "LoanOptions::capacities['" + name + "'] = " + std::to_string(capacity) +
                                            " bytes; ring '" + ring_.name() + "' holds at most " +
                                            std::to_string(ring_.capacity()) +
                                            ": use a bigger ring or a smaller capacity"});
    }
  }
  std::string unsupported;
  for (const auto& field : schema->fields()) {
    const auto capacity = loan_options.capacities.find(field->name());
    const size_t first_spec = loan.buffers_.size();
    ARROW_ASSIGN_OR_RAISE(auto data,
                          Plan(*field, num_rows, capacity == loan_options.capacities.end() ? -1 : capacity->second,
                               loan_options.validity, &loan.buffers_, &unsupported));
    if (!unsupported.empty()) {
      return ToStatus(
          {Errc::kInvalidArgument, "column '" + field->name() +
                                       "': a loan holds fixed-width columns (numbers, "
                                       "booleans, temporal, decimals, fixed-size binary, and fixed-size lists and "
                                       "structs of them) and, with a capacity, utf8, binary and lists of fixed-width "
                                       "values; " +
                                       unsupported +
                                       " is not one: publish such tables with Publish "
                                       "(Python: publish())"});
    }
    for (size_t k = first_spec; k < loan.buffers_.size(); ++k)
      loan.buffers_[k].column = static_cast<int>(loan.columns_.size());
    // What offsets[num_rows] may reach: bytes for utf8/binary, values for a list.
    const arrow::Type::type id = field->type()->id();
    loan.capacities_.push_back(IsBinaryLike(id) ? capacity->second : IsList(id) ? data->child_data[0]->length : 0);
    loan.columns_.push_back(std::move(data));
  }
  int64_t offset = 0;
  for (auto& spec : loan.buffers_) {
    spec.offset = offset;
    offset += Pad8(spec.size);
    // Said here, before Arrow frames a batch no ring could hold (each buffer is below 2^62
    // bytes — at most 2^31 - 1 values of at most 2^31 bytes, or a capacity no larger than the
    // ring — so the sum cannot overflow before it passes any ring's capacity).
    if (static_cast<uint64_t>(offset) > ring_.capacity()) {
      return ToStatus({Errc::kTooLarge, "a loan of " + std::to_string(num_rows) + " rows needs more than " +
                                            std::to_string(offset) + " bytes; ring '" + ring_.name() +
                                            "' holds at most " + std::to_string(ring_.capacity()) +
                                            ": use a bigger ring or fewer rows per loan"});
    }
  }
  loan.body_length_ = offset;

  // The framing's size from Arrow itself: metadata depends on structure, lengths and buffer
  // sizes only, and every bitmap is present here (null counts 1), the largest it can be.
  // Keyed on the schema message written, not on Schema::Equals: schemas Arrow calls equal
  // can serialize differently (metadata absent against empty).
  bool same = loan_framing_ && loan_framing_->num_rows == num_rows && loan_framing_->validity == loan_options.validity;
  if (same && loan_framing_->schema != schema) {
    arrow::ipc::DictionaryFieldMapper mapper(*schema);
    arrow::ipc::IpcPayload schema_payload;
    ARROW_RETURN_NOT_OK(arrow::ipc::GetSchemaPayload(*schema, loan_framing_->ipc_options, mapper, &schema_payload));
    same = schema_payload.metadata->Equals(*loan_framing_->schema_payload.metadata);
    if (same) loan_framing_->schema = schema;
  }
  if (!same) {
    // Arrow's writer reads the first and last offset of a variable-width column to size its
    // values: give it zeros ending at the capacity (calloc: untouched pages stay unmapped).
    std::vector<std::unique_ptr<void, decltype(&std::free)>> sizing_offsets;
    for (auto& spec : loan.buffers_) {
      if (spec.role != Role::kOffsets) continue;
      void* zeros = std::calloc(static_cast<size_t>(spec.size), 1);
      if (zeros == nullptr) return arrow::Status::OutOfMemory("sizing a loan's offsets");
      sizing_offsets.emplace_back(zeros, &std::free);
      auto* bytes = static_cast<uint8_t*>(zeros);
      const int64_t last = loan.capacities_[spec.column];
      if (OffsetWidth(spec.owner->type->id()) == 8) {
        std::memcpy(bytes + spec.size - 8, &last, 8);
      } else {
        const auto last32 = static_cast<int32_t>(last);
        std::memcpy(bytes + spec.size - 4, &last32, 4);
      }
      spec.owner->buffers[spec.index] = std::make_shared<arrow::MutableBuffer>(bytes, spec.size);
    }
    LoanFraming framing;
    framing.schema = schema;
    framing.num_rows = num_rows;
    framing.validity = loan_options.validity;
    ARROW_ASSIGN_OR_RAISE(framing.ipc_options, internal::ToArrowOptions(options_.write));
    arrow::ipc::DictionaryFieldMapper mapper(*schema);
    ARROW_RETURN_NOT_OK(arrow::ipc::GetSchemaPayload(*schema, framing.ipc_options, mapper, &framing.schema_payload));
    arrow::ipc::IpcPayload batch_payload;
    ARROW_RETURN_NOT_OK(arrow::ipc::GetRecordBatchPayload(*loan.batch(), framing.ipc_options, &batch_payload));
    if (batch_payload.body_length != loan.body_length_) {
      return arrow::Status::UnknownError("loan layout disagrees with Arrow's writer: body of ",
                                         batch_payload.body_length, " bytes, laid out ", loan.body_length_);
    }
    batch_payload.body_buffers.clear();
    arrow::io::MockOutputStream counter;
    {
      ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::internal::MakePayloadStreamWriter(&counter, framing.ipc_options));
      ARROW_RETURN_NOT_OK(writer->Start());
      ARROW_RETURN_NOT_OK(writer->WritePayload(framing.schema_payload));
      ARROW_RETURN_NOT_OK(writer->WritePayload(batch_payload));
    }
    framing.body_start = counter.GetExtentBytesWritten();
    loan_framing_ = std::move(framing);
  }
  loan.ipc_options_ = loan_framing_->ipc_options;
  loan.schema_payload_ = loan_framing_->schema_payload;
  loan.body_start_ = loan_framing_->body_start;
  loan.reserved_ = loan.body_start_ + loan.body_length_ + kEndOfStream;
  loan.deliveries_ = options_.deliveries;
  loan.delivery_ttl_ = options_.delivery_ttl;

  ARROW_ASSIGN_OR_RAISE(WriteSlot slot, AllocateSlot(static_cast<uint64_t>(loan.reserved_), loan_options.wait,
                                                     "a loan of " + std::to_string(num_rows) + " rows"));
  uint8_t* body = reinterpret_cast<uint8_t*>(slot.data().data()) + loan.body_start_;
  for (auto& spec : loan.buffers_) {
    uint8_t* at = body + spec.offset;
    spec.owner->buffers[spec.index] = std::make_shared<arrow::MutableBuffer>(at, spec.size);
    if (spec.role == Role::kValidity) {
      std::memset(at, 0xff, static_cast<size_t>(spec.size));  // all valid until told otherwise
      spec.owner->null_count = arrow::kUnknownNullCount;
    } else if (spec.role == Role::kOffsets) {
      std::memset(at, 0, static_cast<size_t>(spec.size));  // every value empty until told otherwise
    }
  }
  loan.slot_.emplace(std::move(slot));
  return loan;
}

}  // namespace arrowring
