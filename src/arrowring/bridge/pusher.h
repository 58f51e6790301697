// The push bridge: a named subscriber of a local ring whose tables are published into a
// remote ring through the server's DoPut.
//
// The pusher keeps every table it sent until the server acknowledges having published it
// (the put's metadata stream), at most `window` of them; after a lost connection it sends
// them again and the server skips the sequences it already published. This is exact while
// the pusher lives; its subscription is local, so a pusher killed with SIGKILL loses what
// the ring delivered to it but the server had not yet acknowledged (use `bridge pull` on
// the receiving host when a crash must not lose anything).
//
// Stop() is seen between operations on the put (Flight offers no thread-safe cancel of a
// DoPut): at once when idle, else once the write or acknowledgement in progress completes,
// which the server bounds (its publish into a full ring times out). A stopped pusher ends
// the put and waits for the acknowledgements of what it had in flight.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <string>

#include <arrow/result.h>

#include "arrowring/bridge/client.h"
#include "arrowring/ipc/pubsub.h"

namespace arrowring::bridge {

struct PushOptions {
  ClientOptions client;
  /// The local subscriber's name.
  std::string subscriber = "bridge-push";
  /// Most tables sent but not yet acknowledged.
  size_t window = 16;
};

struct PushStats {
  std::atomic<uint64_t> tables{0}, bytes{0}, resent{0}, missed{0}, reconnects{0};
  std::atomic<int64_t> last_sequence{-1};
};

class Pusher : public ClientBase {
 public:
  static arrow::Result<std::unique_ptr<Pusher>> Make(Ring source, RemoteRing remote, PushOptions options);
  /// Pushes until Stop() (returns OK) or a permanent error / retries run out.
  arrow::Status Run();
  const PushStats& stats() const { return stats_; }

 private:
  Pusher(Subscriber subscriber, RemoteRing remote, PushOptions options);
  arrow::Status RunOnce(arrow::flight::FlightClient& client, bool* progressed);

  PushOptions push_options_;
  Subscriber subscriber_;
  struct Held {
    uint64_t sequence;
    Message message;
  };
  std::deque<Held> held_;
  PushStats stats_;
};

}  // namespace arrowring::bridge
