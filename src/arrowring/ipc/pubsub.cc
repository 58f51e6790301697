#include "arrowring/ipc/pubsub.h"

#include <arrow/record_batch.h>
#include <arrow/table.h>

namespace arrowring {

namespace {

// Why a ring has no room, from a snapshot of its stats: what a user can act on.
std::string WhatHoldsTheSpace(const RingStats& stats) {
  std::string why;
  uint64_t most_lag = 0;
  std::string slowest;
  for (const auto& sub : stats.subscribers) {
    if (sub.lag > most_lag) most_lag = sub.lag, slowest = sub.name;
  }
  if (most_lag > 0) why += "subscriber '" + slowest + "' is " + std::to_string(most_lag) + " messages behind; ";
  if (stats.kept_messages > 0) {
    why += std::to_string(stats.kept_messages) + " messages (" + std::to_string(stats.kept_bytes) +
           " bytes) are kept by readers that hold their tables; ";
  }
  if (stats.kept_full > 0) {
    why += "the kept table (" + std::to_string(stats.max_kept) + " messages) was full " +
           std::to_string(stats.kept_full) + " times: held messages then hold the space behind them; ";
  }
  if (stats.writing_messages > 0) why += std::to_string(stats.writing_messages) + " messages are being written; ";
  if (why.empty()) why = "messages are held or being written; ";
  return why + "'arrowring stat " + stats.name + "' shows the ring";
}

}  // namespace
namespace {

// The table over a read slot: the slot (and with it the message's space) lives exactly as
// long as any buffer of the table or of a slice of it.
// A message that is no Arrow IPC stream is reported as ours (kCorrupt, naming the message and
// the ring), Arrow's reason kept inside.
arrow::Result<std::shared_ptr<arrow::Table>> TableOver(ReadSlot slot, const ReadOptions& options,
                                                       const std::string& ring_name, StreamDecoder* decoder = nullptr) {
  auto owner = std::make_shared<ReadSlot>(std::move(slot));
  const auto bytes = owner->data();
  const Handle handle = owner->handle();
  auto stream = OwnedBuffer(bytes.data(), static_cast<int64_t>(bytes.size()), owner);
  auto table = decoder != nullptr ? decoder->Decode(std::move(stream), options) : ReadTable(std::move(stream), options);
  if (table.ok()) return table;
  return ToStatus({Errc::kCorrupt, "message " + std::to_string(handle.sequence) + " of ring '" + ring_name + "' (" +
                                       std::to_string(handle.size) +
                                       " bytes) is not a valid Arrow IPC stream: " + table.status().ToString() +
                                       "; it was skipped. Its publisher wrote bad bytes, or a process "
                                       "with write access to the ring overwrote them"});
}

}  // namespace

Publisher::Publisher(Ring ring, PublishOptions options) : ring_(std::move(ring)), options_(options) {}

arrow::Result<WriteSlot> Publisher::AllocateSlot(uint64_t bytes, bool wait, const std::string& what) {
  if (bytes > ring_.capacity()) {
    return ToStatus({Errc::kTooLarge, what + " is " + std::to_string(bytes) + " bytes as an Arrow IPC stream; ring '" +
                                          ring_.name() + "' holds at most " + std::to_string(ring_.capacity()) +
                                          ": use a bigger ring, smaller tables, or the copying fallback"});
  }
  auto slot = wait ? ring_.Allocate(bytes, options_.timeout) : ring_.TryAllocate(bytes);
  if (!slot.ok()) return ToStatus(slot.error());
  if (!slot->has_value()) {
    const bool fails_at_once = !wait || ring_.policy() == Policy::kFail;
    return ToStatus(
        {Errc::kRingFull,
         "ring '" + ring_.name() + "' has no room for " + std::to_string(bytes) + " bytes " +
             (fails_at_once ? std::string("now")
                            : "after waiting " +
                                  std::to_string(
                                      std::chrono::duration_cast<std::chrono::milliseconds>(options_.timeout).count()) +
                                  " ms") +
             " (policy " + std::string(PolicyName(ring_.policy())) + "); " + WhatHoldsTheSpace(ring_.Stats())});
  }
  return std::move(**slot);
}

template <typename Data>
arrow::Result<Handle> Publisher::PublishImpl(const Data& data, bool wait) {
  // Encoded once: the exact size without a second serialization, the schema's message reused.
  if (!encoder_) {
    ARROW_ASSIGN_OR_RAISE(encoder_, StreamEncoder::Make(options_.write));
  }
  ARROW_ASSIGN_OR_RAISE(const int64_t size, encoder_->Encode(data));
  // The encoded payloads hold the table's buffers: let go of them however this ends, so a
  // publisher does not keep the last table it published alive.
  struct ReleaseOnExit {
    StreamEncoder& encoder;
    ~ReleaseOnExit() { encoder.Release(); }
  } release_on_exit{*encoder_};
  ARROW_ASSIGN_OR_RAISE(WriteSlot reserved, AllocateSlot(static_cast<uint64_t>(size), wait, "the table"));
  const auto bytes = static_cast<uint64_t>(size);
  // Destruction of `reserved` aborts the message if anything below fails.
  ARROW_ASSIGN_OR_RAISE(const int64_t written, encoder_->WriteTo(reserved.data().first(bytes), reserved.cold()));
  auto handle = reserved.Commit(static_cast<uint64_t>(written), options_.deliveries, options_.delivery_ttl);
  if (!handle.ok()) return ToStatus(handle.error());
  return *handle;
}

arrow::Result<Handle> Publisher::Publish(const arrow::Table& table) { return PublishImpl(table, true); }
arrow::Result<Handle> Publisher::Publish(const arrow::RecordBatch& batch) { return PublishImpl(batch, true); }
arrow::Result<Handle> Publisher::TryPublish(const arrow::Table& table) { return PublishImpl(table, false); }

arrow::Result<Handle> TryZeroCopy(const arrow::Table& table, Ring& ring, const PublishOptions& options) {
  return Publisher(ring, options).TryPublish(table);
}

arrow::Result<Subscriber> Subscriber::Make(Ring ring, std::string_view name, SubscribeOptions options) {
  auto subscription = ring.Subscribe(name, options.start);
  if (!subscription.ok()) return ToStatus(subscription.error());
  if (auto set = subscription->SetSpin(options.spin); !set.ok()) return ToStatus(set.error());
  return Subscriber(std::move(ring), std::move(*subscription), options);
}

arrow::Result<std::optional<Message>> Subscriber::Next(std::chrono::nanoseconds timeout) {
  auto delivery = subscription_.Next(timeout);
  if (!delivery.ok()) return ToStatus(delivery.error());
  if (!delivery->has_value()) return std::optional<Message>();
  Subscription::Delivery& got = **delivery;
  Message message;
  message.handle = got.slot.handle();
  message.missed = got.missed;
  message.commit_time_ns = got.slot.commit_time_ns();
  // The message is committed and its writer is done with it: validating now is not racing
  // a writer (no time-of-check/time-of-use gap).
  ARROW_ASSIGN_OR_RAISE(message.table, TableOver(std::move(got.slot), options_.read, ring_.name(), &decoder_));
  return std::optional<Message>(std::move(message));
}

arrow::Result<std::shared_ptr<arrow::Table>> Load(Ring& ring, const Handle& handle, const ReadOptions& options) {
  auto slot = ring.Acquire(handle);
  if (!slot.ok()) return ToStatus(slot.error());
  return TableOver(std::move(*slot), options, ring.name());
}

}  // namespace arrowring
