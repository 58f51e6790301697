#include "arrowring/bridge/client.h"

#include <algorithm>

#include <arrow/flight/types.h>

#include "arrowring/ipc/ring_status.h"

namespace arrowring::bridge {

namespace flight = arrow::flight;

arrow::Result<RemoteRing> RemoteRing::Parse(const std::string& uri) {
  auto scheme_end = uri.find("://");
  if (scheme_end == std::string::npos) {
    return arrow::Status::Invalid("expected grpc://host:port/RING or grpc+tls://host:port/RING, got ", uri);
  }
  std::string scheme = uri.substr(0, scheme_end);
  if (scheme != "grpc" && scheme != "grpc+tcp" && scheme != "grpc+tls") {
    return arrow::Status::Invalid("unsupported scheme ", scheme, " (grpc or grpc+tls)");
  }
  auto slash = uri.find('/', scheme_end + 3);
  if (slash == std::string::npos || slash + 1 >= uri.size()) {
    return arrow::Status::Invalid("no ring name in ", uri, " (grpc://host:port/RING)");
  }
  // Said here, as the user's mistake, rather than later as if a server had refused it.
  std::string authority = uri.substr(scheme_end + 3, slash - scheme_end - 3);
  auto colon = authority.rfind(':');
  bool port_ok = colon != std::string::npos && colon + 1 < authority.size() &&
                 authority.find_first_not_of("0123456789", colon + 1) == std::string::npos &&
                 authority.size() - colon - 1 <= 5;
  if (!port_ok || colon == 0 || !flight::Location::Parse(uri.substr(0, slash)).ok()) {
    return arrow::Status::Invalid("'", uri, "' is not ", scheme,
                                  "://HOST:PORT/RING (e.g. grpc://127.0.0.1:8815/daq, "
                                  "grpc+tls://[::1]:8815/daq)");
  }
  return RemoteRing{uri.substr(0, slash), uri.substr(slash + 1)};
}

bool IsPermanent(const arrow::Status& status) {
  auto detail = flight::FlightStatusDetail::UnwrapStatus(status);
  if (detail) {
    switch (detail->code()) {
      case flight::FlightStatusCode::Unauthenticated:
      case flight::FlightStatusCode::Unauthorized:
      case flight::FlightStatusCode::Failed: return true;
      default: break;
    }
  }
  // A table larger than the destination ring never fits, however often we retry (a full
  // ring, also a CapacityError, is worth waiting for).
  if (ErrcOf(status) == Errc::kTooLarge) return true;
  return status.IsKeyError() || status.IsInvalid() || status.IsNotImplemented();
}

ClientBase::ClientBase(RemoteRing remote, ClientOptions options)
    : remote_(std::move(remote)), options_(std::move(options)) {}

void ClientBase::Stop() {
  stop_ = true;
  stop_source_.RequestStop();
  std::lock_guard lock(mutex_);
  stopped_.notify_all();
  // Called under the lock: SetCancel(nullptr), which the client calls before the stream the
  // cancel refers to is destroyed, then waits for it, so a cancel never reaches a destroyed
  // stream. The cancel only asks gRPC to cancel (ClientContext::TryCancel): it never blocks.
  if (cancel_) cancel_();
}

void ClientBase::SetCancel(std::function<void()> cancel) {
  std::lock_guard lock(mutex_);
  cancel_ = std::move(cancel);
  // Stop() may have run just before this call registered: cancel what it could not see.
  if (stop_ && cancel_) cancel_();
}

arrow::Result<std::unique_ptr<flight::FlightClient>> ClientBase::Connect() {
  ARROW_ASSIGN_OR_RAISE(auto location, flight::Location::Parse(remote_.location));
  flight::FlightClientOptions client_options = flight::FlightClientOptions::Defaults();
  client_options.tls_root_certs = options_.tls_roots;
  ARROW_ASSIGN_OR_RAISE(auto client, flight::FlightClient::Connect(location, client_options));
  ARROW_RETURN_NOT_OK(client->GetFlightInfo(CallOptions(), flight::FlightDescriptor::Path({remote_.ring})).status());
  return client;
}

arrow::Status ClientBase::RunWithRetries(const std::string& what, std::atomic<uint64_t>* reconnects,
                                         const std::function<arrow::Status(flight::FlightClient&, bool*)>& once) {
  int attempt = 0;
  bool ever_connected = false;
  while (!stopping()) {
    arrow::Status status;
    bool progressed = false;
    auto client = Connect();
    if (client.ok()) {
      ever_connected = true;
      status = once(**client, &progressed);
      (void)(*client)->Close();
    } else {
      status = client.status();
    }
    if (stopping()) break;
    if (status.ok()) {  // the server ended the stream (a schema change): go on at once
      attempt = 0;
      continue;
    }
    // Once connected, "unknown ring" can be a ring being removed and created again under its
    // name (a stream on it ends then): retried, as a broken connection is.
    const bool ring_gone_after_connect = ever_connected && status.IsKeyError();
    if (IsPermanent(status) && !ring_gone_after_connect) return Explain(status, remote_, ever_connected);
    if (progressed) attempt = 0;
    ++*reconnects;
    int retries =
        ever_connected || options_.first_connect_retries < 0 ? options_.retries : options_.first_connect_retries;
    if (!Backoff(attempt++, retries)) {
      if (stopping()) break;
      return Explain(status, remote_, ever_connected);
    }
    Log(what + ": " + status.message() + "; retrying");
  }
  return arrow::Status::OK();
}

namespace {

// The server's words alone: Flight appends ". Detail: <code>" to what crosses gRPC, and our
// server's messages start with "arrowring: ", which the CLI prints already.
std::string ServerWords(const arrow::Status& status) {
  std::string message = status.message();
  if (auto detail = message.find(". Detail: "); detail != std::string::npos) message.resize(detail);
  constexpr std::string_view kPrefix = "arrowring: ";
  if (message.rfind(kPrefix, 0) == 0) message.erase(0, kPrefix.size());
  return message;
}

}  // namespace

arrow::Status Explain(const arrow::Status& status, const RemoteRing& remote, bool ever_connected) {
  const std::string where = remote.location + "/" + remote.ring;
  const std::string words = ServerWords(status);
  auto detail = flight::FlightStatusDetail::UnwrapStatus(status);
  auto code = detail ? detail->code() : flight::FlightStatusCode::Internal;
  if (detail && code == flight::FlightStatusCode::Unauthenticated) {
    return status.WithMessage(where, " refused the call: ", words, ". Give the server's token with --token-file.");
  }
  if (detail && code == flight::FlightStatusCode::Unauthorized) {
    return status.WithMessage(where, " refused the call: ", words,
                              ". The server lists the rings it serves with --ring.");
  }
  if (status.IsKeyError()) {
    return status.WithMessage(where, ": ", words,
                              ". Create the ring on the server's host (arrowring create), or "
                              "check its name (arrowring ls there).");
  }
  if (status.IsInvalid() || status.IsNotImplemented()) {
    return status.WithMessage(where, " rejected the request: ", words);
  }
  if (!ever_connected) {
    bool tls = remote.location.rfind("grpc+tls://", 0) == 0;
    return status.WithMessage("cannot reach ", remote.location, " (", words,
                              "). Check that `arrowring serve` "
                              "runs there and listens on that address; ",
                              tls ? "this client uses TLS: the server must have --tls-cert/--tls-key, and its "
                                    "certificate must be signed by --tls-roots (or a system root) for this host name."
                                  : "this client uses plain gRPC: if the server has --tls-cert, use grpc+tls:// and "
                                    "--tls-roots.");
  }
  return status.WithMessage(where, ": ", words);
}

flight::FlightCallOptions ClientBase::CallOptions() const {
  flight::FlightCallOptions call;
  if (!options_.token.empty()) call.headers.emplace_back("authorization", "Bearer " + options_.token);
  call.stop_token = stop_source_.token();
  return call;
}

bool ClientBase::Backoff(int attempt, int retries) {
  if (stop_) return false;
  if (retries >= 0 && attempt >= retries) return false;
  auto delay = options_.backoff_initial * (1 << std::min(attempt, 10));
  delay = std::min<std::chrono::milliseconds>(delay, options_.backoff_max);
  std::unique_lock lock(mutex_);
  // Not a sleep: Stop() wakes it at once.
  stopped_.wait_for(lock, delay, [this] { return stop_.load(); });
  return !stop_;
}

}  // namespace arrowring::bridge
