#include "arrowring/ipc/test_tables.h"

#include <arrow/api.h>
#include <arrow/json/from_string.h>
#include <arrow/util/key_value_metadata.h>

namespace arrowring::testing {
namespace {

template <typename T>
T Check(arrow::Result<T> result) {
  // Test-support code: a failure here is a bug in the test itself.
  if (!result.ok()) throw std::runtime_error(result.status().ToString());
  return std::move(result).ValueUnsafe();
}

void CheckOk(const arrow::Status& status) {
  if (!status.ok()) throw std::runtime_error(status.ToString());
}

std::shared_ptr<arrow::RecordBatch> MakeVariedBatch(int64_t first_row, int64_t rows, uint64_t seed) {
  arrow::MemoryPool* pool = arrow::default_memory_pool();
  arrow::Int64Builder id;
  arrow::DoubleBuilder value;
  arrow::BooleanBuilder flag;
  arrow::StringBuilder name;
  arrow::LargeStringBuilder blob;
  auto list_values = std::make_shared<arrow::Int32Builder>();
  arrow::ListBuilder values(pool, list_values);
  auto large_list_values = std::make_shared<arrow::Int16Builder>();
  arrow::LargeListBuilder big_list(pool, large_list_values);
  auto point_type = arrow::struct_({arrow::field("x", arrow::float32()), arrow::field("y", arrow::float32())});
  auto x = std::make_shared<arrow::FloatBuilder>();
  auto y = std::make_shared<arrow::FloatBuilder>();
  arrow::StructBuilder point(point_type, pool, {x, y});
  arrow::StringDictionaryBuilder category;
  arrow::Int32Builder nothing;
  arrow::NullBuilder null_column;

  static const char* kCategories[] = {"muon", "electron", "photon", "pion"};
  for (int64_t i = first_row; i < first_row + rows; ++i) {
    const uint64_t mix = (static_cast<uint64_t>(i) + 1) * 0x9E3779B97F4A7C15ull ^ seed;
    CheckOk(id.Append(i));
    if (i % 7 == 3) {
      CheckOk(value.AppendNull());
    } else {
      CheckOk(value.Append(static_cast<double>(mix % 100000) / 7.0));
    }
    CheckOk(flag.Append((mix & 1) != 0));
    CheckOk(name.Append("row-" + std::to_string(i)));
    CheckOk(blob.Append(std::string(static_cast<size_t>(mix % 17), 'a' + static_cast<char>(i % 26))));
    CheckOk(values.Append());
    for (int64_t k = 0; k < i % 5; ++k) CheckOk(list_values->Append(static_cast<int32_t>(i * k)));
    CheckOk(big_list.Append());
    for (int64_t k = 0; k < i % 3; ++k) CheckOk(large_list_values->Append(static_cast<int16_t>(k - i)));
    CheckOk(point.Append());
    CheckOk(x->Append(static_cast<float>(i) * 0.5f));
    CheckOk(y->Append(static_cast<float>(mix % 1000)));
    CheckOk(category.Append(kCategories[mix % 4]));
    CheckOk(nothing.AppendNull());
    CheckOk(null_column.AppendNull());
  }
  std::vector<std::shared_ptr<arrow::Array>> arrays;
  for (arrow::ArrayBuilder* builder : std::initializer_list<arrow::ArrayBuilder*>{
           &id, &value, &flag, &name, &blob, &values, &big_list, &point, &category, &nothing, &null_column}) {
    arrays.push_back(Check(builder->Finish()));
  }
  auto schema = arrow::schema({
      arrow::field("id", arrow::int64(), false),
      arrow::field("value", arrow::float64()),
      arrow::field("flag", arrow::boolean()),
      arrow::field("name", arrow::utf8()),
      arrow::field("blob", arrow::large_utf8()),
      arrow::field("values", arrow::list(arrow::int32())),
      arrow::field("big_list", arrow::large_list(arrow::int16())),
      arrow::field("point", point_type),
      arrow::field("category", arrays[8]->type()),
      arrow::field("nothing", arrow::int32()),
      arrow::field("null_column", arrow::null()),
  });
  return arrow::RecordBatch::Make(schema, rows, arrays);
}

void CollectBuffers(const arrow::ArrayData& data, std::vector<BufferSpan>* out) {
  for (const auto& buffer : data.buffers) {
    if (buffer != nullptr && buffer->size() > 0) out->push_back({buffer->data(), buffer->size()});
  }
  for (const auto& child : data.child_data) CollectBuffers(*child, out);
  if (data.dictionary != nullptr) CollectBuffers(*data.dictionary, out);
}

}  // namespace

std::shared_ptr<arrow::Table> MakeVariedTable(int64_t rows, uint64_t seed, int chunks) {
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches;
  const int64_t per_chunk = chunks > 0 ? (rows + chunks - 1) / chunks : rows;
  for (int64_t first = 0; first < rows || batches.empty(); first += per_chunk) {
    batches.push_back(MakeVariedBatch(first, std::min(per_chunk, rows - first), seed));
    if (per_chunk == 0) break;
  }
  // Each chunk has its own dictionary; the stream writer emits replacements as needed.
  return Check(arrow::Table::FromRecordBatches(batches));
}

namespace {

std::shared_ptr<arrow::Schema> FlatSchema() {
  static const auto schema = arrow::schema({
      arrow::field("i8", arrow::int8()),
      arrow::field("u16", arrow::uint16()),
      arrow::field("i32_no_nulls", arrow::int32()),
      arrow::field("u64", arrow::uint64()),
      arrow::field("f32", arrow::float32()),
      arrow::field("f64", arrow::float64()),
      arrow::field("flag", arrow::boolean()),
      arrow::field("day", arrow::date32()),
      arrow::field("ms", arrow::date64()),
      arrow::field("ts", arrow::timestamp(arrow::TimeUnit::MICRO, "UTC")),
      arrow::field("t32", arrow::time32(arrow::TimeUnit::MILLI)),
      arrow::field("t64", arrow::time64(arrow::TimeUnit::NANO)),
      arrow::field("dur", arrow::duration(arrow::TimeUnit::SECOND)),
      arrow::field("months", arrow::month_interval()),
      arrow::field("day_time", arrow::day_time_interval()),
      arrow::field("mdn", arrow::month_day_nano_interval()),
      arrow::field("dec128", arrow::decimal128(20, 4)),
      arrow::field("dec256", arrow::decimal256(40, 2)),
      arrow::field("fsb", arrow::fixed_size_binary(5)),
      arrow::field("s", arrow::utf8()),
      arrow::field("b", arrow::binary()),
      arrow::field("ls_no_nulls", arrow::large_utf8()),
      arrow::field("lb", arrow::large_binary()),
      arrow::field("all_null", arrow::int64()),
  });
  return schema;
}

// The JSON of row `row`'s value in column `column` of FlatSchema(), or null.
std::string FlatValue(const arrow::Field& field, int64_t row, uint64_t seed) {
  const auto v = static_cast<int64_t>((static_cast<uint64_t>(row) * 2654435761U + seed * 97) % 1000);
  const std::string& name = field.name();
  const bool nullable = name.find("no_nulls") == std::string::npos;
  if (name == "all_null" || (nullable && (row + static_cast<int64_t>(seed)) % 7 == 3)) return "null";
  std::string text = "\"" + std::string(static_cast<size_t>(v % 12), static_cast<char>('a' + v % 26)) + "\"";
  switch (field.type()->id()) {
    case arrow::Type::BOOL: return v % 2 == 0 ? "true" : "false";
    case arrow::Type::INT8: return std::to_string(v % 100 - 50);
    case arrow::Type::DATE64:  // milliseconds of whole days
      return std::to_string(v * 86400000);
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE: return std::to_string(v) + ".25";
    case arrow::Type::INTERVAL_DAY_TIME: return "[" + std::to_string(v) + ", " + std::to_string(v * 3) + "]";
    case arrow::Type::INTERVAL_MONTH_DAY_NANO:
      return "[" + std::to_string(v % 12) + ", " + std::to_string(v) + ", " + std::to_string(v * 1000) + "]";
    case arrow::Type::DECIMAL128:  // scale 4
      return "\"" + std::to_string(v) + ".2500\"";
    case arrow::Type::DECIMAL256:  // scale 2
      return "\"" + std::to_string(v) + ".25\"";
    case arrow::Type::FIXED_SIZE_BINARY: return "\"" + std::string(5, static_cast<char>('a' + v % 26)) + "\"";
    case arrow::Type::STRING:
    case arrow::Type::BINARY:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::LARGE_BINARY: return text;
    default: return std::to_string(v);
  }
}

}  // namespace

std::shared_ptr<arrow::Table> MakeFlatTable(int64_t rows, uint64_t seed, int chunks) {
  const auto schema = FlatSchema();
  std::vector<std::shared_ptr<arrow::ChunkedArray>> columns;
  for (const auto& field : schema->fields()) {
    arrow::ArrayVector pieces;
    for (int chunk = 0; chunk < chunks; ++chunk) {
      const int64_t begin = rows * chunk / chunks;
      const int64_t end = rows * (chunk + 1) / chunks;
      std::string json = "[";
      for (int64_t row = begin; row < end; ++row) json += (row > begin ? ", " : "") + FlatValue(*field, row, seed);
      pieces.push_back(Check(arrow::json::ArrayFromJSONString(field->type(), json + "]")));
    }
    columns.push_back(std::make_shared<arrow::ChunkedArray>(std::move(pieces), field->type()));
  }
  return arrow::Table::Make(schema, std::move(columns), rows);
}

std::shared_ptr<arrow::Table> MakeInt64Table(int64_t rows) {
  arrow::Int64Builder builder;
  CheckOk(builder.Reserve(rows));
  for (int64_t i = 0; i < rows; ++i) builder.UnsafeAppend(i);
  auto array = Check(builder.Finish());
  return arrow::Table::Make(arrow::schema({arrow::field("x", arrow::int64())}), {array});
}

std::vector<NamedTable> EdgeCaseTables() {
  std::vector<NamedTable> tables;
  tables.push_back({"varied", MakeVariedTable(1000)});
  tables.push_back({"sliced", MakeVariedTable(1000)->Slice(333, 401)});
  tables.push_back({"sliced_bit_offset", MakeVariedTable(64)->Slice(3, 29)});
  tables.push_back({"empty", MakeVariedTable(0)});
  tables.push_back(
      {"zero_columns", arrow::Table::Make(arrow::schema({}), std::vector<std::shared_ptr<arrow::ChunkedArray>>{}, 0)});
  tables.push_back({"many_chunks", MakeVariedTable(500, 7, 100)});
  {
    auto all_null = Check(arrow::MakeArrayOfNull(arrow::utf8(), 100));
    auto all_null_list = Check(arrow::MakeArrayOfNull(arrow::list(arrow::float64()), 100));
    tables.push_back({"all_null", arrow::Table::Make(arrow::schema({arrow::field("s", arrow::utf8()),
                                                                    arrow::field("l", arrow::list(arrow::float64()))}),
                                                     {all_null, all_null_list})});
  }
  {
    auto type = arrow::large_list(arrow::large_utf8());
    auto array = Check(arrow::json::ArrayFromJSONString(type, R"([["a", "bb", null], [], null, ["cccc"]])"));
    tables.push_back({"large_types", arrow::Table::Make(arrow::schema({arrow::field("ll", type)}), {array})});
  }
  {
    auto type = arrow::dictionary(arrow::int16(), arrow::utf8());
    auto dict = Check(arrow::json::DictArrayFromJSONString(type, "[0, 1, null, 1, 0, 2]", R"(["x", "yy", "zzz"])"));
    tables.push_back({"dictionary", arrow::Table::Make(arrow::schema({arrow::field("d", type)}), {dict})});
  }
  {
    auto type = arrow::struct_(
        {arrow::field("a", arrow::list(arrow::struct_({arrow::field("b", arrow::map(arrow::utf8(), arrow::int32()))}))),
         arrow::field("u",
                      arrow::sparse_union({arrow::field("i", arrow::int8()), arrow::field("f", arrow::float64())}))});
    auto array = Check(arrow::json::ArrayFromJSONString(type, R"([{"a": [{"b": [["k", 1], ["l", null]]}], "u": [0, 5]},
                  {"a": null, "u": [1, 2.5]},
                  null])"));
    tables.push_back({"nested", arrow::Table::Make(arrow::schema({arrow::field("n", type)}), {array})});
  }
  {
    // Zero-length union whose type-ids buffer is absent, as Arrow's reader produces it for
    // empty batches: crashes Arrow 26's compressing writer unless arrowring fills it in.
    auto type = arrow::sparse_union({arrow::field("f", arrow::float32(), false), arrow::field("b", arrow::boolean())});
    auto empty = std::make_shared<arrow::Buffer>(nullptr, 0);
    auto f = arrow::ArrayData::Make(arrow::float32(), 0, {nullptr, empty});
    auto b = arrow::ArrayData::Make(arrow::boolean(), 0, {nullptr, empty});
    auto data = arrow::ArrayData::Make(type, 0, {nullptr, nullptr}, {f, b});
    tables.push_back({"empty_union_absent_type_ids",
                      arrow::Table::Make(arrow::schema({arrow::field("u", type)}), {arrow::MakeArray(data)})});
  }
  return tables;
}

std::vector<BufferSpan> AllBuffers(const arrow::Table& table) {
  std::vector<BufferSpan> buffers;
  for (const auto& column : table.columns()) {
    for (const auto& chunk : column->chunks()) CollectBuffers(*chunk->data(), &buffers);
  }
  return buffers;
}

int64_t BuffersOutside(const arrow::Table& table, const void* begin, int64_t size) {
  const auto* low = static_cast<const uint8_t*>(begin);
  const uint8_t* high = low + size;
  int64_t outside = 0;
  for (const BufferSpan& buffer : AllBuffers(table)) {
    if (buffer.data < low || buffer.data + buffer.size > high) ++outside;
  }
  return outside;
}

namespace {

std::shared_ptr<arrow::Table> MakeEventTable(int64_t index, int64_t rows) {
  constexpr int32_t kSamples = 1024;
  arrow::Int64Builder event_id, timestamp;
  arrow::Int16Builder channel;
  auto samples = std::make_shared<arrow::Int16Builder>();
  arrow::FixedSizeListBuilder waveform(arrow::default_memory_pool(), samples, kSamples);
  CheckOk(samples->Reserve(rows * kSamples));
  for (int64_t r = 0; r < rows; ++r) {
    CheckOk(event_id.Append(index * 1'000'000 + r));
    CheckOk(timestamp.Append(1'700'000'000'000'000'000 + index * 1000 + r));
    CheckOk(channel.Append(static_cast<int16_t>((index + r) % 64)));
    CheckOk(waveform.Append());
    for (int32_t k = 0; k < kSamples; ++k) {
      samples->UnsafeAppend(static_cast<int16_t>((r * 31 + int64_t{k} * 7 + index) & 0x3FFF));
    }
  }
  auto schema = arrow::schema({arrow::field("event_id", arrow::int64()), arrow::field("timestamp_ns", arrow::int64()),
                               arrow::field("channel", arrow::int16()),
                               arrow::field("waveform", arrow::fixed_size_list(arrow::int16(), kSamples))});
  return arrow::Table::Make(
      schema, {Check(event_id.Finish()), Check(timestamp.Finish()), Check(channel.Finish()), Check(waveform.Finish())});
}

}  // namespace

std::shared_ptr<arrow::Table> MakeStreamTable(int64_t index, bool allow_huge) {
  std::shared_ptr<arrow::Table> table;
  if (allow_huge && index % 400 == 399) {
    table = MakeInt64Table(8 << 20);  // 64 MiB
  } else {
    switch (index % 3) {
      case 0:
        table = MakeVariedTable(1 + (index * 37) % 400, static_cast<uint64_t>(index), 1 + static_cast<int>(index % 3));
        break;
      case 1: table = MakeEventTable(index, 1 + (index * 13) % 64); break;
      default: table = MakeInt64Table(1 + (index * 7919) % 100'000); break;
    }
  }
  auto metadata = arrow::key_value_metadata({"arrowring.test.index"}, {std::to_string(index)});
  return table->ReplaceSchemaMetadata(metadata);
}

int64_t StreamTableIndex(const arrow::Table& table) {
  const auto& metadata = table.schema()->metadata();
  if (metadata == nullptr) return -1;
  auto value = metadata->Get("arrowring.test.index");
  return value.ok() ? std::stoll(*value) : -1;
}

bool TablesEqual(const arrow::Table& a, const arrow::Table& b) {
  return a.num_rows() == b.num_rows() && a.Equals(b, arrow::EqualOptions::Defaults().nans_equal(true));
}

}  // namespace arrowring::testing
