#include "arrowring/ipc/ring_status.h"

#include <memory>
#include <string>
#include <string_view>

namespace arrowring {
namespace {

class RingErrorDetail final : public arrow::StatusDetail {
 public:
  explicit RingErrorDetail(Errc code) : code_(code) {}
  const char* type_id() const override { return "arrowring::RingError"; }
  std::string ToString() const override { return std::string(ErrcName(code_)); }
  Errc code() const { return code_; }

 private:
  Errc code_;
};

arrow::StatusCode ArrowCode(Errc code) {
  switch (code) {
    case Errc::kTooLarge:
    case Errc::kRingFull:
    case Errc::kNoSpace:
    case Errc::kTooManyAttachments: return arrow::StatusCode::CapacityError;
    case Errc::kNotFound:
    case Errc::kStaleHandle: return arrow::StatusCode::KeyError;
    case Errc::kAlreadyExists: return arrow::StatusCode::AlreadyExists;
    case Errc::kPermissionDenied:
    case Errc::kSystem: return arrow::StatusCode::IOError;
    case Errc::kInvalidArgument:
    case Errc::kIncompatible:
    case Errc::kCorrupt:
    case Errc::kWrongRing:
    case Errc::kBadState: return arrow::StatusCode::Invalid;
  }
  return arrow::StatusCode::UnknownError;
}

}  // namespace

arrow::Status ToStatus(const Error& error) {
  return arrow::Status(ArrowCode(error.code), error.message, std::make_shared<RingErrorDetail>(error.code));
}

std::optional<Errc> ErrcOf(const arrow::Status& status) {
  const auto& detail = status.detail();
  if (detail == nullptr || std::string_view(detail->type_id()) != "arrowring::RingError") {
    return std::nullopt;
  }
  return static_cast<const RingErrorDetail&>(*detail).code();
}

}  // namespace arrowring
