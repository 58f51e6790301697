#include "arrowring/bridge/auth.h"

#include <fstream>
#include <sstream>

#include <arrow/flight/server.h>
#include <arrow/flight/types.h>

namespace arrowring::bridge {

namespace flight = arrow::flight;

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  // Always walk the whole expected length; fold a length mismatch into the result.
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < a.size(); ++i) {
    unsigned char other = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(a[i]) ^ other;
  }
  // volatile: keep the compiler from turning the loop into an early-exit comparison.
  volatile unsigned char result = diff;
  return result == 0;
}

arrow::Result<std::string> ReadTokenFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return arrow::Status::IOError("cannot read token file ", path);
  std::stringstream content;
  content << in.rdbuf();
  std::string token = content.str();
  auto first = token.find_first_not_of(" \t\r\n");
  auto last = token.find_last_not_of(" \t\r\n");
  if (first == std::string::npos) return arrow::Status::Invalid("token file ", path, " is empty");
  return token.substr(first, last - first + 1);
}

arrow::Status TokenAuthFactory::StartCall(const flight::CallInfo& info, const flight::ServerCallContext& context,
                                          std::shared_ptr<flight::ServerMiddleware>*) {
  const auto& headers = context.incoming_headers();
  auto it = headers.find("authorization");
  if (it == headers.end()) {
    log_("rejected " + std::string(flight::ToString(info.method)) + " from " + context.peer() + ": no bearer token");
    return flight::MakeFlightError(flight::FlightStatusCode::Unauthenticated,
                                   "arrowring: this server needs a bearer token");
  }
  std::string_view value = it->second;
  constexpr std::string_view kBearer = "Bearer ";
  bool ok = value.substr(0, kBearer.size()) == kBearer &&
            ConstantTimeEquals(token_, value.substr(std::min(value.size(), kBearer.size())));
  if (!ok) {
    log_("rejected " + std::string(flight::ToString(info.method)) + " from " + context.peer() + ": wrong bearer token");
    return flight::MakeFlightError(flight::FlightStatusCode::Unauthenticated, "arrowring: wrong bearer token");
  }
  return arrow::Status::OK();
}

}  // namespace arrowring::bridge
