// libFuzzer target: message bytes are untrusted. ReadTable with full validation, and the
// subscribers' StreamDecoder (cold, then with the schema it learned), must give an error or a
// table that passes ValidateFull. Seeded with Apache arrow-testing's IPC fuzz corpus.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <arrow/buffer.h>
#include <arrow/table.h>

#include "arrowring/ipc/ipc.h"
#include "arrowring/ipc/stream_decoder.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto buffer = arrow::AllocateBuffer(static_cast<int64_t>(size));  // 64-byte aligned
  if (!buffer.ok()) return 0;
  if (size > 0) std::memcpy((*buffer)->mutable_data(), data, size);
  std::shared_ptr<arrow::Buffer> stream(std::move(*buffer));
  const arrowring::ReadOptions full{.validation = arrowring::Validation::kFull};
  auto table = arrowring::ReadTable(stream, full);
  if (table.ok() && !(*table)->ValidateFull().ok()) std::abort();
  arrowring::StreamDecoder decoder;
  for (int pass = 0; pass < 2; ++pass) {
    auto decoded = decoder.Decode(stream, full);
    if (decoded.ok() != table.ok()) {  // The two readers must agree.
      fprintf(stderr, "ReadTable: %s\nStreamDecoder (pass %d): %s\n", table.status().ToString().c_str(), pass,
              decoded.status().ToString().c_str());
      std::abort();
    }
    if (decoded.ok() && !(*decoded)->ValidateFull().ok()) std::abort();
  }
  return 0;
}
