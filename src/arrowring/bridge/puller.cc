#include "arrowring/bridge/puller.h"

#include <charconv>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string_view>
#include <thread>

#include <arrow/flight/client.h>
#include <arrow/table.h>

namespace arrowring::bridge {

namespace flight = arrow::flight;

namespace {

// Sends acknowledgements from a thread of their own, so that the stream never waits a round
// trip per table (at 64 KiB tables that round trip was most of a table's time): the puller
// hands over the newest committed sequence, and while one ack is in flight newer ones
// coalesce into the next. An ack only lets the server free what it holds — the cursor already
// records the commit — so a late or lost one costs at most a replay that the assembler drops
// as a duplicate. The server holds messages in the source ring until acknowledged, so acks
// must not wait for a batch to fill: each goes as soon as the previous one returned.
class Acker {
 public:
  Acker(flight::FlightClient& client, flight::FlightCallOptions call, std::string ring, std::string subscriber)
      : client_(client),
        call_(WithDeadline(std::move(call))),
        ring_(std::move(ring)),
        subscriber_(std::move(subscriber)),
        thread_([this] { Run(); }) {}
  ~Acker() {
    {
      std::lock_guard lock(mutex_);
      done_ = true;
      changed_.notify_all();
    }
    thread_.join();
  }
  void Ack(uint64_t sequence) {
    std::lock_guard lock(mutex_);
    pending_ = sequence;
    changed_.notify_all();
  }
  /// The first failed ack (the stream is then reopened, as for any broken call).
  arrow::Status status() {
    std::lock_guard lock(mutex_);
    return status_;
  }

 private:
  // A deadline, so that a flush on the way out cannot hang on a server that went silent.
  static flight::FlightCallOptions WithDeadline(flight::FlightCallOptions call) {
    call.timeout = flight::TimeoutDuration{10.0};
    return call;
  }

  void Run() {
    std::unique_lock lock(mutex_);
    while (true) {
      changed_.wait(lock, [this] { return done_ || pending_.has_value(); });
      // The last one still goes out on the way out: the server frees it sooner.
      if (!pending_ || !status_.ok()) return;
      bridge::Ack ack{ring_, subscriber_, *pending_};
      pending_.reset();
      lock.unlock();
      auto results = client_.DoAction(call_, flight::Action{"ack", arrow::Buffer::FromString(ack.Encode())});
      // The call's outcome is in its result stream: read it to the end, or a refused ack
      // passes for a delivered one and the call may be cancelled before the server saw it.
      arrow::Status status = results.ok() ? (*results)->Drain() : results.status();
      lock.lock();
      if (!status.ok() && status_.ok()) status_ = status;
    }
  }

  flight::FlightClient& client_;
  flight::FlightCallOptions call_;
  std::string ring_, subscriber_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<uint64_t> pending_;
  bool done_ = false;
  arrow::Status status_;
  std::thread thread_;  // last: starts once everything above is initialised
};

}  // namespace

Puller::Puller(RemoteRing remote, Ring destination, PullOptions options, CursorFile cursor)
    : ClientBase(std::move(remote), options.client),
      pull_options_(std::move(options)),
      publisher_(std::move(destination), pull_options_.publish),
      cursor_(std::move(cursor)) {}

arrow::Result<std::unique_ptr<Puller>> Puller::Make(RemoteRing remote, Ring destination, PullOptions options) {
  ARROW_ASSIGN_OR_RAISE(auto cursor, CursorFile::Open(options.cursor_path));
  return std::unique_ptr<Puller>(
      new Puller(std::move(remote), std::move(destination), std::move(options), std::move(cursor)));
}

arrow::Status Puller::Run() {
  return RunWithRetries("pull " + remote_.location + "/" + remote_.ring, &stats_.reconnects,
                        [this](flight::FlightClient& client, bool* progressed) { return RunOnce(client, progressed); });
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
    ARROW_ASSIGN_OR_RAISE(auto info,
                          client.GetFlightInfo(CallOptions(), flight::FlightDescriptor::Path({remote_.ring})));
    auto ring_id = SourceRingId(*info);
    if (ring_id && *ring_id != position->ring_id) {
      Log("the source ring " + remote_.ring +
          " is not the one the cursor was for (it was "
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
  std::string streaming =
      "streaming " + remote_.location + "/" + remote_.ring + " as subscriber " + pull_options_.subscriber +
      ", resuming " +
      (ticket.resume_after ? "after sequence " + std::to_string(*ticket.resume_after) : std::string("from the start"));
  if (streaming != last_streaming_line_) {  // said once, not again for each reconnect at the same place
    Log(streaming);
    last_streaming_line_ = std::move(streaming);
  }
  flight::FlightStreamReader* raw = reader.get();
  SetCancel([raw] { raw->Cancel(); });
  // Declared after `reader`, so destroyed before it: Stop() must not cancel a dead stream.
  std::unique_ptr<Puller, void (*)(Puller*)> clear_cancel(this, [](Puller* self) { self->SetCancel(nullptr); });
  Assembler assembler(ticket.resume_after, publisher_.ring().max_message_size());
  bool ring_checked = false;
  Acker acker(client, call, remote_.ring, pull_options_.subscriber);
  while (!stopping()) {
    ARROW_RETURN_NOT_OK(acker.status());
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
    acker.Ack(tag.sequence);
  }
  return arrow::Status::OK();
}

}  // namespace arrowring::bridge
