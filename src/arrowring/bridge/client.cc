#include "arrowring/bridge/client.h"

#include <algorithm>

#include <arrow/flight/types.h>

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
  return RemoteRing{uri.substr(0, slash), uri.substr(slash + 1)};
}

bool IsPermanent(const arrow::Status& status) {
  auto detail = flight::FlightStatusDetail::UnwrapStatus(status);
  if (detail) {
    switch (detail->code()) {
      case flight::FlightStatusCode::Unauthenticated:
      case flight::FlightStatusCode::Unauthorized:
      case flight::FlightStatusCode::Failed:
        return true;
      default:
        break;
    }
  }
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
  return flight::FlightClient::Connect(location, client_options);
}

flight::FlightCallOptions ClientBase::CallOptions() const {
  flight::FlightCallOptions call;
  if (!options_.token.empty()) call.headers.emplace_back("authorization", "Bearer " + options_.token);
  call.stop_token = stop_source_.token();
  return call;
}

bool ClientBase::Backoff(int attempt) {
  if (stop_) return false;
  if (options_.retries >= 0 && attempt > options_.retries) return false;
  auto delay = options_.backoff_initial * (1 << std::min(attempt, 10));
  delay = std::min<std::chrono::milliseconds>(delay, options_.backoff_max);
  std::unique_lock lock(mutex_);
  // Not a sleep: Stop() wakes it at once.
  stopped_.wait_for(lock, delay, [this] { return stop_.load(); });
  return !stop_;
}

}  // namespace arrowring::bridge
