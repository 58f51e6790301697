// The pull bridge: a durable subscriber of a remote ring (the server's DoGet) republished
// into a local ring, resuming exactly where it left off.
//
// Resume protocol. After committing a table into the destination ring the puller stores
// the table's source sequence in its cursor file (cursor_file.h), then acknowledges it to
// the server (DoAction "ack", sent by a thread of its own so the stream does not wait a
// round trip per table; acks coalesce while one is in flight). The server keeps every
// message it sent until acknowledged.
// On a reconnect — or a restart after SIGKILL — the ticket carries the cursor, so the
// server drops what was committed and replays the rest; anything at or below the cursor
// that still arrives is counted as a duplicate and skipped. Under `block` nothing is lost
// and nothing is committed twice; under drop-oldest the source's drops arrive in each
// tag's `missed`, and unreported jumps are counted as gaps.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include <arrow/result.h>

#include "arrowring/bridge/assembler.h"
#include "arrowring/bridge/client.h"
#include "arrowring/bridge/cursor_file.h"
#include "arrowring/ipc/pubsub.h"

namespace arrowring::bridge {

struct PullOptions {
  ClientOptions client;
  /// The server-side durable subscriber's name.
  std::string subscriber = "bridge";
  /// Cursor file path; empty: in memory only (resumes across reconnects, not restarts).
  std::string cursor_path;
  PublishOptions publish;
};

struct PullStats {
  std::atomic<uint64_t> tables{0}, bytes{0}, duplicates{0}, gap{0}, source_missed{0}, reconnects{0};
  std::atomic<int64_t> last_sequence{-1};
};

class Puller : public ClientBase {
 public:
  static arrow::Result<std::unique_ptr<Puller>> Make(RemoteRing remote, Ring destination, PullOptions options);
  /// Pulls until Stop() (returns OK) or a permanent error / retries run out.
  arrow::Status Run();
  const PullStats& stats() const { return stats_; }

 private:
  Puller(RemoteRing remote, Ring destination, PullOptions options, CursorFile cursor);
  arrow::Status RunOnce(arrow::flight::FlightClient& client, bool* progressed);

  PullOptions pull_options_;
  Publisher publisher_;
  CursorFile cursor_;
  PullStats stats_;
  // The last "streaming ..." line logged: a stream that ends before its first table (the
  // schema of a ring that was empty at DoGet) reconnects at once and would say it again.
  std::string last_streaming_line_;
};

}  // namespace arrowring::bridge
