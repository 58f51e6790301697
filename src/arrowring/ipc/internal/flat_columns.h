// FlatColumns: the IPC buffers of columns without children, described for writing and loaded
// for reading exactly as Arrow's writer and reader do, with no allocation but the arrays'.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include <arrow/array/data.h>
#include <arrow/buffer.h>
#include <arrow/type.h>

#include "arrowring/ipc/internal/record_batch_header.h"

namespace arrowring::internal {

/// How a column without children lays out its IPC buffers. Every kind starts with the
/// validity bitmap.
enum class FlatKind : uint8_t {
  kFixedWidth,       // validity, values (numbers, temporal types)
  kFixedSizeBinary,  // validity, values (fixed-size binary, decimals): read even when empty
  kBoolean,          // validity, values as a bitmap
  kBinary,           // validity, int32 offsets, data (binary, utf8)
  kLargeBinary,      // validity, int64 offsets, data (large_binary, large_utf8)
};

struct FlatColumn {
  FlatKind kind;
  int64_t byte_width;  // of a value (fixed-width kinds), of an offset (binary kinds)
  int num_buffers;     // in the IPC message
};

/// The columns of `schema` when every one is flat: a kind above, no dictionary, no extension
/// type. nullopt otherwise (such schemas take Arrow's general writer and reader).
std::optional<std::vector<FlatColumn>> FlatColumnsOf(const arrow::Schema& schema);

/// Total IPC buffers of `columns`.
int BufferCount(std::span<const FlatColumn> columns);

/// One body buffer to copy: what Arrow's writer would send for it.
struct BodyPart {
  const uint8_t* data;
  int64_t size;
};

/// Describes `data`, a column of `column`'s kind, as Arrow's writer (RecordBatchSerializer,
/// metadata V5) would send it: its FieldNode and its buffers (column.num_buffers parts).
/// False where Arrow's writer would copy or rebase the column (a slice, an oversized bitmap,
/// offsets not starting at zero) or its memory is not the CPU's: write it with Arrow's writer.
bool DescribeForWriting(const FlatColumn& column, const arrow::ArrayData& data, FieldNodeValues* node, BodyPart* parts);

/// The column Arrow's reader (ArrayLoader) would load from `node` and `buffers`
/// (column.num_buffers of them), zero-copy out of `body`, whose offset in `stream` is
/// `body_offset`. nullptr where Arrow's reader would fail (a buffer outside the body, a
/// negative length or offset, an offset not a multiple of 8): read the stream with Arrow's
/// reader, which says what is wrong.
std::shared_ptr<arrow::ArrayData> LoadForReading(const FlatColumn& column, const std::shared_ptr<arrow::DataType>& type,
                                                 const FieldNodeValues& node, std::span<const BufferValues> buffers,
                                                 const std::shared_ptr<arrow::Buffer>& stream, int64_t body_offset,
                                                 int64_t body_length);

}  // namespace arrowring::internal
