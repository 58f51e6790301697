// Errors of the core ring: a small documented enum plus a message that names what was wrong
// and what to do. "Nothing yet" (no room, timeout, empty ring) is never an error: those
// operations return an empty std::optional inside a successful Result.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace arrowring {

enum class Errc : uint8_t {
  kInvalidArgument = 1,  ///< A bad name, size, option or timeout.
  kNotFound,             ///< No ring of that name.
  kAlreadyExists,        ///< create() on a name that is taken.
  kPermissionDenied,     ///< The segment's mode does not let this user in.
  kIncompatible,         ///< Not an arrowring segment, or another layout version/geometry.
  kNoSpace,              ///< /dev/shm (or memory) cannot hold the ring.
  kTooLarge,             ///< A message larger than the ring can ever hold.
  kStaleHandle,          ///< The handle's message was freed and its space may be reused.
  kWrongRing,            ///< The handle names another ring.
  kTooManyAttachments,   ///< All attachment slots of the ring are taken by live processes.
  kBadState,             ///< An operation on a moved-from or already finished slot.
  kRingFull,             ///< No room within the timeout (at once under Policy::kFail); used
                         ///< by publishers, for which failing to publish is an error.
  kSystem,               ///< An unexpected operating-system error (errno in the message).
  kCorrupt,              ///< Shared state or a message breaks the ring's invariants (a stray
                         ///< write by a process with access); the message names the field.
};

/// Name of an error code, e.g. "StaleHandle".
std::string_view ErrcName(Errc code);

struct Error {
  Errc code;
  std::string message;
  std::string ToString() const { return std::string(ErrcName(code)) + ": " + message; }
};

/// A value or an Error (the subset of C++23's std::expected the core needs).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}      // NOLINT
  Result(Error error) : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return state_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(state_); }
  T&& value() && { return std::get<0>(std::move(state_)); }
  const T& value() const& { return std::get<0>(state_); }
  T& operator*() & { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(state_); }

 private:
  std::variant<T, Error> state_;
};

/// Success or an Error, for operations without a value.
using Status = Result<std::monostate>;
inline Status Ok() { return std::monostate{}; }

}  // namespace arrowring
