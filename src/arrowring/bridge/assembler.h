// Turns the tagged record batches of a bridge stream back into the tables the source ring
// held, and keeps the sequence accounting: duplicates (a resend after a reconnect) are
// dropped, gaps (messages the source never sent us) are counted.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include <arrow/result.h>
#include <arrow/type_fwd.h>

#include "arrowring/bridge/wire.h"

namespace arrowring::bridge {

struct SequenceCounters {
  uint64_t tables = 0;         ///< complete tables handed out
  uint64_t duplicates = 0;     ///< tables at or below the last delivered sequence, skipped
  uint64_t gap = 0;            ///< sequence numbers skipped that the source did not report
  uint64_t source_missed = 0;  ///< messages the source dropped (drop-oldest) and reported
};

class Assembler {
 public:
  /// `last_delivered`: the last source sequence already committed downstream (resume).
  /// `max_table_bytes`: the most buffer bytes one table may gather (the destination ring's
  /// capacity; 0: no bound), so that a peer announcing endless batches cannot make us
  /// buffer without bound.
  explicit Assembler(std::optional<uint64_t> last_delivered = std::nullopt, uint64_t max_table_bytes = 0)
      : last_(last_delivered), max_table_bytes_(max_table_bytes) {}

  struct Complete {
    std::shared_ptr<arrow::Table> table;
    BatchTag tag;  // of the last batch
  };
  /// Adds one batch; returns the table once its last batch arrived and it is not a
  /// duplicate. The batch came from the network: Invalid unless its structure is valid
  /// (RecordBatch::Validate) and it comes in its place in the table; TooLarge (ErrcOf) past
  /// `max_table_bytes`.
  arrow::Result<std::optional<Complete>> Add(const std::shared_ptr<arrow::RecordBatch>& batch, const BatchTag& tag);
  /// Call after the table Add returned has been committed downstream.
  void Delivered(uint64_t sequence) { last_ = sequence; }
  /// Drops a partly received table (the stream broke in the middle of it).
  void Reset() {
    pending_.clear();
    pending_bytes_ = 0;
  }

  std::optional<uint64_t> last_delivered() const { return last_; }
  const SequenceCounters& counters() const { return counters_; }

 private:
  std::optional<uint64_t> last_;
  uint64_t max_table_bytes_ = 0;
  std::vector<std::shared_ptr<arrow::RecordBatch>> pending_;
  uint64_t pending_bytes_ = 0;
  BatchTag pending_tag_;
  SequenceCounters counters_;
};

}  // namespace arrowring::bridge
