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
  std::chrono::milliseconds backoff_initial{100}, backoff_max{5000};
  std::function<void(const std::string&)> log;
};

/// True for errors retrying cannot fix: authentication, authorization, unknown ring, bad
/// ticket.
bool IsPermanent(const arrow::Status& status);

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
  arrow::Result<std::unique_ptr<arrow::flight::FlightClient>> Connect();
  arrow::flight::FlightCallOptions CallOptions() const;
  /// Registers what Stop() must cancel: only a thread-safe, non-blocking cancel. Clear it
  /// (nullptr) before the object it refers to is destroyed; clearing waits for a Stop()
  /// running it.
  void SetCancel(std::function<void()> cancel);
  /// Waits out the next backoff step; false when stopped or out of retries.
  bool Backoff(int attempt);
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
