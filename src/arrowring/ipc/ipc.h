// Arrow IPC streams in caller memory: exact sizing, one-copy writing, zero-copy reading.
//
// These are the building blocks under arrowring's publish/subscribe path and the C++
// counterparts of the seed's `arrow_ipc` utilities:
//
//   seed (Python)                 arrowring (C++)
//   get_table_ipc_size            IpcStreamSize        exact, without serializing the data
//   write_table_to_buffer         WriteIpcStream       into caller memory, one copy
//   read_table_from_buffer        ReadTable(buffer)    zero-copy
//   read_table_from_address       ReadTable(address, size, owner)   zero-copy
//   table_to_ipc_bytes            SerializeTable       owned, exactly sized buffer
//   ipc_bytes_to_table            DeserializeTable     copies the bytes, then reads them
//   try_zero_copy_pyarrow         (the ring's publisher, in the publish/subscribe layer)
//
// Every function reports failure as arrow::Status; none aborts or throws on bad input.
// Every stream written here is a complete Arrow IPC stream (schema, dictionaries, record
// batches, end-of-stream marker) that any Arrow implementation reads on its own.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include <arrow/result.h>
#include <arrow/status.h>
#include <arrow/type_fwd.h>

namespace arrowring {

/// Address alignment at which arrowring places every IPC stream it writes. Arrow requires
/// 8; 64 matches Arrow's allocator and cache lines. The writer pads every message's metadata
/// to this multiple too, so the first record batch body of a stream that starts at such an
/// address is 64-aligned; Arrow pads bodies themselves only to 8, so later bodies are
/// 8-aligned (and 64-aligned whenever the bodies before them are multiples of 64 long).
inline constexpr int64_t kStreamAlignment = 64;

/// Body compression of record batches (Arrow IPC's optional buffer compression).
enum class Compression : uint8_t { kNone, kLz4Frame, kZstd };

/// How much a reader checks a stream before handing the table out.
///  - kNone:  trust the producer (fastest; a malformed stream can crash later users).
///  - kBasic: Table::Validate — structure, lengths, buffer sizes; O(columns).
///  - kFull:  RecordBatch::ValidateFull on every batch as it is read — also offsets, UTF-8,
///            dictionary indices; O(data). Use it for producers you do not trust.
enum class Validation : uint8_t { kNone, kBasic, kFull };

struct WriteOptions {
  Compression compression = Compression::kNone;
  /// Codec level; empty means the codec's default.
  std::optional<int> compression_level;
  /// Compress columns on Arrow's CPU thread pool (only matters with compression).
  bool use_threads = false;
};

struct ReadOptions {
  Validation validation = Validation::kBasic;
  /// Decompress on Arrow's CPU thread pool (only matters for compressed streams).
  bool use_threads = false;
};

/// Exact number of bytes WriteIpcStream / SerializeTable produce for `table`.
///
/// Runs Arrow's stream writer against a counting sink (arrow::io::MockOutputStream): no data
/// byte is copied, so the cost grows with the number of columns and chunks, not with the
/// data size. Exceptions: sliced variable-length or bit-offset columns, which the writer
/// rebases (O(rows) of that column), and compression, which really compresses.
arrow::Result<int64_t> IpcStreamSize(const arrow::Table& table, const WriteOptions& options = {});
arrow::Result<int64_t> IpcStreamSize(const arrow::RecordBatch& batch, const WriteOptions& options = {});

/// Writes `table` as one Arrow IPC stream into `destination` and returns the bytes written.
///
/// Data is copied once, straight into `destination`. When `destination` is too small the
/// result is CapacityError naming the needed and available sizes; then (and on any other
/// failure) the first bytes of `destination` are zeroed, so nothing there reads as a stream.
/// Start `destination` at a kStreamAlignment-aligned address for zero-copy reading.
arrow::Result<int64_t> WriteIpcStream(const arrow::Table& table, std::span<std::byte> destination,
                                      const WriteOptions& options = {});
arrow::Result<int64_t> WriteIpcStream(const arrow::RecordBatch& batch, std::span<std::byte> destination,
                                      const WriteOptions& options = {});

/// Serializes `table` into a newly allocated buffer of exactly IpcStreamSize bytes
/// (the seed's copying fallback, table_to_ipc_bytes).
arrow::Result<std::shared_ptr<arrow::Buffer>> SerializeTable(const arrow::Table& table,
                                                             const WriteOptions& options = {});

/// Reads the IPC stream in `stream` zero-copy: every buffer of the resulting table (its
/// slices included) points into `stream` and keeps it alive. Compressed bodies are the one
/// exception: they are decompressed into new memory.
///
/// `stream` must start at an 8-byte aligned address (arrowring writes 64-aligned); use
/// DeserializeTable for bytes of unknown alignment.
arrow::Result<std::shared_ptr<arrow::Table>> ReadTable(std::shared_ptr<arrow::Buffer> stream,
                                                       const ReadOptions& options = {});

/// Reads the IPC stream at [address, address + size) zero-copy. `owner` is kept alive for as
/// long as any buffer of the table, or of any slice of it, is alive, on any thread; its
/// destruction is the signal that the memory is no longer referenced.
arrow::Result<std::shared_ptr<arrow::Table>> ReadTable(const void* address, int64_t size,
                                                       std::shared_ptr<const void> owner,
                                                       const ReadOptions& options = {});

/// A read-only Buffer over [address, address + size) that keeps `owner` alive for as long as
/// it or any slice of it lives (what ReadTable wraps memory in; for StreamDecoder).
std::shared_ptr<arrow::Buffer> OwnedBuffer(const void* address, int64_t size, std::shared_ptr<const void> owner);

/// Copies `bytes` into a new 64-byte aligned buffer and reads the table from it
/// (the seed's ipc_bytes_to_table): for bytes whose memory will not outlive the call.
arrow::Result<std::shared_ptr<arrow::Table>> DeserializeTable(std::span<const std::byte> bytes,
                                                              const ReadOptions& options = {});

}  // namespace arrowring
