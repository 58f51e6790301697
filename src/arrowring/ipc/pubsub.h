// Publish/subscribe of Arrow tables over a ring: the main path of arrowring.
//
//   Ring ring = *Ring::Create("daq", 256 << 20);
//   Publisher publisher(ring);
//   ARROW_ASSIGN_OR_RAISE(Handle handle, publisher.Publish(*table));
//
//   // another process
//   ARROW_ASSIGN_OR_RAISE(auto subscriber, Subscriber::Make(*Ring::Attach("daq"), "storage"));
//   ARROW_ASSIGN_OR_RAISE(std::optional<Message> message, subscriber.Next(1s));
//   if (message) use(message->table);   // buffers point into the ring; the space returns
//                                       // when the last buffer (or slice) of it dies
//
// Each message is one complete Arrow IPC stream (schema, batches, end-of-stream), written
// once straight into ring memory after exact sizing; any Arrow implementation can read one.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/result.h>
#include <arrow/status.h>
#include <arrow/type_fwd.h>

#include "arrowring/ipc/ipc.h"
#include "arrowring/ipc/loan.h"
#include "arrowring/ipc/ring_status.h"
#include "arrowring/ipc/stream_decoder.h"
#include "arrowring/ipc/stream_encoder.h"
#include "arrowring/ring/ring.h"

namespace arrowring {

struct PublishOptions {
  WriteOptions write;
  /// Loads through the handle (Load) the message waits for besides its subscribers — for
  /// handle-based delivery over your own bus, as in the seed. 0: none.
  uint32_t deliveries = 0;
  /// After this long, deliveries nobody made lapse (counted as dropped), so an unused handle
  /// cannot hold ring space forever.
  std::chrono::seconds delivery_ttl = WriteSlot::kDefaultDeliveryTtl;
  /// How long Publish waits for room under the block and drop-oldest policies.
  std::chrono::nanoseconds timeout = std::chrono::seconds(10);
};

/// Publishes tables into a ring. Any number of publishers, in any number of processes, may
/// publish into one ring at once; one Publisher object belongs to one thread at a time.
class Publisher {
 public:
  explicit Publisher(Ring ring, PublishOptions options = {});

  /// Sizes the stream exactly (no data copied), allocates once, writes the stream straight
  /// into ring memory (the one copy), commits. Waits for room as the ring's policy says (up
  /// to options.timeout); RingFull when there is none, TooLarge when the table can never fit.
  arrow::Result<Handle> Publish(const arrow::Table& table);
  arrow::Result<Handle> Publish(const arrow::RecordBatch& batch);
  /// As Publish, but never waits.
  arrow::Result<Handle> TryPublish(const arrow::Table& table);

  /// Lends ring space holding a record batch of `schema` with `num_rows` rows, every buffer
  /// at its final position in the Arrow IPC stream (loan.h): fill it in place, then Commit()
  /// publishes it without copying. Fixed-width schemas only (InvalidArgument otherwise);
  /// TooLarge when it can never fit the ring, RingFull as Publish.
  arrow::Result<LoanedBatch> Loan(const std::shared_ptr<arrow::Schema>& schema, int64_t num_rows,
                                  const LoanOptions& loan_options = {});

  Ring& ring() { return ring_; }
  const PublishOptions& options() const { return options_; }

 private:
  arrow::Result<WriteSlot> AllocateSlot(uint64_t bytes, bool wait, const std::string& what);
  template <typename Data>
  arrow::Result<Handle> PublishImpl(const Data& data, bool wait);
  Ring ring_;
  PublishOptions options_;
  std::optional<StreamEncoder> encoder_;  // made on first use; keeps the schema's message
  // The framing of the last loan (schema message, where the body starts), reused while the
  // schema, the row count and LoanOptions::validity stay the same: a loan in steady state
  // builds no flatbuffer.
  struct LoanFraming {
    std::shared_ptr<arrow::Schema> schema;
    int64_t num_rows = -1;
    bool validity = false;
    arrow::ipc::IpcWriteOptions ipc_options;
    arrow::ipc::IpcPayload schema_payload;
    int64_t body_start = 0;
  };
  std::optional<LoanFraming> loan_framing_;
};

/// The seed's try_zero_copy_pyarrow: publishes `table` without waiting and returns its
/// handle, or the reason it could not (ErrcOf: kTooLarge, kRingFull, ...) so the caller can
/// take the copying fallback (SerializeTable) explicitly. Nothing falls back silently.
arrow::Result<Handle> TryZeroCopy(const arrow::Table& table, Ring& ring, const PublishOptions& options = {});

struct SubscribeOptions {
  /// kOldest: first every message still in the ring (a retaining ring keeps them until their
  /// space is needed), oldest first; kNew (default): messages published from now on.
  SubscribeStart start = SubscribeStart::kNew;
  ReadOptions read;
  /// How Next() waits: polls the ring for up to `spin.limit` before sleeping on the futex,
  /// adaptively by default (spin.h). SpinPolicy::None() sleeps at once; {limit, false}
  /// always polls the whole limit (a consumer that owns a core).
  SpinPolicy spin = SpinPolicy::Default();
};

struct Message {
  /// Zero-copy: its buffers point into the ring (unless the stream was compressed).
  std::shared_ptr<arrow::Table> table;
  Handle handle;
  /// Messages dropped (drop-oldest) before this subscriber took them, since its last one.
  uint64_t missed = 0;
  /// CLOCK_REALTIME nanoseconds at which the publisher committed it.
  uint64_t commit_time_ns = 0;
};

/// A named subscriber: receives every message published after it joined (and, with
/// SubscribeOptions::start = kOldest, first what the ring still holds), in order.
class Subscriber {
 public:
  static arrow::Result<Subscriber> Make(Ring ring, std::string_view name, SubscribeOptions options = {});

  /// The next message, or empty once `timeout` passes without one.
  arrow::Result<std::optional<Message>> Next(std::chrono::nanoseconds timeout);

  const std::string& name() const { return subscription_.name(); }
  uint64_t missed() const { return subscription_.missed(); }
  Ring& ring() { return ring_; }

 private:
  Subscriber(Ring ring, Subscription subscription, SubscribeOptions options)
      : ring_(std::move(ring)), subscription_(std::move(subscription)), options_(options) {}
  Ring ring_;
  Subscription subscription_;
  SubscribeOptions options_;
  StreamDecoder decoder_;  // keeps the decoded schema between messages
};

/// The table a handle names (for handles passed over your own bus), zero-copy. Consumes one
/// of the message's deliveries. StaleHandle (ErrcOf) once the message has been freed.
arrow::Result<std::shared_ptr<arrow::Table>> Load(Ring& ring, const Handle& handle, const ReadOptions& options = {});

}  // namespace arrowring
