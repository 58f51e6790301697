#include "arrowring/bridge/server.h"

#include <algorithm>
#include <chrono>
#include <optional>
#include <sstream>

#include <arrow/flight/types.h>
#include <arrow/ipc/writer.h>
#include <arrow/record_batch.h>
#include <arrow/table.h>

#include "arrowring/bridge/assembler.h"
#include "arrowring/bridge/auth.h"
#include "arrowring/bridge/durable_stream.h"
#include "arrowring/bridge/wire.h"
#include "arrowring/ipc/pubsub.h"
#include "arrowring/ring/internal/segment.h"

namespace arrowring::bridge {

namespace flight = arrow::flight;
using namespace std::chrono_literals;

bool IsLoopback(const std::string& host) {
  return host == "localhost" || host == "::1" || host == "[::1]" || host.rfind("127.", 0) == 0;
}

namespace {

// A table that can never fit the ring, said as a bad request: the sender must not retry it
// (TooLarge is a CapacityError, as a full ring is, which a sender rightly retries).
arrow::Status NeverFits(const arrow::Status& status) {
  if (ErrcOf(status) != Errc::kTooLarge) return status;
  return arrow::Status::Invalid(status.message());
}

std::string StatsJson(const RingStats& s) {
  std::ostringstream out;
  out << "{\"ring_id\":" << s.ring_id << ",\"capacity_bytes\":" << s.capacity_bytes << ",\"policy\":\""
      << PolicyName(s.policy) << "\",\"messages_written\":" << s.messages_written
      << ",\"bytes_written\":" << s.bytes_written << ",\"messages_dropped\":" << s.messages_dropped
      << ",\"committed_messages\":" << s.committed_messages << ",\"subscribers\":" << s.subscribers.size() << "}";
  return out.str();
}

}  // namespace

RingServer::RingServer(ServerOptions options) : options_(std::move(options)), sent_(std::make_shared<Sent>()) {}

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
    flight_options.tls_certificates.push_back({server->options_.tls_cert, server->options_.tls_key});
  }
  if (!server->options_.token.empty()) {
    RingServer* raw = server.get();
    flight_options.middleware.emplace_back(
        "arrowring-token", std::make_shared<TokenAuthFactory>(server->options_.token, [raw](const std::string& line) {
          raw->rejected_++;
          raw->Log(line);
        }));
  }
  if (auto status = server->Init(flight_options); !status.ok()) {
    return status.WithMessage("cannot serve on ", location.ToString(), ": ", status.message(),
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
  // Streams notice `stopping_` within kPoll (durable_stream.cc); give in-flight calls a
  // bounded grace period.
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
    return flight::MakeFlightError(flight::FlightStatusCode::Unauthorized, "ring \"" + ring + "\" is not served here");
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
                        flight::FlightInfo::Make(*schema, descriptor, {}, static_cast<int64_t>(stats.messages_written),
                                                 static_cast<int64_t>(stats.bytes_written),
                                                 /*ordered=*/true, StatsJson(stats)));
  return std::make_shared<flight::FlightInfo>(std::move(info));
}

arrow::Status RingServer::ListFlights(const flight::ServerCallContext& context, const flight::Criteria*,
                                      std::unique_ptr<flight::FlightListing>* listings) {
  std::vector<flight::FlightInfo> infos;
  // Without --ring the server serves every ring of this machine, so it lists them all (a
  // client cannot guess names); rings this user cannot attach are skipped, as in `ls`.
  const std::vector<std::string> names = options_.rings.empty() ? MappedSegment::List() : options_.rings;
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

arrow::Status RingServer::DoGet(const flight::ServerCallContext& context, const flight::Ticket& request,
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
  Log("stream " + ticket->ring + "/" + ticket->subscriber + " to " + context.peer() + " (resume after " +
      (ticket->resume_after ? std::to_string(*ticket->resume_after) : "-") + ")");
  *stream = OpenDurableStream(durable, generation, &context, &stopping_, options_.window, ring_id, schema,
                              std::move(stream_lock), [durable] {
                                std::lock_guard lock(durable->mutex);
                                durable->stats.active = false;
                              });
  return arrow::Status::OK();
}

arrow::Status RingServer::DoAction(const flight::ServerCallContext& context, const flight::Action& action,
                                   std::unique_ptr<flight::ResultStream>* result) {
  if (action.type != "ack") {
    return Reject(
        context, arrow::Status::NotImplemented("unknown action \"", action.type, "\": this server knows only \"ack\""));
  }
  auto ack = Ack::Parse(action.body ? action.body->ToString() : "");
  if (!ack.ok()) {
    std::string why = ack.status().message();
    if (why.rfind("bad ticket: ", 0) == 0) why.erase(0, 12);  // Ack::Parse is Ticket::Parse
    return Reject(context, arrow::Status::Invalid("bad ack: ", why,
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
    return Reject(context, arrow::Status::KeyError("no subscriber \"", ack->subscriber, "\" of ring \"", ack->ring,
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
        ARROW_RETURN_NOT_OK(writer->WriteMetadata(*arrow::Buffer::FromString(std::to_string(tag->sequence))));
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
    ARROW_RETURN_NOT_OK(writer->WriteMetadata(*arrow::Buffer::FromString(std::to_string(tag->sequence))));
  }
  return arrow::Status::OK();
}

}  // namespace arrowring::bridge
