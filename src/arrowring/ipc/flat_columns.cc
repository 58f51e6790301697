#include "arrowring/ipc/internal/flat_columns.h"

#include <cstring>
#include <limits>

#include <arrow/util/bit_util.h>

namespace arrowring::internal {
namespace {

// Arrow's writer treats a buffer as oversized past this many bytes (arrow/ipc/util.h's
// PaddedLength, to kArrowAlignment), and then slices or copies it.
int64_t PaddedTo64(int64_t bytes) { return arrow::bit_util::RoundUpToMultipleOf64(bytes); }

std::optional<FlatColumn> FlatColumnOf(const arrow::DataType& type) {
  switch (type.id()) {
    case arrow::Type::BOOL: return FlatColumn{FlatKind::kBoolean, 0, 2};
    case arrow::Type::UINT8:
    case arrow::Type::INT8:
    case arrow::Type::UINT16:
    case arrow::Type::INT16:
    case arrow::Type::UINT32:
    case arrow::Type::INT32:
    case arrow::Type::UINT64:
    case arrow::Type::INT64:
    case arrow::Type::HALF_FLOAT:
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE:
    case arrow::Type::DATE32:
    case arrow::Type::DATE64:
    case arrow::Type::TIMESTAMP:
    case arrow::Type::TIME32:
    case arrow::Type::TIME64:
    case arrow::Type::DURATION:
    case arrow::Type::INTERVAL_MONTHS:
    case arrow::Type::INTERVAL_DAY_TIME:
    case arrow::Type::INTERVAL_MONTH_DAY_NANO: return FlatColumn{FlatKind::kFixedWidth, type.byte_width(), 2};
    case arrow::Type::FIXED_SIZE_BINARY:
    case arrow::Type::DECIMAL32:
    case arrow::Type::DECIMAL64:
    case arrow::Type::DECIMAL128:
    case arrow::Type::DECIMAL256: return FlatColumn{FlatKind::kFixedSizeBinary, type.byte_width(), 2};
    case arrow::Type::BINARY:
    case arrow::Type::STRING: return FlatColumn{FlatKind::kBinary, sizeof(int32_t), 3};
    case arrow::Type::LARGE_BINARY:
    case arrow::Type::LARGE_STRING: return FlatColumn{FlatKind::kLargeBinary, sizeof(int64_t), 3};
    default: return std::nullopt;
  }
}

bool IsCpu(const std::shared_ptr<arrow::Buffer>& buffer) { return buffer == nullptr || buffer->is_cpu(); }

// A bitmap as Arrow's writer sends it (GetTruncatedBitmap) when it sends it as it is.
bool DescribeBitmap(const std::shared_ptr<arrow::Buffer>& bitmap, int64_t length, BodyPart* part) {
  if (bitmap == nullptr) {
    *part = {nullptr, 0};
    return true;
  }
  if (PaddedTo64(arrow::bit_util::BytesForBits(length)) < bitmap->size()) return false;  // Arrow copies it.
  *part = {bitmap->data(), bitmap->size()};
  return true;
}

template <typename Offset>
bool DescribeBinary(const arrow::ArrayData& data, BodyPart* parts) {
  const std::shared_ptr<arrow::Buffer>& offsets = data.buffers[1];
  const std::shared_ptr<arrow::Buffer>& values = data.buffers[2];
  const auto required = static_cast<int64_t>(sizeof(Offset)) * (data.length + 1);
  if (offsets == nullptr || offsets->size() < required) return false;  // Let Arrow's writer judge it.
  Offset first;
  Offset last;
  std::memcpy(&first, offsets->data(), sizeof(Offset));
  std::memcpy(&last, offsets->data() + required - static_cast<int64_t>(sizeof(Offset)), sizeof(Offset));
  if (first != 0) return false;            // Arrow rebases the offsets into a new buffer.
  parts[1] = {offsets->data(), required};  // Arrow slices longer offsets to what is used.
  if (values == nullptr) {
    parts[2] = {nullptr, 0};
  } else {
    const int64_t used = last;
    parts[2] = {values->data(), used < values->size() ? std::min(PaddedTo64(used), values->size()) : values->size()};
  }
  return true;
}

// Arrow's ArrayLoader::GetBuffer: an empty buffer for length 0, else the checked slice.
bool LoadBuffer(const BufferValues& buffer, const std::shared_ptr<arrow::Buffer>& stream, int64_t body_offset,
                int64_t body_length, std::shared_ptr<arrow::Buffer>* out) {
  if (buffer.length == 0) {
    *out = arrow::SliceBuffer(stream, body_offset, 0);
    return true;
  }
  if (buffer.offset < 0 || buffer.length < 0 || buffer.offset % 8 != 0 || buffer.length > body_length ||
      buffer.offset > body_length - buffer.length) {
    return false;
  }
  *out = arrow::SliceBuffer(stream, body_offset + buffer.offset, buffer.length);
  return true;
}

}  // namespace

std::optional<std::vector<FlatColumn>> FlatColumnsOf(const arrow::Schema& schema) {
  if (schema.num_fields() == 0) return std::nullopt;
  std::vector<FlatColumn> columns;
  columns.reserve(static_cast<size_t>(schema.num_fields()));
  for (const auto& field : schema.fields()) {
    auto column = FlatColumnOf(*field->type());
    if (!column) return std::nullopt;
    columns.push_back(*column);
  }
  return columns;
}

int BufferCount(std::span<const FlatColumn> columns) {
  int count = 0;
  for (const FlatColumn& column : columns) count += column.num_buffers;
  return count;
}

bool DescribeForWriting(const FlatColumn& column, const arrow::ArrayData& data, FieldNodeValues* node,
                        BodyPart* parts) {
  if (data.offset != 0 || static_cast<int>(data.buffers.size()) != column.num_buffers) return false;
  for (const auto& buffer : data.buffers) {
    if (!IsCpu(buffer)) return false;
  }
  const int64_t length = data.length;
  const int64_t null_count = data.GetNullCount();
  *node = {length, null_count};
  // Validity: the bitmap when there are nulls, else an empty placeholder.
  if (null_count > 0) {
    if (!DescribeBitmap(data.buffers[0], length, &parts[0])) return false;
  } else {
    parts[0] = {nullptr, 0};
  }
  switch (column.kind) {
    case FlatKind::kBoolean: return DescribeBitmap(data.buffers[1], length, &parts[1]);
    case FlatKind::kFixedWidth:
    case FlatKind::kFixedSizeBinary: {
      const std::shared_ptr<arrow::Buffer>& values = data.buffers[1];
      if (values == nullptr) {
        parts[1] = {nullptr, 0};
        return true;
      }
      // Arrow slices values longer than the 64-padded length to the 8-padded length.
      const int64_t used = length * column.byte_width;
      const int64_t size =
          PaddedTo64(used) < values->size() ? arrow::bit_util::RoundUpToMultipleOf8(used) : values->size();
      parts[1] = {values->data(), size};
      return true;
    }
    case FlatKind::kBinary: return DescribeBinary<int32_t>(data, parts);
    case FlatKind::kLargeBinary: return DescribeBinary<int64_t>(data, parts);
  }
  return false;
}

std::shared_ptr<arrow::ArrayData> LoadForReading(const FlatColumn& column, const std::shared_ptr<arrow::DataType>& type,
                                                 const FieldNodeValues& node, std::span<const BufferValues> buffers,
                                                 const std::shared_ptr<arrow::Buffer>& stream, int64_t body_offset,
                                                 int64_t body_length) {
  std::vector<std::shared_ptr<arrow::Buffer>> loaded(static_cast<size_t>(column.num_buffers));
  auto load = [&](int i) { return LoadBuffer(buffers[i], stream, body_offset, body_length, &loaded[i]); };
  // The validity bitmap is read only when the node has nulls (null_count 0: no bitmap).
  if (node.null_count != 0 && !load(0)) return nullptr;
  switch (column.kind) {
    case FlatKind::kFixedWidth:
    case FlatKind::kBoolean:
      // Arrow's LoadPrimitive reads the values of a non-empty column only.
      if (node.length > 0) {
        if (!load(1)) return nullptr;
      } else {
        loaded[1] = std::make_shared<arrow::Buffer>(nullptr, 0);
      }
      break;
    case FlatKind::kFixedSizeBinary:
      if (!load(1)) return nullptr;
      break;
    case FlatKind::kBinary:
    case FlatKind::kLargeBinary:
      if (!load(1) || !load(2)) return nullptr;
      break;
  }
  return arrow::ArrayData::Make(type, node.length, std::move(loaded), node.null_count);
}

}  // namespace arrowring::internal
