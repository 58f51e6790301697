// Test support for loans: filling a loan from an existing batch (the gold files, tables made
// by Arrow's builders) to compare what it publishes with what Arrow's writer makes of it.
#pragma once

#include <arrow/array/data.h>
#include <arrow/record_batch.h>

#include "arrowring/ipc/loan.h"

namespace arrowring::testing {

/// LoanOptions whose capacities hold exactly what `batch`'s variable-width top-level columns
/// use (their offsets starting at 0).
LoanOptions CapacitiesFor(const arrow::RecordBatch& batch);

/// Copies `source` into the loaned node `target` of the same type, children included: every
/// buffer the loan has (as much of it as the source holds), the validity bitmap only where the
/// source has nulls, and the null count. False for a sliced source or one shaped otherwise.
bool CopyIntoLoan(const arrow::ArrayData& source, arrow::ArrayData* target);

}  // namespace arrowring::testing
