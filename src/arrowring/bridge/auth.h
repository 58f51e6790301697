// Bearer-token authentication as Flight server middleware: every call must carry
// "authorization: Bearer <token>", compared in constant time. A rejected call never reaches
// a handler, so it can publish nothing.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include <arrow/flight/server_middleware.h>
#include <arrow/result.h>

namespace arrowring::bridge {

/// Compares two strings in time that depends only on their lengths, so that a remote
/// client cannot learn a token byte by byte from response times.
bool ConstantTimeEquals(std::string_view a, std::string_view b);

/// Reads a token file: its content without surrounding whitespace; Invalid when empty.
arrow::Result<std::string> ReadTokenFile(const std::string& path);

class TokenAuthFactory : public arrow::flight::ServerMiddlewareFactory {
 public:
  /// `log` receives one line per rejected call (the server log).
  TokenAuthFactory(std::string token, std::function<void(const std::string&)> log)
      : token_(std::move(token)), log_(std::move(log)) {}
  arrow::Status StartCall(const arrow::flight::CallInfo& info, const arrow::flight::ServerCallContext& context,
                          std::shared_ptr<arrow::flight::ServerMiddleware>* middleware) override;

 private:
  std::string token_;
  std::function<void(const std::string&)> log_;
};

}  // namespace arrowring::bridge
