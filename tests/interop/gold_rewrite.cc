// gold_rewrite IN.stream OUT.stream [none|lz4|zstd]
// Reads IN with arrowring's zero-copy reader and writes it back with
// arrowring's writer, so that another implementation (pyarrow, in test_gold_interop.py) can
// check that it reads our bytes as the same table.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include <arrow/buffer.h>
#include <arrow/io/file.h>
#include <arrow/table.h>

#include "arrowring/ipc/ipc.h"

int main(int argc, char** argv) {
  if (argc < 3 || argc > 4) {
    std::cerr << "usage: gold_rewrite IN.stream OUT.stream [none|lz4|zstd]\n";
    return 2;
  }
  arrowring::WriteOptions options;
  const std::string codec = argc == 4 ? argv[3] : "none";
  if (codec == "lz4") {
    options.compression = arrowring::Compression::kLz4Frame;
  } else if (codec == "zstd") {
    options.compression = arrowring::Compression::kZstd;
  } else if (codec != "none") {
    std::cerr << "gold_rewrite: unknown codec '" << codec << "' (use none, lz4 or zstd)\n";
    return 2;
  }
  auto file = arrow::io::ReadableFile::Open(argv[1]);
  if (!file.ok()) {
    std::cerr << "gold_rewrite: " << file.status().ToString() << "\n";
    return 1;
  }
  auto bytes = (*file)->Read((*file)->GetSize().ValueOr(0));
  if (!bytes.ok()) {
    std::cerr << "gold_rewrite: " << bytes.status().ToString() << "\n";
    return 1;
  }
  auto table = arrowring::ReadTable(*bytes);
  if (!table.ok()) {
    std::cerr << "gold_rewrite: " << table.status().ToString() << "\n";
    return 1;
  }
  auto serialized = arrowring::SerializeTable(**table, options);
  if (!serialized.ok()) {
    std::cerr << "gold_rewrite: " << serialized.status().ToString() << "\n";
    return 1;
  }
  std::ofstream out(argv[2], std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>((*serialized)->data()), (*serialized)->size());
  if (!out.good()) {
    std::cerr << "gold_rewrite: cannot write " << argv[2] << "\n";
    return 1;
  }
  return 0;
}
