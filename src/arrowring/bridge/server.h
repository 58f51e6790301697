// The bridge's Flight server: exposes the rings of this machine to Flight clients.
//
//   DoGet(ticket)        streams a durable named subscriber of a ring (Ticket in wire.h);
//                        the subscriber lives in this server, shows in `arrowring stat`, and
//                        keeps every message it sent until the reader acknowledges it, so a
//                        reader that reconnects with its last committed sequence loses and
//                        repeats nothing.
//   DoAction("ack")      acknowledges up to a sequence (body: Ack in wire.h).
//   DoPut(path = [ring]) publishes every received table into the ring; duplicates of a
//                        source sequence already published (a resend) are skipped; each
//                        publication is acknowledged in the put's metadata stream.
//   ListFlights / GetFlightInfo describe the rings (schema of the last table served,
//                        counters as JSON in app_metadata); ListFlights lists the --ring
//                        list, or without one every ring of this machine it can attach.
//
// Back-pressure: a DoGet stream holds at most `window` unacknowledged messages and writes
// through gRPC's flow control; a DoPut publishes under the ring's policy before reading
// the next batch. Nothing in the server buffers without bound.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <arrow/flight/server.h>
#include <arrow/result.h>

namespace arrowring::bridge {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 0;  ///< 0: an ephemeral port (port() tells which)
  /// Rings clients may use; empty: every ring of this machine.
  std::vector<std::string> rings;
  /// PEM contents (not paths). Both set: TLS.
  std::string tls_cert, tls_key;
  /// Bearer token every call must carry; empty: none.
  std::string token;
  /// Allow a non-loopback address without TLS and a token.
  bool insecure = false;
  /// Most messages one durable subscriber holds sent but unacknowledged.
  size_t window = 16;
  /// One line per event worth logging (rejections, streams opened and closed).
  std::function<void(const std::string&)> log;
};

struct ServerStats {
  struct Stream {
    std::string ring, subscriber;
    uint64_t tables_sent = 0, bytes_sent = 0, replayed = 0, missed = 0;
    int64_t acked = -1;  ///< last acknowledged source sequence, -1: none
    bool active = false;
  };
  std::vector<Stream> streams;  ///< the durable subscribers the server holds now
  /// Sent over the server's whole life: streams that ended, and durable subscribers that were
  /// replaced or released at Stop(), included (the sums over `streams` only cover the ones held now).
  uint64_t tables_sent = 0, bytes_sent = 0, missed = 0;
  uint64_t tables_received = 0, bytes_received = 0, duplicates_received = 0;
  uint64_t rejected = 0;
};

class RingServer : public arrow::flight::FlightServerBase {
 public:
  /// Validates the options (refusing a non-loopback address without TLS and a token unless
  /// `insecure`), binds and starts serving in the background.
  static arrow::Result<std::unique_ptr<RingServer>> Start(ServerOptions options);
  ~RingServer() override;

  /// Ends every stream and stops serving (idempotent).
  arrow::Status Stop();
  ServerStats stats() const;
  const ServerOptions& options() const { return options_; }

  arrow::Status ListFlights(const arrow::flight::ServerCallContext& context, const arrow::flight::Criteria* criteria,
                            std::unique_ptr<arrow::flight::FlightListing>* listings) override;
  arrow::Status GetFlightInfo(const arrow::flight::ServerCallContext& context,
                              const arrow::flight::FlightDescriptor& request,
                              std::unique_ptr<arrow::flight::FlightInfo>* info) override;
  arrow::Status DoGet(const arrow::flight::ServerCallContext& context, const arrow::flight::Ticket& request,
                      std::unique_ptr<arrow::flight::FlightDataStream>* stream) override;
  arrow::Status DoPut(const arrow::flight::ServerCallContext& context,
                      std::unique_ptr<arrow::flight::FlightMessageReader> reader,
                      std::unique_ptr<arrow::flight::FlightMetadataWriter> writer) override;
  arrow::Status DoAction(const arrow::flight::ServerCallContext& context, const arrow::flight::Action& action,
                         std::unique_ptr<arrow::flight::ResultStream>* result) override;

  struct Durable;  // a durable subscriber and what it holds (durable_stream.h)
  struct Sent;     // what every stream sent, over the server's life (durable_stream.h)

 private:
  explicit RingServer(ServerOptions options);
  arrow::Status Reject(const arrow::flight::ServerCallContext& context, arrow::Status status);
  arrow::Status CheckRing(const std::string& ring) const;
  arrow::Result<std::shared_ptr<arrow::flight::FlightInfo>> Describe(const std::string& name);
  void Log(const std::string& line) const;

  ServerOptions options_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  bool serving_ = false;  // Init succeeded: there is a gRPC server to shut down
  mutable std::mutex mutex_;
  std::map<std::pair<std::string, std::string>, std::shared_ptr<Durable>> durables_;
  std::map<std::string, std::shared_ptr<arrow::Schema>> last_schema_;
  // DoPut dedup: the last source sequence published per (destination ring, source ring id).
  std::map<std::pair<std::string, uint64_t>, uint64_t> put_last_;
  std::atomic<uint64_t> tables_received_{0}, bytes_received_{0}, duplicates_received_{0}, rejected_{0};
  std::shared_ptr<Sent> sent_;  // shared with every Durable, which may outlive the server
};

/// True for 127.0.0.0/8, ::1 and "localhost".
bool IsLoopback(const std::string& host);

}  // namespace arrowring::bridge
