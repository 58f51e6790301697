#include "arrowring/ipc/loan_testing.h"

#include <algorithm>
#include <cstring>

#include <arrow/type.h>
#include <arrow/util/bit_util.h>

namespace arrowring::testing {

LoanOptions CapacitiesFor(const arrow::RecordBatch& batch) {
  LoanOptions options;
  for (int c = 0; c < batch.num_columns(); ++c) {
    const auto& data = *batch.column_data(c);
    const arrow::Type::type id = data.type->id();
    const bool large =
        id == arrow::Type::LARGE_STRING || id == arrow::Type::LARGE_BINARY || id == arrow::Type::LARGE_LIST;
    if (id != arrow::Type::STRING && id != arrow::Type::BINARY && id != arrow::Type::LIST && !large) continue;
    const std::string& name = batch.schema()->field(c)->name();
    if (data.length == 0 || data.buffers[1] == nullptr) {  // builders may leave no offsets at all
      options.capacities[name] = 0;
      continue;
    }
    const int64_t last = large ? data.GetValues<int64_t>(1)[data.length] : data.GetValues<int32_t>(1)[data.length];
    int64_t bytes = last;
    if (id == arrow::Type::LIST || id == arrow::Type::LARGE_LIST) {
      const auto& value_type = *static_cast<const arrow::BaseListType&>(*data.type).value_type();
      const auto* fixed = dynamic_cast<const arrow::FixedWidthType*>(&value_type);
      bytes = fixed ? arrow::bit_util::BytesForBits(last * fixed->bit_width()) : 0;
    }
    options.capacities[name] = bytes;
  }
  return options;
}

bool CopyIntoLoan(const arrow::ArrayData& source, arrow::ArrayData* target) {
  if (source.offset != 0) return false;
  for (size_t i = 0; i < target->buffers.size(); ++i) {
    auto& to = target->buffers[i];
    if (to == nullptr) continue;
    const auto& from = i < source.buffers.size() ? source.buffers[i] : nullptr;
    if (i == 0 && (from == nullptr || source.null_count == 0)) continue;  // stays all valid
    if (from == nullptr) {
      if (to->size() == 0) continue;
      return false;
    }
    // A loan's capacity may round up past what the source holds (a list of booleans).
    const int64_t size = std::min(from->size(), to->size());
    if (size > 0) std::memcpy(to->mutable_data(), from->data(), static_cast<size_t>(size));
  }
  target->null_count.store(target->buffers[0] ? source.null_count.load() : 0);
  if (source.child_data.size() != target->child_data.size()) return false;
  for (size_t c = 0; c < source.child_data.size(); ++c) {
    if (!CopyIntoLoan(*source.child_data[c], target->child_data[c].get())) return false;
  }
  return true;
}

}  // namespace arrowring::testing
