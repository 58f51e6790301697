// Test support for the Arrow layer: tables covering the type matrix, and zero-copy checks.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <arrow/type_fwd.h>

namespace arrowring::testing {

/// A table of `rows` rows in `chunks` chunks whose columns cover: int64, float64 with nulls,
/// boolean, utf8, large_utf8, list<int32>, large_list<int16>, struct, dictionary<int8, utf8>,
/// an all-null int32 column and a null-type column. Values derive from `seed`.
std::shared_ptr<arrow::Table> MakeVariedTable(int64_t rows, uint64_t seed = 1, int chunks = 1);

/// A table of `rows` rows in `chunks` chunks of one column of every flat type (no children,
/// no dictionary: what StreamEncoder and StreamDecoder patch and recognize): integers, floats,
/// temporal types, intervals, decimals, fixed-size binary, booleans, binary and utf8 in both
/// offset widths. Nulls at seed-dependent rows in most columns, none in some, all in one;
/// strings of 0 to 11 bytes. The schema object is the same on every call, as a producer's is.
std::shared_ptr<arrow::Table> MakeFlatTable(int64_t rows, uint64_t seed = 1, int chunks = 1);

/// A table with one int64 column "x" holding 0..rows-1, of about 8 * rows data bytes.
std::shared_ptr<arrow::Table> MakeInt64Table(int64_t rows);

/// Named tables for the cases the Arrow layer must handle (sliced, empty, zero columns,
/// many chunks, all-null, large types, dictionary, nested), for parameterised tests.
struct NamedTable {
  std::string name;
  std::shared_ptr<arrow::Table> table;
};
std::vector<NamedTable> EdgeCaseTables();

/// Addresses of every non-empty buffer reachable from `table` (validity, offsets, data,
/// children, dictionaries). Absent and zero-length buffers have no meaningful address.
struct BufferSpan {
  const uint8_t* data;
  int64_t size;
};
std::vector<BufferSpan> AllBuffers(const arrow::Table& table);

/// Number of non-empty buffers of `table` that do not lie entirely inside [begin, begin+size).
int64_t BuffersOutside(const arrow::Table& table, const void* begin, int64_t size);

/// The `index`-th table of a deterministic stream of varied tables for cross-process tests:
/// varied types, DAQ-like events with 1,024-sample int16 waveforms, plain int64 columns; from
/// 1 row up to, when `allow_huge`, 64 MiB (every 400th). The index travels in the schema
/// metadata ("arrowring.test.index"), so a receiver can regenerate the table and compare
/// every value.
std::shared_ptr<arrow::Table> MakeStreamTable(int64_t index, bool allow_huge = true);
/// The index MakeStreamTable stored in `table`, or -1.
int64_t StreamTableIndex(const arrow::Table& table);

/// Table equality that treats NaN as equal to NaN (gold files contain NaNs).
bool TablesEqual(const arrow::Table& a, const arrow::Table& b);

}  // namespace arrowring::testing
