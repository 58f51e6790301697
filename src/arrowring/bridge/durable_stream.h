// The durable subscriber stream of the bridge's Flight server (server.h): a ring
// subscription that lives in the server across DoGet streams, the window of messages sent
// but not yet acknowledged, and the Flight stream that sends them, each record batch tagged
// (BatchTag in wire.h). A reader that reconnects with its last committed sequence gets the
// held messages again, then new ones; nothing is lost or repeated.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include <arrow/flight/server.h>

#include "arrowring/bridge/server.h"
#include "arrowring/ipc/pubsub.h"

namespace arrowring::bridge {

struct RingServer::Sent {
  std::atomic<uint64_t> tables{0}, bytes{0}, missed{0};
};

// A durable subscriber: the ring subscription and the messages sent but not acknowledged.
// One stream at a time serves it; a new DoGet for the same name takes it over.
struct RingServer::Durable {
  std::string ring_name, name;
  std::optional<Subscriber> subscriber;
  std::mutex mutex;
  std::condition_variable changed;
  struct Held {
    uint64_t sequence;
    Message message;
  };
  std::deque<Held> held;  // in sequence order; [0, cursor) sent on the current stream
  size_t cursor = 0;
  std::optional<uint64_t> acked;
  std::atomic<uint64_t> generation{0};  // bumped by each new stream: older streams end
  std::mutex stream_mutex;              // held by the stream using `subscriber`
  ServerStats::Stream stats;
  std::shared_ptr<RingServer::Sent> sent;  // the server's lifetime totals

  void AckLocked(uint64_t sequence) {
    if (!acked || sequence > *acked) acked = sequence;
    while (!held.empty() && held.front().sequence <= sequence) {
      held.pop_front();
      if (cursor > 0) --cursor;
    }
    stats.acked = static_cast<int64_t>(*acked);
    changed.notify_all();
  }
};

/// The DoGet stream of `durable` from its held messages on (replayed first), then new ones
/// from the ring, never more than `window` unacknowledged. It ends when the call is
/// cancelled, `*stopping` turns true, or a newer stream takes the subscriber over (its
/// `generation` changes); `on_close` runs when Flight drops the stream. `stream_lock` (of
/// durable->stream_mutex) is held as long as the stream lives. The stream carries one
/// schema, `schema`: a message of another schema ends it, and the reader reconnects.
std::unique_ptr<arrow::flight::FlightDataStream> OpenDurableStream(
    std::shared_ptr<RingServer::Durable> durable, uint64_t generation, const arrow::flight::ServerCallContext* context,
    const std::atomic<bool>* stopping, size_t window, uint64_t ring_id, std::shared_ptr<arrow::Schema> schema,
    std::unique_lock<std::mutex> stream_lock, std::function<void()> on_close);

}  // namespace arrowring::bridge
