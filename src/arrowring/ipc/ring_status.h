// The core's errors as arrow::Status and back: the one conversion between the ring's
// Error{Errc, message} and the Arrow layer's Status. Include this, not pubsub.h, where a file
// only converts errors.
//
//   if (!slot.ok()) return ToStatus(slot.error());            // Error -> Status
//   if (ErrcOf(status) == Errc::kTooLarge) TakeTheFallback();  // Status -> Errc
#pragma once

#include <optional>

#include <arrow/status.h>

#include "arrowring/ring/error.h"

namespace arrowring {

/// The core error as an arrow::Status; ErrcOf() gives the Errc back.
arrow::Status ToStatus(const Error& error);
/// The ring error code behind a Status made by arrowring, or empty for other statuses.
std::optional<Errc> ErrcOf(const arrow::Status& status);

}  // namespace arrowring
