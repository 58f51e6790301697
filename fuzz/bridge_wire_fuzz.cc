// libFuzzer target: the bridge's DoGet tickets, acks and per-batch app_metadata tags arrive
// from the network; both parsers must give a value or an error for any input, and a value must
// round-trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <arrow/buffer.h>

#include "arrowring/bridge/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using arrowring::bridge::BatchTag;
  using arrowring::bridge::Ticket;
  auto ticket = Ticket::Parse(std::string_view(reinterpret_cast<const char*>(data), size));
  if (ticket.ok()) {
    auto again = Ticket::Parse(ticket->Encode());
    if (!again.ok() || again->ring != ticket->ring || again->subscriber != ticket->subscriber ||
        again->resume_after != ticket->resume_after) {
      std::abort();  // Text round trip broken.
    }
  }
  const arrow::Buffer bytes(data, static_cast<int64_t>(size));
  auto tag = BatchTag::Parse(&bytes);
  if (tag.ok()) {
    auto again = BatchTag::Parse(tag->Encode().get());
    if (!again.ok() || again->ring_id != tag->ring_id || again->sequence != tag->sequence ||
        again->batch_index != tag->batch_index || again->batch_count != tag->batch_count ||
        again->missed != tag->missed || again->commit_time_ns != tag->commit_time_ns) {
      std::abort();  // Binary round trip broken.
    }
  }
  return 0;
}
