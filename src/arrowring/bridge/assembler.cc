#include "arrowring/bridge/assembler.h"

#include <arrow/record_batch.h>
#include <arrow/status.h>
#include <arrow/table.h>
#include <arrow/util/byte_size.h>

#include "arrowring/ipc/ring_status.h"

namespace arrowring::bridge {

arrow::Result<std::optional<Assembler::Complete>> Assembler::Add(const std::shared_ptr<arrow::RecordBatch>& batch,
                                                                 const BatchTag& tag) {
  if (tag.batch_index == 0) {
    Reset();
  } else if (pending_.empty() || pending_tag_.sequence != tag.sequence ||
             pending_tag_.batch_index + 1 != tag.batch_index) {
    return arrow::Status::Invalid("bridge stream: batch ", tag.batch_index, " of sequence ", tag.sequence,
                                  " arrived out of order");
  }
  // Flight's reader checks the IPC framing, not the batch: its structure (lengths, buffer
  // sizes, child arrays) is checked before it can reach a ring, as a ring reader's default
  // (Validation::kBasic) does. Not ValidateFull: it also rejects values outside a type's
  // nominal domain (Arrow's own integration files hold date64 values that are not whole
  // days, decimals beyond their precision), which a transport must carry unchanged; readers
  // that do not trust the producers read with Validation::kFull.
  if (auto valid = batch->Validate(); !valid.ok()) {
    return arrow::Status::Invalid("bridge stream: batch ", tag.batch_index, " of sequence ", tag.sequence,
                                  " is not valid Arrow data: ", valid.message());
  }
  pending_bytes_ += static_cast<uint64_t>(arrow::util::TotalBufferSize(*batch));
  if (max_table_bytes_ != 0 && pending_bytes_ > max_table_bytes_) {
    Reset();
    return ToStatus(Error{Errc::kTooLarge, "bridge stream: table of sequence " + std::to_string(tag.sequence) +
                                               " is larger than the destination ring (" +
                                               std::to_string(max_table_bytes_) + " bytes) can ever hold"});
  }
  pending_tag_ = tag;
  // A table without batches travels as one empty batch; it contributes no batch.
  if (tag.batch_count != 0) pending_.push_back(batch);
  if (!tag.last()) return std::nullopt;

  auto schema = batch->schema();
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches = std::move(pending_);
  Reset();
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
