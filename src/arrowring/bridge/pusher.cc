#include "arrowring/bridge/pusher.h"

#include <charconv>

#include <arrow/flight/client.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>

#include "arrowring/bridge/wire.h"

namespace arrowring::bridge {

namespace flight = arrow::flight;
using namespace std::chrono_literals;

Pusher::Pusher(Subscriber subscriber, RemoteRing remote, PushOptions options)
    : ClientBase(std::move(remote), options.client),
      push_options_(std::move(options)),
      subscriber_(std::move(subscriber)) {}

arrow::Result<std::unique_ptr<Pusher>> Pusher::Make(Ring source, RemoteRing remote, PushOptions options) {
  ARROW_ASSIGN_OR_RAISE(auto subscriber, Subscriber::Make(std::move(source), options.subscriber));
  return std::unique_ptr<Pusher>(new Pusher(std::move(subscriber), std::move(remote), std::move(options)));
}

arrow::Status Pusher::Run() {
  return RunWithRetries("push to " + remote_.location + "/" + remote_.ring, &stats_.reconnects,
                        [this](flight::FlightClient& client, bool* progressed) { return RunOnce(client, progressed); });
}

arrow::Status Pusher::RunOnce(flight::FlightClient& client, bool* progressed) {
  // The next table to send: a held one not yet sent on this put (resend), else a new one.
  size_t cursor = 0;
  if (!held_.empty()) stats_.resent += held_.size();
  std::unique_ptr<flight::FlightStreamWriter> writer;
  std::unique_ptr<flight::FlightMetadataReader> acks;
  std::shared_ptr<arrow::Schema> schema;
  uint64_t ring_id = subscriber_.ring().ring_id();
  auto call = CallOptions();
  Log("pushing to " + remote_.location + "/" + remote_.ring + " as subscriber " + push_options_.subscriber +
      (held_.empty() ? "" : ", resending " + std::to_string(held_.size())));

  auto read_ack = [&]() -> arrow::Status {
    std::shared_ptr<arrow::Buffer> ack;
    ARROW_RETURN_NOT_OK(acks->ReadMetadata(&ack));
    if (!ack) return arrow::Status::IOError("server closed the put");
    uint64_t sequence = 0;
    std::string_view text(reinterpret_cast<const char*>(ack->data()), ack->size());
    std::from_chars(text.data(), text.data() + text.size(), sequence);
    while (!held_.empty() && held_.front().sequence <= sequence) {
      held_.pop_front();
      if (cursor > 0) --cursor;
    }
    *progressed = true;
    return arrow::Status::OK();
  };

  while (!stopping()) {
    if (cursor == held_.size()) {
      if (held_.size() >= push_options_.window) {
        ARROW_RETURN_NOT_OK(read_ack());  // back-pressure: wait for the server
        continue;
      }
      ARROW_ASSIGN_OR_RAISE(auto message, subscriber_.Next(100ms));
      if (!message) continue;
      stats_.missed += message->missed;
      held_.push_back({message->handle.sequence, std::move(*message)});
    }
    const Held& next = held_[cursor];
    const auto& table = *next.message.table;
    if (!writer || !schema->Equals(*table.schema(), /*check_metadata=*/true)) {
      if (writer) {
        // One put carries one schema: finish this one (waiting for its acks) and start anew.
        ARROW_RETURN_NOT_OK(writer->DoneWriting());
        while (cursor > 0) ARROW_RETURN_NOT_OK(read_ack());
        ARROW_RETURN_NOT_OK(writer->Close());
      }
      schema = table.schema();
      ARROW_ASSIGN_OR_RAISE(auto put, client.DoPut(call, flight::FlightDescriptor::Path({remote_.ring}), schema));
      writer = std::move(put.writer);
      acks = std::move(put.reader);
      // No SetCancel here: a DoPut has no thread-safe cancel in Flight's API, and closing the
      // writer from the stopping thread races with a write on this one (gRPC aborts the
      // process on two concurrent operations on one call). Stop() is seen between writes.
    }
    arrow::TableBatchReader batch_reader(table);
    ARROW_ASSIGN_OR_RAISE(auto batches, batch_reader.ToRecordBatches());
    BatchTag tag{ring_id, next.sequence, 0, batches.size(), next.message.missed, next.message.commit_time_ns};
    if (batches.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto empty, arrow::RecordBatch::MakeEmpty(schema));
      ARROW_RETURN_NOT_OK(writer->WriteWithMetadata(*empty, tag.Encode()));
    }
    for (size_t i = 0; i < batches.size(); ++i) {
      tag.batch_index = i;
      ARROW_RETURN_NOT_OK(writer->WriteWithMetadata(*batches[i], tag.Encode()));
    }
    ++cursor;
    ++stats_.tables;
    stats_.bytes += next.message.handle.size;
    stats_.last_sequence = static_cast<int64_t>(next.sequence);
  }
  if (writer) {
    // A clean stop: end the put, then take the acknowledgements of what is in flight (at
    // most `window`; the server publishes everything it received before it sees the end),
    // so nothing the local subscriber handed us is left unacknowledged.
    ARROW_RETURN_NOT_OK(writer->DoneWriting());
    while (cursor > 0) ARROW_RETURN_NOT_OK(read_ack());
    ARROW_RETURN_NOT_OK(writer->Close());
  }
  return arrow::Status::OK();
}

}  // namespace arrowring::bridge
