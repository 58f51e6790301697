// A handle names one committed message of one ring, so that processes can pass messages by
// reference over their own bus (the seed's DAQ sends them over ZeroMQ).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "arrowring/ring/error.h"

namespace arrowring {

struct Handle {
  uint64_t ring_id = 0;   ///< Random identity of the ring, fixed at creation.
  uint64_t sequence = 0;  ///< The message's sequence number: its generation, never reused.
  uint64_t offset = 0;    ///< Physical offset of the message in the ring's data area.
  uint64_t size = 0;      ///< Committed bytes.

  /// Fixed binary form: "ARH1", u16 version, u16 zero, then the four fields, little-endian.
  static constexpr size_t kEncodedSize = 40;
  std::array<std::byte, kEncodedSize> Encode() const;
  static Result<Handle> Decode(std::span<const std::byte> bytes);

  /// Printable form: "arrowring:1:<ring_id as 16 hex digits>:<sequence>:<offset>:<size>".
  std::string ToString() const;
  static Result<Handle> Parse(std::string_view text);

  bool operator==(const Handle&) const = default;
};

}  // namespace arrowring
