// Internal: the checks a ring header must pass before anything else in the segment is used.
#pragma once

#include <cstdint>

#include "arrowring/ring/error.h"
#include "arrowring/ring/layout.h"

namespace arrowring {

/// Verifies magic, layout version, table offsets, geometry and that `memory_bytes` is the size
/// the header describes; each refusal (kIncompatible) says what it found and expected.
Status CheckHeader(const layout::RingHeader& h, uint64_t memory_bytes);

}  // namespace arrowring
