// What the pull and push clients share: where the server is, how to reach it securely, how
// to retry, and how a signal stops a client even while it waits inside gRPC.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <arrow/flight/client.h>
#include <arrow/result.h>

namespace arrowring::bridge {

/// "grpc://host:port/RING" or "grpc+tls://host:port/RING" split into the server location
/// and the ring name.
struct RemoteRing {
  std::string location;  // grpc[+tls]://host:port
  std::string ring;
  static arrow::Result<RemoteRing> Parse(const std::string& uri);
};

struct ClientOptions {
  /// PEM roots to verify a TLS server with (contents, not a path); empty: system roots.
  std::string tls_roots;
  /// Bearer token sent with every call; empty: none.
  std::string token;
  /// Retries of a failed connection before giving up; negative: forever.
  int retries = -1;
  /// Retries before the first successful connection (negative: as `retries`). A server
  /// that was never reached is more likely a wrong address or scheme than a restart, so
  /// the client says so soon instead of retrying forever.
  int first_connect_retries = 4;
  std::chrono::milliseconds backoff_initial{100}, backoff_max{5000};
  std::function<void(const std::string&)> log;
};

/// True for errors retrying cannot fix: authentication, authorization, unknown ring, bad
/// ticket.
bool IsPermanent(const arrow::Status& status);

/// What went wrong talking to `remote`, said so that the user knows what to change: the
/// status keeps its code (and Flight detail) and gets our message.
arrow::Status Explain(const arrow::Status& status, const RemoteRing& remote, bool ever_connected);

/// Connects, retries with exponential backoff, and stops on request from any thread: Stop()
/// sets the flag the client's loop checks between operations and, for a DoGet stream, cancels
/// it (FlightStreamReader::Cancel, which gRPC allows from any thread), so a client blocked in
/// a stream read returns at once. Nothing else of a call is touched from the stopping thread:
/// gRPC forbids a second operation on a call while one is in progress (closing a DoPut writer
/// from another thread while it writes aborts the process).
class ClientBase {
 public:
  explicit ClientBase(RemoteRing remote, ClientOptions options);
  virtual ~ClientBase() = default;

  /// Thread-safe; safe from a signal-watching thread (not from a signal handler).
  void Stop();
  bool stopping() const { return stop_.load(); }

 protected:
  /// Connects and checks the connection with GetFlightInfo([ring]): a unary call that the
  /// server authenticates and answers at once, so an unreachable server, a scheme that does
  /// not match (plain vs TLS), a refused token or an unknown ring shows here, before a
  /// stream starts (a DoPut reports none of these until its first write).
  arrow::Result<std::unique_ptr<arrow::flight::FlightClient>> Connect();
  /// The retry loop both clients share: `once` runs one connection's work; returns when
  /// stopped (OK), on a permanent error, or when out of retries (the error, explained).
  arrow::Status RunWithRetries(
      const std::string& what, std::atomic<uint64_t>* reconnects,
      const std::function<arrow::Status(arrow::flight::FlightClient&, bool* progressed)>& once);
  arrow::flight::FlightCallOptions CallOptions() const;
  /// Registers what Stop() must cancel: only a thread-safe, non-blocking cancel. Clear it
  /// (nullptr) before the object it refers to is destroyed; clearing waits for a Stop()
  /// running it.
  void SetCancel(std::function<void()> cancel);
  /// Waits out the next backoff step; false when stopped or out of `retries`.
  bool Backoff(int attempt, int retries);
  void Log(const std::string& line) const {
    if (options_.log) options_.log(line);
  }

  RemoteRing remote_;
  ClientOptions options_;
  std::atomic<bool> stop_{false};
  mutable arrow::StopSource stop_source_;
  std::mutex mutex_;
  std::condition_variable stopped_;
  std::function<void()> cancel_;
};

}  // namespace arrowring::bridge
