// libFuzzer target: StreamDecoder's recognized path, which reads a record batch's values at
// the places a template gives, must judge every stream as Arrow's reader does. The input is a
// list of 8-byte writes (2 bytes of position, 8 of value) into a valid stream of a flat
// schema, optionally cut short (2 leftover bytes: the new length), so that almost every input
// keeps the template's shape and reaches the value checks. A decoder that learned the
// template from another stream of the schema must give an error exactly when ReadTable does
// (unvalidated and fully validated), and with full validation a table that passes
// ValidateFull and equals ReadTable's.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <arrow/api.h>

#include "arrowring/ipc/ipc.h"
#include "arrowring/ipc/stream_decoder.h"

namespace {

// A batch of flat columns, nulls included: every kind the recognized path loads.
std::shared_ptr<arrow::Buffer> FlatStream(int rows, int seed) {
  arrow::Int64Builder ints;
  arrow::DoubleBuilder doubles;
  arrow::BooleanBuilder flags;
  arrow::StringBuilder strings;
  arrow::LargeBinaryBuilder blobs;
  arrow::FixedSizeBinaryBuilder fixed(arrow::fixed_size_binary(3));
  for (int i = 0; i < rows; ++i) {
    const bool null = (i + seed) % 5 == 2;
    const std::string text(static_cast<size_t>((i * 7 + seed) % 9), 'a');
    if (!(null ? ints.AppendNull() : ints.Append(i * seed)).ok() || !doubles.Append(i / 4.0).ok() ||
        !(null ? flags.AppendNull() : flags.Append(i % 3 == 0)).ok() || !strings.Append(text).ok() ||
        !(null ? blobs.AppendNull() : blobs.Append(text)).ok() || !fixed.Append("xyz").ok()) {
      std::abort();
    }
  }
  std::vector<std::shared_ptr<arrow::Array>> columns(6);
  if (!ints.Finish(&columns[0]).ok() || !doubles.Finish(&columns[1]).ok() || !flags.Finish(&columns[2]).ok() ||
      !strings.Finish(&columns[3]).ok() || !blobs.Finish(&columns[4]).ok() || !fixed.Finish(&columns[5]).ok()) {
    std::abort();
  }
  static const auto schema =
      arrow::schema({arrow::field("i", arrow::int64()), arrow::field("d", arrow::float64()),
                     arrow::field("b", arrow::boolean()), arrow::field("s", arrow::utf8()),
                     arrow::field("l", arrow::large_binary()), arrow::field("f", arrow::fixed_size_binary(3))});
  auto stream = arrowring::SerializeTable(*arrow::Table::Make(schema, columns, rows));
  if (!stream.ok()) std::abort();
  return *stream;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto teacher = FlatStream(9, 1);
  static const auto valid = FlatStream(20, 2);
  constexpr size_t kWrite = 10;
  int64_t length = valid->size();
  if (size % kWrite >= 2) {
    uint16_t cut;
    std::memcpy(&cut, data + size - size % kWrite, sizeof(cut));
    length = cut % (valid->size() + 1);
  }
  auto buffer = arrow::AllocateBuffer(length);  // 64-byte aligned
  if (!buffer.ok()) return 0;
  std::memcpy((*buffer)->mutable_data(), valid->data(), static_cast<size_t>(length));
  for (size_t at = 0; at + kWrite <= size; at += kWrite) {
    uint16_t position;
    std::memcpy(&position, data + at, sizeof(position));
    if (length < 8) break;
    const size_t place = position % static_cast<size_t>(length - 7);
    std::memcpy((*buffer)->mutable_data() + place, data + at + 2, 8);
  }
  std::shared_ptr<arrow::Buffer> stream(std::move(*buffer));

  // Unvalidated reading must refuse what Arrow's loader refuses too (lengths, bounds); fully
  // validated reading also gives a sound table, equal to Arrow's.
  for (const arrowring::Validation validation : {arrowring::Validation::kNone, arrowring::Validation::kFull}) {
    const arrowring::ReadOptions options{.validation = validation};
    arrowring::StreamDecoder decoder;
    if (!decoder.Decode(teacher, options).ok()) std::abort();  // learns the schema and the template
    auto arrows = arrowring::ReadTable(stream, options);
    auto ours = decoder.Decode(stream, options);
    if (ours.ok() != arrows.ok()) {
      fprintf(stderr, "ReadTable: %s\nStreamDecoder (recognized: %d): %s\n", arrows.status().ToString().c_str(),
              decoder.recognized_last(), ours.status().ToString().c_str());
      std::abort();
    }
    if (validation == arrowring::Validation::kFull && ours.ok() &&
        (!(*ours)->ValidateFull().ok() ||
         !(*ours)->Equals(**arrows, arrow::EqualOptions::Defaults().nans_equal(true)))) {
      std::abort();
    }
  }
  return 0;
}
