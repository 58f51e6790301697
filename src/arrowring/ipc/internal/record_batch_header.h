// RecordBatchHeader: one schema's record-batch metadata, built by Arrow once, then patched or
// recognized per message without building or parsing a flatbuffer.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace arrowring::internal {

/// One FieldNode of a record batch message: a column's (or child's) length and null count.
struct FieldNodeValues {
  int64_t length;
  int64_t null_count;
};

/// One Buffer of a record batch message: where an IPC buffer sits in the body.
struct BufferValues {
  int64_t offset;
  int64_t length;
};

/// The metadata (flatbuffer) of one Arrow record-batch message, with the positions of the
/// values that change from one batch of a schema to the next: the row count, the body length,
/// the FieldNode array and the Buffer array. Everything else — vtables, offsets, vector
/// lengths, the version, custom metadata — depends only on the schema's shape. So:
///
///  - a writer patches new values into these bytes and has the message Arrow's writer would
///    build for the new batch, byte for byte (StreamEncoder's fast path);
///  - a reader that finds a message's metadata equal to these bytes everywhere outside the
///    values knows its structure without parsing it, and reads the values at the known
///    positions (StreamDecoder's fast path). The values are untrusted: the reader checks
///    them as Arrow's loader does before it uses them.
///
/// Located once, with Arrow's own generated flatbuffer accessors and verifier
/// (third_party/arrow-format), in bytes Arrow's writer or reader has produced or accepted.
class RecordBatchHeader {
 public:
  /// Locates the values in `metadata`: a record batch message's metadata, with or without the
  /// stream's padding after the flatbuffer. nullopt unless it verifies as a V5 record batch
  /// message with `num_nodes` nodes and `num_buffers` buffers, no compression, no variadic
  /// buffer counts, and a nonzero row count and body length (a flatbuffer omits a scalar equal
  /// to its default, so a zero leaves no place to patch).
  static std::optional<RecordBatchHeader> Locate(std::span<const std::byte> metadata, int num_nodes, int num_buffers);

  /// The metadata this header was located in.
  std::span<const std::byte> bytes() const { return bytes_; }
  int num_nodes() const { return num_nodes_; }
  int num_buffers() const { return num_buffers_; }

  /// Writes bytes() with these values into `out` (bytes().size() bytes). `length` and
  /// `body_length` must be nonzero; `nodes` and `buffers` hold num_nodes() and num_buffers().
  void Write(int64_t length, int64_t body_length, std::span<const FieldNodeValues> nodes,
             std::span<const BufferValues> buffers, std::byte* out) const;

  /// True when `metadata` is bytes() but for the values: the same size and the same bytes
  /// everywhere else, so that it is the same message structure.
  bool Matches(std::span<const std::byte> metadata) const;

  /// The values of `metadata`, which Matches(): as stored, unchecked.
  int64_t ReadLength(std::span<const std::byte> metadata) const;
  int64_t ReadBodyLength(std::span<const std::byte> metadata) const;
  void ReadNodes(std::span<const std::byte> metadata, std::span<FieldNodeValues> out) const;
  void ReadBuffers(std::span<const std::byte> metadata, std::span<BufferValues> out) const;

 private:
  struct Range {
    size_t begin;
    size_t end;
  };
  RecordBatchHeader() = default;

  std::vector<std::byte> bytes_;
  int num_nodes_ = 0;
  int num_buffers_ = 0;
  size_t length_at_ = 0;
  size_t body_length_at_ = 0;
  size_t nodes_at_ = 0;
  size_t buffers_at_ = 0;
  std::array<Range, 5> fixed_{};  // the bytes between the values, which Matches compares
  int num_fixed_ = 0;
};

}  // namespace arrowring::internal
