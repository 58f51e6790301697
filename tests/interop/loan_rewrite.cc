// loan_rewrite IN.stream OUT_PREFIX
// Reads every record batch of IN with Arrow, builds each one again in a loan of ring memory
// (Publisher::Loan, values copied in place), commits it, and writes the published message —
// one complete Arrow IPC stream — to OUT_PREFIX.<i>. Prints the number of streams written.
// Variable-width columns are loaned with the capacity they use. Exit 3 when the schema is not
// loanable. pyarrow (test_loan_interop.py) reads the bytes a loan publishes.
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <string>

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/ipc/reader.h>

#include "arrowring/ipc/loan_testing.h"
#include "arrowring/ipc/pubsub.h"

namespace {

int Fail(const std::string& what) {
  std::cerr << "loan_rewrite: " << what << "\n";
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace arrowring;
  if (argc != 3) {
    std::cerr << "usage: loan_rewrite IN.stream OUT_PREFIX\n";
    return 2;
  }
  auto file = arrow::io::ReadableFile::Open(argv[1]);
  if (!file.ok()) return Fail(file.status().ToString());
  auto reader = arrow::ipc::RecordBatchStreamReader::Open(*file);
  if (!reader.ok()) return Fail(reader.status().ToString());
  const uint64_t capacity = 64ull << 20;
  const uint64_t bytes = *Ring::RequiredBytes(capacity);
  std::shared_ptr<void> memory(std::aligned_alloc(64, bytes), std::free);
  auto ring =
      Ring::Format(std::span(static_cast<std::byte*>(memory.get()), bytes), capacity, {}, "loan-rewrite", memory);
  if (!ring.ok()) return Fail(ring.error().message);
  PublishOptions options;
  options.deliveries = 1;
  Publisher publisher(*ring, options);
  int written = 0;
  for (;;) {
    std::shared_ptr<arrow::RecordBatch> batch;
    if (auto status = (*reader)->ReadNext(&batch); !status.ok()) return Fail(status.ToString());
    if (batch == nullptr) break;
    auto loan = publisher.Loan(batch->schema(), batch->num_rows(), testing::CapacitiesFor(*batch));
    if (!loan.ok()) {
      if (ErrcOf(loan.status()) == Errc::kInvalidArgument) {
        std::cerr << "loan_rewrite: not loanable: " << loan.status().ToString() << "\n";
        return 3;
      }
      return Fail(loan.status().ToString());
    }
    for (int c = 0; c < batch->num_columns(); ++c) {
      if (!testing::CopyIntoLoan(*batch->column_data(c), loan->column_data(c).get())) {
        return Fail("a sliced or odd gold column");
      }
    }
    auto handle = loan->Commit();
    if (!handle.ok()) return Fail(handle.status().ToString());
    auto slot = ring->Acquire(*handle);
    if (!slot.ok()) return Fail(slot.error().message);
    std::ofstream out(std::string(argv[2]) + "." + std::to_string(written), std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(slot->data().data()), static_cast<std::streamsize>(slot->data().size()));
    if (!out.good()) return Fail("cannot write the output");
    ++written;
  }
  std::cout << written << "\n";
  return 0;
}
