// libFuzzer target: handles arrive from other processes and other buses as text or 40 bytes;
// both parsers must give a handle or an error for any input, and a handle must round-trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <string_view>

#include "arrowring/ring/handle.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using arrowring::Handle;
  auto parsed = Handle::Parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (parsed.ok()) {
    auto again = Handle::Parse(parsed->ToString());
    if (!again.ok() || !(*again == *parsed)) std::abort();  // Text round trip broken.
  }
  auto decoded = Handle::Decode(std::as_bytes(std::span(data, size)));
  if (decoded.ok()) {
    const auto bytes = decoded->Encode();
    auto again = Handle::Decode(std::span<const std::byte>(bytes));
    if (!again.ok() || !(*again == *decoded)) std::abort();  // Binary round trip broken.
  }
  return 0;
}
