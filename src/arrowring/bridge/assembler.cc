#include "arrowring/bridge/assembler.h"

#include <arrow/record_batch.h>
#include <arrow/status.h>
#include <arrow/table.h>

namespace arrowring::bridge {

arrow::Result<std::optional<Assembler::Complete>> Assembler::Add(
    std::shared_ptr<arrow::RecordBatch> batch, const BatchTag& tag) {
  if (tag.batch_index == 0) {
    pending_.clear();
  } else if (pending_.empty() || pending_tag_.sequence != tag.sequence ||
             pending_tag_.batch_index + 1 != tag.batch_index) {
    return arrow::Status::Invalid("bridge stream: batch ", tag.batch_index, " of sequence ",
                                  tag.sequence, " arrived out of order");
  }
  pending_tag_ = tag;
  // A table without batches travels as one empty batch; it contributes no batch.
  if (tag.batch_count != 0) pending_.push_back(batch);
  if (!tag.last()) return std::nullopt;

  auto schema = batch->schema();
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches = std::move(pending_);
  pending_.clear();
  if (last_ && tag.sequence <= *last_) {
    ++counters_.duplicates;
    return std::nullopt;
  }
  counters_.source_missed += tag.missed;
  if (last_ && tag.sequence > *last_ + 1) {
    // Sequences are per ring, shared by every subscriber: a jump is expected for what the
    // source reported as dropped; anything beyond it is a real gap.
    uint64_t skipped = tag.sequence - *last_ - 1;
    if (skipped > tag.missed) counters_.gap += skipped - tag.missed;
  }
  ARROW_ASSIGN_OR_RAISE(auto table, arrow::Table::FromRecordBatches(schema, batches));
  ++counters_.tables;
  return Complete{std::move(table), tag};
}

}  // namespace arrowring::bridge
