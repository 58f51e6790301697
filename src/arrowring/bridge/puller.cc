#include "arrowring/bridge/puller.h"

#include <charconv>
#include <optional>
#include <string_view>

#include <arrow/flight/client.h>
#include <arrow/table.h>

namespace arrowring::bridge {

namespace flight = arrow::flight;

Puller::Puller(RemoteRing remote, Ring destination, PullOptions options, CursorFile cursor)
    : ClientBase(std::move(remote), options.client),
      pull_options_(std::move(options)),
      publisher_(std::move(destination), pull_options_.publish),
      cursor_(std::move(cursor)) {}

arrow::Result<std::unique_ptr<Puller>> Puller::Make(RemoteRing remote, Ring destination,
                                                    PullOptions options) {
  ARROW_ASSIGN_OR_RAISE(auto cursor, CursorFile::Open(options.cursor_path));
  return std::unique_ptr<Puller>(
      new Puller(std::move(remote), std::move(destination), std::move(options), std::move(cursor)));
}

arrow::Status Puller::Run() {
  return RunWithRetries("pull " + remote_.location + "/" + remote_.ring, &stats_.reconnects,
                        [this](flight::FlightClient& client, bool* progressed) {
                          return RunOnce(client, progressed);
                        });
}

namespace {

// The source ring's id from GetFlightInfo's app_metadata (the server's counters as JSON).
std::optional<uint64_t> SourceRingId(const flight::FlightInfo& info) {
  const std::string& json = info.app_metadata();
  constexpr std::string_view kField = "\"ring_id\":";
  auto at = json.find(kField);
  if (at == std::string::npos) return std::nullopt;
  uint64_t id = 0;
  const char* begin = json.data() + at + kField.size();
  if (std::from_chars(begin, json.data() + json.size(), id).ec != std::errc()) return std::nullopt;
  return id;
}

}  // namespace

arrow::Status Puller::RunOnce(flight::FlightClient& client, bool* progressed) {
  auto position = cursor_.Load();
  if (position) {
    // A cursor is a sequence of one ring. If the source ring was removed and created again
    // under its name, its sequences start over: resuming "after N" would make the server
    // skip the new ring's first N tables. Ask for the id first; start from the beginning
    // of a ring we have no cursor for.
    ARROW_ASSIGN_OR_RAISE(auto info, client.GetFlightInfo(
                                         CallOptions(), flight::FlightDescriptor::Path({remote_.ring})));
    auto ring_id = SourceRingId(*info);
    if (ring_id && *ring_id != position->ring_id) {
      Log("the source ring " + remote_.ring + " is not the one the cursor was for (it was "
          "created again): starting from its first table");
      position.reset();
    }
  }
  Ticket ticket{remote_.ring, pull_options_.subscriber,
                position ? std::optional<uint64_t>(position->sequence) : std::nullopt};
  auto call = CallOptions();
  ARROW_ASSIGN_OR_RAISE(auto reader, client.DoGet(call, flight::Ticket{ticket.Encode()}));
  // DoGet returned: the server holds the durable subscriber from here on, so whatever is
  // published into the source ring after this line is due to us (scripts wait for it).
  Log("streaming " + remote_.location + "/" + remote_.ring + " as subscriber " +
      pull_options_.subscriber + ", resuming " +
      (ticket.resume_after ? "after sequence " + std::to_string(*ticket.resume_after)
                           : std::string("from the start")));
  flight::FlightStreamReader* raw = reader.get();
  SetCancel([raw] { raw->Cancel(); });
  // Declared after `reader`, so destroyed before it: Stop() must not cancel a dead stream.
  std::unique_ptr<Puller, void (*)(Puller*)> clear_cancel(
      this, [](Puller* self) { self->SetCancel(nullptr); });
  Assembler assembler(ticket.resume_after, publisher_.ring().max_message_size());
  bool ring_checked = false;
  while (!stopping()) {
    ARROW_ASSIGN_OR_RAISE(auto chunk, reader->Next());
    if (!chunk.data) {
      if (!chunk.app_metadata) return arrow::Status::OK();  // end of stream
      continue;
    }
    ARROW_ASSIGN_OR_RAISE(auto tag, BatchTag::Parse(chunk.app_metadata.get()));
    if (!ring_checked) {
      ring_checked = true;
      if (position && position->ring_id != tag.ring_id) {
        // Recreated between GetFlightInfo and this stream: its sequences start over.
        assembler = Assembler(std::nullopt, publisher_.ring().max_message_size());
      }
    }
    uint64_t duplicates = assembler.counters().duplicates;
    uint64_t gap = assembler.counters().gap;
    ARROW_ASSIGN_OR_RAISE(auto complete, assembler.Add(chunk.data, tag));
    stats_.duplicates += assembler.counters().duplicates - duplicates;
    stats_.gap += assembler.counters().gap - gap;
    if (!complete) continue;
    ARROW_ASSIGN_OR_RAISE(auto handle, publisher_.Publish(*complete->table));
    // The commit record right after the commit: see cursor_file.h for what this survives.
    cursor_.Store(tag.ring_id, tag.sequence);
    assembler.Delivered(tag.sequence);
    *progressed = true;
    ++stats_.tables;
    stats_.bytes += handle.size;
    stats_.source_missed += tag.missed;
    stats_.last_sequence = static_cast<int64_t>(tag.sequence);
    Ack ack{remote_.ring, pull_options_.subscriber, tag.sequence};
    auto results = client.DoAction(call, flight::Action{"ack", arrow::Buffer::FromString(ack.Encode())});
    if (!results.ok()) return results.status();
  }
  return arrow::Status::OK();
}

}  // namespace arrowring::bridge
