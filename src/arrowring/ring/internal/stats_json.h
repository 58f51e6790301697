// A ring's statistics as JSON: the object `arrowring stat --json` prints and Python's
// Ring.stats() returns, so both have the same keys by construction (docs/cli.md).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "arrowring/ring/ring.h"

namespace arrowring {

std::string StatsJson(const RingStats& stats);
/// Permission bits as four octal digits, e.g. "0600".
std::string ModeString(uint32_t mode);
/// A JSON string literal for `text` (quotes and escapes included).
std::string JsonString(std::string_view text);

}  // namespace arrowring
