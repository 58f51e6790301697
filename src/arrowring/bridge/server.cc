#include "arrowring/bridge/server.h"

#include <chrono>
#include <condition_variable>
#include <algorithm>
#include <atomic>
#include <deque>
#include <optional>
#include <sstream>

#include <arrow/flight/types.h>
#include <arrow/ipc/writer.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>

#include "arrowring/bridge/assembler.h"
#include "arrowring/bridge/auth.h"
#include "arrowring/bridge/wire.h"
#include "arrowring/ipc/pubsub.h"
#include "arrowring/ring/segment.h"

namespace arrowring::bridge {

namespace flight = arrow::flight;
using namespace std::chrono_literals;

namespace {
// How often a waiting stream looks at cancellation, takeover and shutdown.
constexpr auto kPoll = 50ms;

}  // namespace

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

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
  std::deque<Held> held;   // in sequence order; [0, cursor) sent on the current stream
  size_t cursor = 0;
  std::optional<uint64_t> acked;
  std::atomic<uint64_t> generation{0};  // bumped by each new stream: older streams end
  std::mutex stream_mutex;  // held by the stream using `subscriber`
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

namespace {

// Yields the batches of the durable subscriber's messages for one DoGet stream and knows
// the tag of the batch it yielded last.
class DurableReader : public arrow::RecordBatchReader {
 public:
  DurableReader(std::shared_ptr<RingServer::Durable> durable, uint64_t generation,
                const flight::ServerCallContext* context, const std::atomic<bool>* stopping,
                size_t window, uint64_t ring_id, std::shared_ptr<arrow::Schema> schema)
      : durable_(std::move(durable)), generation_(generation), context_(context),
        stopping_(stopping), window_(window), ring_id_(ring_id), schema_(std::move(schema)) {}

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
    tag_ = BatchTag{ring_id_, held->sequence, 0, batches_.size(), held->message.missed,
                    held->message.commit_time_ns};
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

  bool Over() const {
    return context_->is_cancelled() || stopping_->load() || durable_->generation != generation_;
  }

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
  TaggedStream(std::shared_ptr<DurableReader> reader, std::unique_lock<std::mutex> stream_lock,
               std::function<void()> on_close)
      : reader_(reader), inner_(reader), stream_lock_(std::move(stream_lock)),
        on_close_(std::move(on_close)) {}
  ~TaggedStream() override {
    if (on_close_) on_close_();
  }
  std::shared_ptr<arrow::Schema> schema() override { return inner_.schema(); }
  arrow::Result<flight::FlightPayload> GetSchemaPayload() override {
    return inner_.GetSchemaPayload();
  }
  arrow::Result<flight::FlightPayload> Next() override {
    ARROW_ASSIGN_OR_RAISE(auto payload, inner_.Next());
    if (payload.ipc_message.metadata &&
        payload.ipc_message.type == arrow::ipc::MessageType::RECORD_BATCH) {
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

// A table that can never fit the ring, said as a bad request: the sender must not retry it
// (TooLarge is a CapacityError, as a full ring is, which a sender rightly retries).
arrow::Status NeverFits(const arrow::Status& status) {
  if (ErrcOf(status) != Errc::kTooLarge) return status;
  return arrow::Status::Invalid(status.message());
}

std::string StatsJson(const RingStats& s) {
  std::ostringstream out;
  out << "{\"ring_id\":" << s.ring_id << ",\"capacity_bytes\":" << s.capacity_bytes
      << ",\"policy\":\"" << PolicyName(s.policy) << "\",\"messages_written\":"
      << s.messages_written << ",\"bytes_written\":" << s.bytes_written
      << ",\"messages_dropped\":" << s.messages_dropped << ",\"committed_messages\":"
      << s.committed_messages << ",\"subscribers\":" << s.subscribers.size() << "}";
  return out.str();
}

}  // namespace

RingServer::RingServer(ServerOptions options)
    : options_(std::move(options)), sent_(std::make_shared<Sent>()) {}

RingServer::~RingServer() { (void)Stop(); }

void RingServer::Log(const std::string& line) const {
  if (options_.log) options_.log(line);
}

arrow::Result<std::unique_ptr<RingServer>> RingServer::Start(ServerOptions options) {
  bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
  if (tls && (options.tls_cert.empty() || options.tls_key.empty())) {
    return arrow::Status::Invalid("TLS needs both a certificate and a key");
  }
  if (!IsLoopback(options.host) && !options.insecure && (!tls || options.token.empty())) {
    return arrow::Status::Invalid("refusing to listen on non-loopback address ", options.host,
                                  " without TLS and a token (--tls-cert/--tls-key and "
                                  "--token-file), unless --insecure is given");
  }
  std::string host = options.host;
  if (host.find(':') != std::string::npos && host.front() != '[') host = "[" + host + "]";
  ARROW_ASSIGN_OR_RAISE(auto location, tls ? flight::Location::ForGrpcTls(host, options.port)
                                           : flight::Location::ForGrpcTcp(host, options.port));
  std::unique_ptr<RingServer> server(new RingServer(std::move(options)));
  flight::FlightServerOptions flight_options(location);
  if (tls) {
    flight_options.tls_certificates.push_back(
        {server->options_.tls_cert, server->options_.tls_key});
  }
  if (!server->options_.token.empty()) {
    RingServer* raw = server.get();
    flight_options.middleware.emplace_back(
        "arrowring-token", std::make_shared<TokenAuthFactory>(
                               server->options_.token, [raw](const std::string& line) {
                                 raw->rejected_++;
                                 raw->Log(line);
                               }));
  }
  if (auto status = server->Init(flight_options); !status.ok()) {
    return status.WithMessage(
        "cannot serve on ", location.ToString(), ": ", status.message(),
        tls ? ". Check that the port is free and that --tls-cert and --tls-key are a PEM "
              "certificate and its private key."
            : ". Check that the port is free and the address is one of this host's.");
  }
  server->serving_ = true;
  return server;
}

arrow::Status RingServer::Stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) return arrow::Status::OK();
    stopped_ = true;
  }
  // Start() failed in Init: there is no gRPC server, and Flight's Shutdown() on it crashes.
  if (!serving_) return arrow::Status::OK();
  stopping_ = true;
  {
    std::lock_guard lock(mutex_);
    for (auto& [key, durable] : durables_) durable->changed.notify_all();
  }
  // Streams notice `stopping_` within kPoll; give in-flight calls a bounded grace period.
  auto deadline = std::chrono::system_clock::now() + 2s;
  auto status = Shutdown(&deadline);
  std::lock_guard lock(mutex_);
  durables_.clear();  // leaving the rings releases everything held
  return status;
}

ServerStats RingServer::stats() const {
  ServerStats out;
  std::lock_guard lock(mutex_);
  for (const auto& [key, durable] : durables_) {
    std::lock_guard durable_lock(durable->mutex);
    out.streams.push_back(durable->stats);
  }
  out.tables_sent = sent_->tables;
  out.bytes_sent = sent_->bytes;
  out.missed = sent_->missed;
  out.tables_received = tables_received_;
  out.bytes_received = bytes_received_;
  out.duplicates_received = duplicates_received_;
  out.rejected = rejected_;
  return out;
}

arrow::Status RingServer::Reject(const flight::ServerCallContext& context, arrow::Status status) {
  ++rejected_;
  Log("rejected call from " + context.peer() + ": " + status.ToString());
  return status;  // Flight carries the Arrow status code to the client
}

arrow::Status RingServer::CheckRing(const std::string& ring) const {
  if (!options_.rings.empty() &&
      std::find(options_.rings.begin(), options_.rings.end(), ring) == options_.rings.end()) {
    return flight::MakeFlightError(flight::FlightStatusCode::Unauthorized,
                                   "ring \"" + ring + "\" is not served here");
  }
  return arrow::Status::OK();
}

arrow::Result<std::shared_ptr<flight::FlightInfo>> RingServer::Describe(const std::string& name) {
  ARROW_RETURN_NOT_OK(CheckRing(name));
  auto ring = Ring::Attach(name);
  if (!ring.ok()) return arrow::Status::KeyError("unknown ring \"", name, "\"");
  RingStats stats = ring->Stats();
  std::shared_ptr<arrow::Schema> schema = arrow::schema({});
  {
    std::lock_guard lock(mutex_);
    if (auto it = last_schema_.find(name); it != last_schema_.end()) schema = it->second;
  }
  auto descriptor = flight::FlightDescriptor::Path({name});
  ARROW_ASSIGN_OR_RAISE(auto info,
                        flight::FlightInfo::Make(*schema, descriptor, {},
                                                 static_cast<int64_t>(stats.messages_written),
                                                 static_cast<int64_t>(stats.bytes_written),
                                                 /*ordered=*/true, StatsJson(stats)));
  return std::make_shared<flight::FlightInfo>(std::move(info));
}

arrow::Status RingServer::ListFlights(const flight::ServerCallContext& context,
                                      const flight::Criteria*,
                                      std::unique_ptr<flight::FlightListing>* listings) {
  std::vector<flight::FlightInfo> infos;
  // Without --ring the server serves every ring of this machine, so it lists them all (a
  // client cannot guess names); rings this user cannot attach are skipped, as in `ls`.
  const std::vector<std::string> names =
      options_.rings.empty() ? MappedSegment::List() : options_.rings;
  for (const auto& name : names) {
    auto info = Describe(name);
    if (info.ok()) infos.push_back(**info);
  }
  (void)context;
  *listings = std::make_unique<flight::SimpleFlightListing>(std::move(infos));
  return arrow::Status::OK();
}

arrow::Status RingServer::GetFlightInfo(const flight::ServerCallContext& context,
                                        const flight::FlightDescriptor& request,
                                        std::unique_ptr<flight::FlightInfo>* info) {
  if (request.type != flight::FlightDescriptor::PATH || request.path.size() != 1) {
    return Reject(context, arrow::Status::Invalid("descriptor must be the path [ring]"));
  }
  auto described = Describe(request.path[0]);
  if (!described.ok()) return Reject(context, described.status());
  *info = std::make_unique<flight::FlightInfo>(**described);
  return arrow::Status::OK();
}

arrow::Status RingServer::DoGet(const flight::ServerCallContext& context,
                                const flight::Ticket& request,
                                std::unique_ptr<flight::FlightDataStream>* stream) {
  auto ticket = Ticket::Parse(request.ticket);
  if (!ticket.ok()) return Reject(context, ticket.status());
  if (auto st = CheckRing(ticket->ring); !st.ok()) return Reject(context, st);
  auto key = std::make_pair(ticket->ring, ticket->subscriber);
  std::shared_ptr<Durable> durable;
  {
    std::lock_guard lock(mutex_);
    if (stopping_) return flight::MakeFlightError(flight::FlightStatusCode::Unavailable, "server stopping");
    auto it = durables_.find(key);
    if (it != durables_.end()) durable = it->second;
  }
  auto ring = Ring::Attach(ticket->ring);
  if (!ring.ok()) {
    return Reject(context, arrow::Status::KeyError("unknown ring \"", ticket->ring, "\""));
  }
  if (durable && durable->subscriber->ring().ring_id() != ring->ring_id()) {
    // The ring was removed and created again under its name: the durable subscriber reads
    // the old, unlinked segment, where nothing will ever come. Start over on the new one.
    Log("ring " + ticket->ring + " was created again: subscriber " + ticket->subscriber +
        " starts over on the new ring");
    std::lock_guard lock(mutex_);
    if (auto it = durables_.find(key); it != durables_.end() && it->second == durable) {
      durables_.erase(it);
    }
    {
      std::lock_guard durable_lock(durable->mutex);
      ++durable->generation;  // a stream still serving it ends
      durable->changed.notify_all();
    }
    durable.reset();
  }
  if (!durable) {
    auto subscriber = Subscriber::Make(*ring, ticket->subscriber);
    if (!subscriber.ok()) return Reject(context, subscriber.status());
    durable = std::make_shared<Durable>();
    durable->ring_name = ticket->ring;
    durable->name = ticket->subscriber;
    durable->subscriber.emplace(std::move(*subscriber));
    durable->sent = sent_;
    durable->stats.ring = ticket->ring;
    durable->stats.subscriber = ticket->subscriber;
    std::lock_guard lock(mutex_);
    auto [it, inserted] = durables_.emplace(key, durable);
    if (!inserted) durable = it->second;  // a concurrent DoGet made it first
  }
  // Take the subscriber over from any earlier stream (a reader that reconnected).
  uint64_t generation;
  {
    std::lock_guard lock(durable->mutex);
    generation = ++durable->generation;
    durable->changed.notify_all();
  }
  std::unique_lock stream_lock(durable->stream_mutex);
  uint64_t ring_id = durable->subscriber->ring().ring_id();
  std::shared_ptr<arrow::Schema> schema;
  {
    std::unique_lock lock(durable->mutex);
    if (ticket->resume_after) durable->AckLocked(*ticket->resume_after);
    durable->stats.replayed += durable->held.size();
    durable->cursor = 0;
    durable->stats.active = true;
  }
  // The stream's schema: that of the first held message, else the ring's last known one
  // (or an empty one). DoGet must not wait for a message: the client's DoGet blocks until
  // the schema arrives, where it cannot be cancelled. A first message of another schema
  // ends the stream and the reader reconnects at once (DurableReader::ReadNext).
  {
    std::lock_guard lock(durable->mutex);
    if (!durable->held.empty()) schema = durable->held.front().message.table->schema();
  }
  if (!schema) {
    std::lock_guard lock(mutex_);
    auto it = last_schema_.find(ticket->ring);
    schema = it != last_schema_.end() ? it->second : arrow::schema({});
  }
  {
    std::lock_guard lock(mutex_);
    last_schema_[ticket->ring] = schema;
  }
  Log("stream " + ticket->ring + "/" + ticket->subscriber + " to " + context.peer() +
      " (resume after " + (ticket->resume_after ? std::to_string(*ticket->resume_after) : "-") +
      ")");
  auto reader = std::make_shared<DurableReader>(durable, generation, &context, &stopping_,
                                                options_.window, ring_id, schema);
  *stream = std::make_unique<TaggedStream>(reader, std::move(stream_lock), [durable] {
    std::lock_guard lock(durable->mutex);
    durable->stats.active = false;
  });
  return arrow::Status::OK();
}

arrow::Status RingServer::DoAction(const flight::ServerCallContext& context,
                                   const flight::Action& action,
                                   std::unique_ptr<flight::ResultStream>* result) {
  if (action.type != "ack") {
    return Reject(context, arrow::Status::NotImplemented("unknown action \"", action.type,
                                                         "\": this server knows only \"ack\""));
  }
  auto ack = Ack::Parse(action.body ? action.body->ToString() : "");
  if (!ack.ok()) {
    std::string why = ack.status().message();
    if (why.rfind("bad ticket: ", 0) == 0) why.erase(0, 12);  // Ack::Parse is Ticket::Parse
    return Reject(context, arrow::Status::Invalid(
                               "bad ack: ", why,
                               " (an ack has the ticket's form, with the last sequence committed)"));
  }
  if (!ack->resume_after) {
    return Reject(context, arrow::Status::Invalid("bad ack: it names no sequence (\"-\")"));
  }
  std::shared_ptr<Durable> durable;
  {
    std::lock_guard lock(mutex_);
    auto it = durables_.find({ack->ring, ack->subscriber});
    if (it != durables_.end()) durable = it->second;
  }
  if (!durable) {
    return Reject(context, arrow::Status::KeyError(
                               "no subscriber \"", ack->subscriber, "\" of ring \"", ack->ring,
                               "\" on this server: acknowledge on the stream DoGet opened"));
  }
  {
    std::lock_guard lock(durable->mutex);
    durable->AckLocked(*ack->resume_after);
  }
  *result = std::make_unique<flight::SimpleResultStream>(std::vector<flight::Result>{});
  return arrow::Status::OK();
}

arrow::Status RingServer::DoPut(const flight::ServerCallContext& context,
                                std::unique_ptr<flight::FlightMessageReader> reader,
                                std::unique_ptr<flight::FlightMetadataWriter> writer) {
  const auto& descriptor = reader->descriptor();
  if (descriptor.type != flight::FlightDescriptor::PATH || descriptor.path.size() != 1) {
    return Reject(context, arrow::Status::Invalid("DoPut descriptor must be the path [ring]"));
  }
  const std::string& name = descriptor.path[0];
  if (auto st = CheckRing(name); !st.ok()) return Reject(context, st);
  auto ring = Ring::Attach(name);
  if (!ring.ok()) return Reject(context, arrow::Status::KeyError("unknown ring \"", name, "\""));
  Publisher publisher(*ring);
  std::optional<Assembler> assembler;
  uint64_t source_ring = 0;
  Log("put into " + name + " from " + context.peer());
  while (!stopping_ && !context.is_cancelled()) {
    ARROW_ASSIGN_OR_RAISE(auto chunk, reader->Next());
    if (!chunk.data) {
      if (!chunk.app_metadata) break;  // end of stream
      continue;
    }
    auto tag = BatchTag::Parse(chunk.app_metadata.get());
    if (!tag.ok()) return Reject(context, tag.status());
    if (!assembler || tag->ring_id != source_ring) {
      source_ring = tag->ring_id;
      std::optional<uint64_t> last;
      std::lock_guard lock(mutex_);
      if (auto it = put_last_.find({name, source_ring}); it != put_last_.end()) last = it->second;
      assembler.emplace(last, publisher.ring().max_message_size());
    }
    uint64_t duplicates = assembler->counters().duplicates;
    auto complete = assembler->Add(chunk.data, *tag);
    if (!complete.ok()) return Reject(context, NeverFits(complete.status()));
    if (assembler->counters().duplicates != duplicates) ++duplicates_received_;
    if (!*complete) {
      if (tag->last()) {  // a duplicate: acknowledge it again so the sender can let go
        ARROW_RETURN_NOT_OK(writer->WriteMetadata(*arrow::Buffer::FromString(
            std::to_string(tag->sequence))));
      }
      continue;
    }
    auto handle = publisher.Publish(*(*complete)->table);
    if (!handle.ok()) return Reject(context, NeverFits(handle.status()));
    assembler->Delivered(tag->sequence);
    {
      std::lock_guard lock(mutex_);
      put_last_[{name, source_ring}] = tag->sequence;
      last_schema_[name] = (*complete)->table->schema();
    }
    ++tables_received_;
    bytes_received_ += handle->size;
    ARROW_RETURN_NOT_OK(
        writer->WriteMetadata(*arrow::Buffer::FromString(std::to_string(tag->sequence))));
  }
  return arrow::Status::OK();
}

}  // namespace arrowring::bridge
