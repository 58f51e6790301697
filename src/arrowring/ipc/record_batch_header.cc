#include "arrowring/ipc/internal/record_batch_header.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "Message_generated.h"  // Arrow's format (third_party/arrow-format), compiled by flatc

namespace arrowring::internal {
namespace flatbuf = org::apache::arrow::flatbuf;

// The values are read and written as the little-endian int64s Arrow's format stores.
static_assert(std::endian::native == std::endian::little, "RecordBatchHeader reads little-endian values in place");
static_assert(sizeof(FieldNodeValues) == sizeof(flatbuf::FieldNode) && sizeof(BufferValues) == sizeof(flatbuf::Buffer),
              "the value structs mirror Arrow's FieldNode and Buffer structs");

// Where a scalar field of a generated table is stored; nullptr when the table omits it. The
// generated tables derive privately from flatbuffers::Table, at the same address, as
// flatbuffers' own reflection code relies on.
template <typename GeneratedTable>
const uint8_t* AddressOf(const GeneratedTable* table, flatbuffers::voffset_t field) {
  return reinterpret_cast<const flatbuffers::Table*>(table)->GetAddressOf(field);
}

namespace {

// Where the values sit in one record batch message, and what else of it the readers act on.
struct Positions {
  size_t length_at, body_length_at, nodes_at, buffers_at;
  size_t custom_metadata_at;  // 0: none (byte 0 holds the root offset)

  bool operator==(const Positions&) const = default;
};

std::optional<Positions> Find(const uint8_t* base, size_t size, int num_nodes, int num_buffers) {
  flatbuffers::Verifier verifier(base, size);
  if (!flatbuf::VerifyMessageBuffer(verifier)) return std::nullopt;
  const flatbuf::Message* message = flatbuf::GetMessage(base);
  if (message->version() != flatbuf::MetadataVersion_V5) return std::nullopt;
  const flatbuf::RecordBatch* batch = message->header_as_RecordBatch();
  if (batch == nullptr || batch->compression() != nullptr) return std::nullopt;
  if (batch->variadicBufferCounts() != nullptr && batch->variadicBufferCounts()->size() != 0) return std::nullopt;
  const auto* nodes = batch->nodes();
  const auto* buffers = batch->buffers();
  if (nodes == nullptr || buffers == nullptr || nodes->size() != static_cast<uint32_t>(num_nodes) ||
      buffers->size() != static_cast<uint32_t>(num_buffers)) {
    return std::nullopt;
  }
  const uint8_t* length = AddressOf(batch, flatbuf::RecordBatch::VT_LENGTH);
  const uint8_t* body_length = AddressOf(message, flatbuf::Message::VT_BODYLENGTH);
  if (length == nullptr || body_length == nullptr) return std::nullopt;
  const auto* custom = reinterpret_cast<const uint8_t*>(message->custom_metadata());
  return Positions{static_cast<size_t>(length - base), static_cast<size_t>(body_length - base),
                   static_cast<size_t>(reinterpret_cast<const uint8_t*>(nodes->Data()) - base),
                   static_cast<size_t>(reinterpret_cast<const uint8_t*>(buffers->Data()) - base),
                   custom == nullptr ? 0 : static_cast<size_t>(custom - base)};
}

}  // namespace

std::optional<RecordBatchHeader> RecordBatchHeader::Locate(std::span<const std::byte> metadata, int num_nodes,
                                                           int num_buffers) {
  // Copied first: the verifier and every position below refer to our own, aligned bytes.
  RecordBatchHeader header;
  header.bytes_.assign(metadata.begin(), metadata.end());
  const auto* base = reinterpret_cast<const uint8_t*>(header.bytes_.data());
  const std::optional<Positions> found = Find(base, header.bytes_.size(), num_nodes, num_buffers);
  if (!found) return std::nullopt;
  header.num_nodes_ = num_nodes;
  header.num_buffers_ = num_buffers;
  header.length_at_ = found->length_at;
  header.body_length_at_ = found->body_length_at;
  header.nodes_at_ = found->nodes_at;
  header.buffers_at_ = found->buffers_at;

  // The fixed bytes are the complement of the four value ranges, which the verifier has
  // placed inside the buffer; a builder never overlaps them, but check rather than assume.
  std::array<Range, 4> values = {{
      {header.length_at_, header.length_at_ + sizeof(int64_t)},
      {header.body_length_at_, header.body_length_at_ + sizeof(int64_t)},
      {header.nodes_at_, header.nodes_at_ + sizeof(FieldNodeValues) * static_cast<size_t>(num_nodes)},
      {header.buffers_at_, header.buffers_at_ + sizeof(BufferValues) * static_cast<size_t>(num_buffers)},
  }};
  std::sort(values.begin(), values.end(), [](const Range& a, const Range& b) { return a.begin < b.begin; });
  size_t position = 0;
  for (const Range& value : values) {
    if (value.begin < position || value.end > header.bytes_.size()) return std::nullopt;
    if (value.begin > position) header.fixed_[header.num_fixed_++] = {position, value.begin};
    position = value.end;
  }
  if (position < header.bytes_.size()) header.fixed_[header.num_fixed_++] = {position, header.bytes_.size()};

  // The bytes come from shared memory: a crafted message could place part of its own
  // structure (a vtable, an offset) inside a value range, which Matches() would then let vary.
  // Whatever the values, the structure must stay the same: try three fillings of the ranges.
  std::vector<std::byte> probe = header.bytes_;
  for (const uint8_t filling : {0x00, 0xFF, 0x5A}) {
    for (const Range& value : values) {
      std::memset(probe.data() + value.begin, filling, value.end - value.begin);
    }
    if (Find(reinterpret_cast<const uint8_t*>(probe.data()), probe.size(), num_nodes, num_buffers) != found) {
      return std::nullopt;
    }
  }
  return header;
}

void RecordBatchHeader::Write(int64_t length, int64_t body_length, std::span<const FieldNodeValues> nodes,
                              std::span<const BufferValues> buffers, std::byte* out) const {
  std::memcpy(out, bytes_.data(), bytes_.size());
  std::memcpy(out + length_at_, &length, sizeof(length));
  std::memcpy(out + body_length_at_, &body_length, sizeof(body_length));
  std::memcpy(out + nodes_at_, nodes.data(), nodes.size_bytes());
  std::memcpy(out + buffers_at_, buffers.data(), buffers.size_bytes());
}

bool RecordBatchHeader::Matches(std::span<const std::byte> metadata) const {
  if (metadata.size() != bytes_.size()) return false;
  for (int i = 0; i < num_fixed_; ++i) {
    const Range& range = fixed_[i];
    if (std::memcmp(metadata.data() + range.begin, bytes_.data() + range.begin, range.end - range.begin) != 0) {
      return false;
    }
  }
  return true;
}

int64_t RecordBatchHeader::ReadLength(std::span<const std::byte> metadata) const {
  int64_t value;
  std::memcpy(&value, metadata.data() + length_at_, sizeof(value));
  return value;
}

int64_t RecordBatchHeader::ReadBodyLength(std::span<const std::byte> metadata) const {
  int64_t value;
  std::memcpy(&value, metadata.data() + body_length_at_, sizeof(value));
  return value;
}

void RecordBatchHeader::ReadNodes(std::span<const std::byte> metadata, std::span<FieldNodeValues> out) const {
  std::memcpy(out.data(), metadata.data() + nodes_at_, sizeof(FieldNodeValues) * static_cast<size_t>(num_nodes_));
}

void RecordBatchHeader::ReadBuffers(std::span<const std::byte> metadata, std::span<BufferValues> out) const {
  std::memcpy(out.data(), metadata.data() + buffers_at_, sizeof(BufferValues) * static_cast<size_t>(num_buffers_));
}

}  // namespace arrowring::internal
