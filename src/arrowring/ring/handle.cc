#include "arrowring/ring/handle.h"

#include <charconv>
#include <cstring>
#include <vector>

namespace arrowring {
namespace {

constexpr char kMagic[4] = {'A', 'R', 'H', '1'};
constexpr uint16_t kVersion = 1;

void Put64(std::byte* out, uint64_t value) {
  for (int i = 0; i < 8; ++i) out[i] = static_cast<std::byte>(value >> (8 * i));
}
uint64_t Get64(const std::byte* in) {
  uint64_t value = 0;
  for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(in[i]) << (8 * i);
  return value;
}

Error BadText(std::string_view text, std::string_view why) {
  return {Errc::kInvalidArgument, "not an arrowring handle: \"" + std::string(text.substr(0, 120)) + "\" (" +
                                      std::string(why) +
                                      "; expected arrowring:1:<ring id hex>:<sequence>:<offset>:<size>)"};
}

}  // namespace

std::array<std::byte, Handle::kEncodedSize> Handle::Encode() const {
  std::array<std::byte, kEncodedSize> out{};
  std::memcpy(out.data(), kMagic, 4);
  out[4] = static_cast<std::byte>(kVersion & 0xFF);
  out[5] = static_cast<std::byte>(kVersion >> 8);
  Put64(out.data() + 8, ring_id);
  Put64(out.data() + 16, sequence);
  Put64(out.data() + 24, offset);
  Put64(out.data() + 32, size);
  return out;
}

Result<Handle> Handle::Decode(std::span<const std::byte> bytes) {
  if (bytes.size() != kEncodedSize) {
    return Error{Errc::kInvalidArgument, "an encoded handle is " + std::to_string(kEncodedSize) + " bytes, got " +
                                             std::to_string(bytes.size())};
  }
  if (std::memcmp(bytes.data(), kMagic, 4) != 0) {
    return Error{Errc::kInvalidArgument, "bytes do not start with the handle magic \"ARH1\""};
  }
  const uint16_t version =
      static_cast<uint16_t>(static_cast<unsigned>(bytes[4]) | static_cast<unsigned>(bytes[5]) << 8);
  if (version != kVersion) {
    return Error{Errc::kIncompatible, "handle format version " + std::to_string(version) +
                                          ", this build reads version " + std::to_string(kVersion)};
  }
  return Handle{Get64(bytes.data() + 8), Get64(bytes.data() + 16), Get64(bytes.data() + 24), Get64(bytes.data() + 32)};
}

std::string Handle::ToString() const {
  char id[17];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(ring_id));
  return "arrowring:1:" + std::string(id) + ":" + std::to_string(sequence) + ":" + std::to_string(offset) + ":" +
         std::to_string(size);
}

Result<Handle> Handle::Parse(std::string_view text) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t colon = text.find(':', start);
    parts.push_back(text.substr(start, colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (parts.size() != 6 || parts[0] != "arrowring") return BadText(text, "wrong number of fields");
  if (parts[1] != "1") return BadText(text, "unknown version");
  auto number = [](std::string_view field, int base, uint64_t* out) {
    if (field.empty()) return false;
    auto [end, ec] = std::from_chars(field.data(), field.data() + field.size(), *out, base);
    return ec == std::errc() && end == field.data() + field.size();
  };
  Handle handle;
  if (parts[2].size() != 16 || !number(parts[2], 16, &handle.ring_id)) {
    return BadText(text, "ring id is not 16 hex digits");
  }
  if (!number(parts[3], 10, &handle.sequence) || !number(parts[4], 10, &handle.offset) ||
      !number(parts[5], 10, &handle.size)) {
    return BadText(text, "sequence, offset and size must be decimal numbers");
  }
  return handle;
}

}  // namespace arrowring
