// Ring statistics in the Prometheus text exposition format (node_exporter's textfile collector).
#pragma once

#include <string>
#include <vector>

#include "arrowring/ring/ring.h"

namespace arrowring::cli {

/// Every counter and gauge of `rings` as Prometheus text (format 0.0.4): per ring, per
/// subscriber (lag, received, missed) and per holder process, labelled by ring name.
std::string PrometheusText(const std::vector<RingStats>& rings);

}  // namespace arrowring::cli
