#include "arrowring/bridge/wire.h"

#include <charconv>
#include <cstring>
#include <vector>

#include <arrow/status.h>

namespace arrowring::bridge {
namespace {

constexpr std::string_view kTicketMagic = "arrowring1";
constexpr char kTagMagic[4] = {'A', 'R', 'B', '1'};
constexpr size_t kTagSize = 8 + 6 * 8;

std::vector<std::string_view> SplitLines(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = text.find('\n', start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

}  // namespace

std::string Ticket::Encode() const {
  std::string out(kTicketMagic);
  out += '\n';
  out += ring;
  out += '\n';
  out += subscriber;
  out += '\n';
  out += resume_after ? std::to_string(*resume_after) : std::string("-");
  return out;
}

arrow::Result<Ticket> Ticket::Parse(std::string_view bytes) {
  // Tickets come from the network: bound everything before looking at it.
  if (bytes.size() > 512) return arrow::Status::Invalid("bad ticket: longer than 512 bytes");
  auto parts = SplitLines(bytes);
  if (parts.size() != 4 || parts[0] != kTicketMagic) {
    return arrow::Status::Invalid("bad ticket: expected \"arrowring1\\n<ring>\\n<subscriber>\\n<resume_after|->\"");
  }
  Ticket ticket;
  ticket.ring = std::string(parts[1]);
  ticket.subscriber = std::string(parts[2]);
  if (ticket.ring.empty() || ticket.subscriber.empty()) {
    return arrow::Status::Invalid("bad ticket: empty ring or subscriber name");
  }
  if (parts[3] != "-") {
    uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(parts[3].data(), parts[3].data() + parts[3].size(), value);
    if (ec != std::errc() || ptr != parts[3].data() + parts[3].size()) {
      return arrow::Status::Invalid("bad ticket: resume_after is not a number");
    }
    ticket.resume_after = value;
  }
  return ticket;
}

std::shared_ptr<arrow::Buffer> BatchTag::Encode() const {
  std::string bytes(kTagSize, '\0');
  std::memcpy(bytes.data(), kTagMagic, 4);
  bytes[4] = 1;  // version
  uint64_t fields[6] = {ring_id, sequence, batch_index, batch_count, missed, commit_time_ns};
  std::memcpy(bytes.data() + 8, fields, sizeof fields);  // little endian hosts only (x86, arm)
  return arrow::Buffer::FromString(std::move(bytes));
}

arrow::Result<BatchTag> BatchTag::Parse(const arrow::Buffer* buffer) {
  if (buffer == nullptr || buffer->size() != static_cast<int64_t>(kTagSize) ||
      std::memcmp(buffer->data(), kTagMagic, 4) != 0 || buffer->data()[4] != 1) {
    return arrow::Status::Invalid("batch without a valid arrowring app_metadata tag");
  }
  uint64_t fields[6];
  std::memcpy(fields, buffer->data() + 8, sizeof fields);
  BatchTag tag{fields[0], fields[1], fields[2], fields[3], fields[4], fields[5]};
  if (tag.batch_count != 0 && tag.batch_index >= tag.batch_count) {
    return arrow::Status::Invalid("app_metadata tag: batch index out of range");
  }
  return tag;
}

}  // namespace arrowring::bridge
