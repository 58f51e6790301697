#include "arrowring/bridge/durable_stream.h"

#include <chrono>
#include <vector>

#include <arrow/flight/types.h>
#include <arrow/ipc/writer.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>

#include "arrowring/bridge/wire.h"

namespace arrowring::bridge {

namespace flight = arrow::flight;
using namespace std::chrono_literals;

namespace {
// How often a waiting stream looks at cancellation, takeover and shutdown.
constexpr auto kPoll = 50ms;

// Yields the batches of the durable subscriber's messages for one DoGet stream and knows
// the tag of the batch it yielded last.
class DurableReader : public arrow::RecordBatchReader {
 public:
  DurableReader(std::shared_ptr<RingServer::Durable> durable, uint64_t generation,
                const flight::ServerCallContext* context, const std::atomic<bool>* stopping, size_t window,
                uint64_t ring_id, std::shared_ptr<arrow::Schema> schema)
      : durable_(std::move(durable)),
        generation_(generation),
        context_(context),
        stopping_(stopping),
        window_(window),
        ring_id_(ring_id),
        schema_(std::move(schema)) {}

  std::shared_ptr<arrow::Schema> schema() const override { return schema_; }
  const BatchTag& tag() const { return tag_; }

  arrow::Status ReadNext(std::shared_ptr<arrow::RecordBatch>* out) override {
    *out = nullptr;
    if (next_batch_ < batches_.size()) return Yield(out);
    ARROW_ASSIGN_OR_RAISE(auto held, NextMessage());
    if (!held) return arrow::Status::OK();  // end of this stream
    const auto& table = *held->message.table;
    if (!table.schema()->Equals(*schema_, /*check_metadata=*/true)) {
      // One Flight stream carries one schema: end this one; the reader reconnects and the
      // message, still held, starts the next stream with its own schema.
      std::lock_guard lock(durable_->mutex);
      if (durable_->cursor > 0) --durable_->cursor;
      return arrow::Status::OK();
    }
    batches_.clear();
    arrow::TableBatchReader batch_reader(table);
    ARROW_ASSIGN_OR_RAISE(batches_, batch_reader.ToRecordBatches());
    tag_ = BatchTag{ring_id_, held->sequence, 0, batches_.size(), held->message.missed, held->message.commit_time_ns};
    if (batches_.empty()) {
      ARROW_ASSIGN_OR_RAISE(auto empty, arrow::RecordBatch::MakeEmpty(schema_));
      batches_.push_back(empty);
    }
    next_batch_ = 0;
    std::lock_guard lock(durable_->mutex);
    ++durable_->stats.tables_sent;
    durable_->stats.missed += held->message.missed;
    durable_->stats.bytes_sent += held->message.handle.size;
    durable_->sent->tables += 1;
    durable_->sent->missed += held->message.missed;
    durable_->sent->bytes += held->message.handle.size;
    return Yield(out);
  }

 private:
  arrow::Status Yield(std::shared_ptr<arrow::RecordBatch>* out) {
    tag_.batch_index = tag_.batch_count == 0 ? 0 : next_batch_;
    *out = batches_[next_batch_++];
    return arrow::Status::OK();
  }

  bool Over() const { return context_->is_cancelled() || stopping_->load() || durable_->generation != generation_; }

  // The next message to send: a held one not yet sent on this stream (a replay), else a new
  // one from the ring once the window has room. Empty when the stream should end.
  arrow::Result<std::optional<RingServer::Durable::Held>> NextMessage() {
    while (true) {
      {
        std::unique_lock lock(durable_->mutex);
        if (Over()) return std::nullopt;
        if (durable_->cursor < durable_->held.size()) {
          auto& held = durable_->held[durable_->cursor++];
          return RingServer::Durable::Held{held.sequence, held.message};
        }
        if (durable_->held.size() >= window_) {
          // Back-pressure: wait for acknowledgements, never buffer more.
          durable_->changed.wait_for(lock, kPoll);
          continue;
        }
      }
      auto next = durable_->subscriber->Next(kPoll);
      if (!next.ok() && ErrcOf(next.status()) == Errc::kNotFound) {
        // The ring was removed (perhaps created again): end the stream; the reader's next
        // DoGet finds what holds the name now.
        return std::nullopt;
      }
      ARROW_ASSIGN_OR_RAISE(auto message, std::move(next));
      if (!message) continue;
      std::lock_guard lock(durable_->mutex);
      durable_->held.push_back({message->handle.sequence, std::move(*message)});
      // Sent right away (the loop takes it as the next unsent).
    }
  }

  std::shared_ptr<RingServer::Durable> durable_;
  uint64_t generation_;
  const flight::ServerCallContext* context_;
  const std::atomic<bool>* stopping_;
  size_t window_;
  uint64_t ring_id_;
  std::shared_ptr<arrow::Schema> schema_;
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches_;
  size_t next_batch_ = 0;
  BatchTag tag_;
};

// Flight's RecordBatchStream does the IPC framing (dictionaries included); this adds our tag
// to every record batch payload.
class TaggedStream : public flight::FlightDataStream {
 public:
  TaggedStream(const std::shared_ptr<DurableReader>& reader, std::unique_lock<std::mutex> stream_lock,
               std::function<void()> on_close)
      : reader_(reader), inner_(reader), stream_lock_(std::move(stream_lock)), on_close_(std::move(on_close)) {}
  ~TaggedStream() override {
    if (on_close_) on_close_();
  }
  std::shared_ptr<arrow::Schema> schema() override { return inner_.schema(); }
  arrow::Result<flight::FlightPayload> GetSchemaPayload() override { return inner_.GetSchemaPayload(); }
  arrow::Result<flight::FlightPayload> Next() override {
    ARROW_ASSIGN_OR_RAISE(auto payload, inner_.Next());
    if (payload.ipc_message.metadata && payload.ipc_message.type == arrow::ipc::MessageType::RECORD_BATCH) {
      payload.app_metadata = reader_->tag().Encode();
    }
    return payload;
  }
  arrow::Status Close() override { return inner_.Close(); }

 private:
  std::shared_ptr<DurableReader> reader_;
  flight::RecordBatchStream inner_;
  std::unique_lock<std::mutex> stream_lock_;
  std::function<void()> on_close_;
};

}  // namespace

std::unique_ptr<flight::FlightDataStream> OpenDurableStream(
    std::shared_ptr<RingServer::Durable> durable, uint64_t generation, const flight::ServerCallContext* context,
    const std::atomic<bool>* stopping, size_t window, uint64_t ring_id, std::shared_ptr<arrow::Schema> schema,
    std::unique_lock<std::mutex> stream_lock, std::function<void()> on_close) {
  auto reader = std::make_shared<DurableReader>(std::move(durable), generation, context, stopping, window, ring_id,
                                                std::move(schema));
  return std::make_unique<TaggedStream>(reader, std::move(stream_lock), std::move(on_close));
}

}  // namespace arrowring::bridge
