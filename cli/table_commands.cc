// pub and cat: tables from files into a ring, and out of it.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <charconv>
#include <cmath>
#include <iostream>

#include <arrow/api.h>
#include <arrow/csv/api.h>
#include <arrow/io/api.h>
#include <arrow/io/stdio.h>
#include <arrow/ipc/api.h>
#include <arrow/pretty_print.h>
#include <parquet/arrow/reader.h>

#include "arrowring/ipc/pubsub.h"
#include "cli_util.h"
#include "commands.h"

namespace arrowring::cli {
namespace {

std::atomic<bool> interrupted{false};
void OnInterrupt(int) { interrupted.store(true); }

struct BadInput {
  std::string message;
};

// Reads a whole input file with Arrow C++'s own readers, choosing by the file's first bytes:
// "ARROW1" (IPC file), the IPC continuation marker (IPC stream), "PAR1" (Parquet); CSV by name.
arrow::Result<std::shared_ptr<arrow::Table>> ReadInput(const std::string& path, std::string* why_bad) {
  ARROW_ASSIGN_OR_RAISE(auto file, arrow::io::ReadableFile::Open(path));
  ARROW_ASSIGN_OR_RAISE(const int64_t size, file->GetSize());
  ARROW_ASSIGN_OR_RAISE(auto head, file->ReadAt(0, std::min<int64_t>(size, 8)));
  ARROW_RETURN_NOT_OK(file->Seek(0));
  const std::string_view magic(reinterpret_cast<const char*>(head->data()), static_cast<size_t>(head->size()));
  auto explain = [&](const arrow::Status& status, const char* as) {
    *why_bad = path + " looks like " + as + " but cannot be read as one: " + status.message();
    return status;
  };
  if (magic.substr(0, 6) == "ARROW1") {
    auto reader = arrow::ipc::RecordBatchFileReader::Open(file);
    if (!reader.ok()) return explain(reader.status(), "an Arrow IPC file");
    auto table = (*reader)->ToTable();
    if (!table.ok()) return explain(table.status(), "an Arrow IPC file");
    return table;
  }
  if (magic.substr(0, 4) == std::string_view("\xff\xff\xff\xff", 4)) {
    auto reader = arrow::ipc::RecordBatchStreamReader::Open(file);
    if (!reader.ok()) return explain(reader.status(), "an Arrow IPC stream");
    auto table = (*reader)->ToTable();
    if (!table.ok()) return explain(table.status(), "an Arrow IPC stream");
    return table;
  }
  if (magic.substr(0, 4) == "PAR1") {
    auto reader = parquet::arrow::OpenFile(file, arrow::default_memory_pool());
    if (!reader.ok()) return explain(reader.status(), "a Parquet file");
    auto table = (*reader)->ReadTable();
    if (!table.ok()) return explain(table.status(), "a Parquet file");
    return table;
  }
  const bool csv_name = path.size() > 4 && (path.ends_with(".csv") || path.ends_with(".CSV"));
  if (csv_name) {
    auto reader =
        arrow::csv::TableReader::Make(arrow::io::default_io_context(), file, arrow::csv::ReadOptions::Defaults(),
                                      arrow::csv::ParseOptions::Defaults(), arrow::csv::ConvertOptions::Defaults());
    if (!reader.ok()) return explain(reader.status(), "a CSV file");
    auto table = (*reader)->Read();
    if (!table.ok()) return explain(table.status(), "a CSV file");
    return table;
  }
  *why_bad = path +
             " is not an Arrow IPC stream or file, a Parquet file or a .csv file (judged by its "
             "first bytes, and for CSV by its name)";
  return arrow::Status::Invalid(*why_bad);
}

void JsonValue(const arrow::Scalar& scalar, std::string* out) {
  if (!scalar.is_valid) {
    *out += "null";
    return;
  }
  switch (scalar.type->id()) {
    case arrow::Type::BOOL: *out += static_cast<const arrow::BooleanScalar&>(scalar).value ? "true" : "false"; return;
    case arrow::Type::INT8:
    case arrow::Type::INT16:
    case arrow::Type::INT32:
    case arrow::Type::INT64:
    case arrow::Type::UINT8:
    case arrow::Type::UINT16:
    case arrow::Type::UINT32:
    case arrow::Type::UINT64: *out += scalar.ToString(); return;
    case arrow::Type::HALF_FLOAT:
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE: {
      const std::string text = scalar.ToString();
      const double value = std::strtod(text.c_str(), nullptr);
      *out += std::isfinite(value) ? text : "null";
      return;
    }
    case arrow::Type::STRING:
    case arrow::Type::LARGE_STRING:
    case arrow::Type::STRING_VIEW:
      *out += JsonString(static_cast<const arrow::BaseBinaryScalar&>(scalar).view());
      return;
    default: *out += JsonString(scalar.ToString());  // Nested and other types: Arrow's rendering.
  }
}

// Value i of `array` as JSON: numbers, booleans and strings as themselves (NaN and infinities
// as null), lists (every kind) as arrays, structs as objects, maps as arrays of [key, value],
// dictionary values as their value; any other type as a string of Arrow's rendering.
void AppendJson(const arrow::Array& array, int64_t i, std::string* out) {
  if (array.IsNull(i)) {
    *out += "null";
    return;
  }
  auto number = [out](auto value) {
    char text[64];
    auto [end, error] = std::to_chars(text, text + sizeof text, value);
    out->append(text, error == std::errc() ? end : text);
  };
  auto list = [&](const arrow::Array& values, int64_t offset, int64_t length) {
    *out += '[';
    for (int64_t k = 0; k < length; ++k) {
      if (k) *out += ',';
      AppendJson(values, offset + k, out);
    }
    *out += ']';
  };
  switch (array.type_id()) {
    case arrow::Type::BOOL: *out += static_cast<const arrow::BooleanArray&>(array).Value(i) ? "true" : "false"; return;
    case arrow::Type::INT8: return number(static_cast<const arrow::Int8Array&>(array).Value(i));
    case arrow::Type::INT16: return number(static_cast<const arrow::Int16Array&>(array).Value(i));
    case arrow::Type::INT32: return number(static_cast<const arrow::Int32Array&>(array).Value(i));
    case arrow::Type::INT64: return number(static_cast<const arrow::Int64Array&>(array).Value(i));
    case arrow::Type::UINT8: return number(static_cast<const arrow::UInt8Array&>(array).Value(i));
    case arrow::Type::UINT16: return number(static_cast<const arrow::UInt16Array&>(array).Value(i));
    case arrow::Type::UINT32: return number(static_cast<const arrow::UInt32Array&>(array).Value(i));
    case arrow::Type::UINT64: return number(static_cast<const arrow::UInt64Array&>(array).Value(i));
    case arrow::Type::FLOAT:
    case arrow::Type::DOUBLE: {
      const double value = array.type_id() == arrow::Type::FLOAT
                               ? static_cast<double>(static_cast<const arrow::FloatArray&>(array).Value(i))
                               : static_cast<const arrow::DoubleArray&>(array).Value(i);
      if (!std::isfinite(value)) {
        *out += "null";
      } else if (array.type_id() == arrow::Type::FLOAT) {
        number(static_cast<const arrow::FloatArray&>(array).Value(i));  // shortest float text
      } else {
        number(value);
      }
      return;
    }
    case arrow::Type::STRING: *out += JsonString(static_cast<const arrow::StringArray&>(array).GetView(i)); return;
    case arrow::Type::LARGE_STRING:
      *out += JsonString(static_cast<const arrow::LargeStringArray&>(array).GetView(i));
      return;
    case arrow::Type::STRING_VIEW:
      *out += JsonString(static_cast<const arrow::StringViewArray&>(array).GetView(i));
      return;
    case arrow::Type::LIST: {
      const auto& a = static_cast<const arrow::ListArray&>(array);
      return list(*a.values(), a.value_offset(i), a.value_length(i));
    }
    case arrow::Type::LARGE_LIST: {
      const auto& a = static_cast<const arrow::LargeListArray&>(array);
      return list(*a.values(), a.value_offset(i), a.value_length(i));
    }
    case arrow::Type::LIST_VIEW: {
      const auto& a = static_cast<const arrow::ListViewArray&>(array);
      return list(*a.values(), a.value_offset(i), a.value_length(i));
    }
    case arrow::Type::LARGE_LIST_VIEW: {
      const auto& a = static_cast<const arrow::LargeListViewArray&>(array);
      return list(*a.values(), a.value_offset(i), a.value_length(i));
    }
    case arrow::Type::FIXED_SIZE_LIST: {
      const auto& a = static_cast<const arrow::FixedSizeListArray&>(array);
      return list(*a.values(), a.value_offset(i), a.value_length(i));
    }
    case arrow::Type::MAP: {
      const auto& a = static_cast<const arrow::MapArray&>(array);
      *out += '[';
      for (int64_t k = 0; k < a.value_length(i); ++k) {
        *out += k ? ",[" : "[";
        AppendJson(*a.keys(), a.value_offset(i) + k, out);
        *out += ',';
        AppendJson(*a.items(), a.value_offset(i) + k, out);
        *out += ']';
      }
      *out += ']';
      return;
    }
    case arrow::Type::STRUCT: {
      const auto& a = static_cast<const arrow::StructArray&>(array);
      *out += '{';
      for (int f = 0; f < a.num_fields(); ++f) {
        if (f) *out += ',';
        *out += JsonString(a.struct_type()->field(f)->name()) + ':';
        AppendJson(*a.field(f), i, out);
      }
      *out += '}';
      return;
    }
    case arrow::Type::DICTIONARY: {
      const auto& a = static_cast<const arrow::DictionaryArray&>(array);
      return AppendJson(*a.dictionary(), a.GetValueIndex(i), out);
    }
    default: {
      auto scalar = array.GetScalar(i);
      *out += JsonString(scalar.ok() ? (*scalar)->ToString() : std::string("?"));
    }
  }
}

bool Nested(const arrow::DataType& type) {
  if (type.id() == arrow::Type::DICTIONARY) {
    return Nested(*static_cast<const arrow::DictionaryType&>(type).value_type());
  }
  return arrow::is_nested(type.id());
}

// CSV cells are text: each nested column (lists, structs, maps, unions) becomes a utf8
// column of the JSON text of its values (null stays an empty cell). Other columns are left
// to Arrow's CSV writer.
arrow::Result<std::shared_ptr<arrow::Table>> NestedAsJsonText(const std::shared_ptr<arrow::Table>& table) {
  std::shared_ptr<arrow::Table> out = table;
  for (int c = 0; c < table->num_columns(); ++c) {
    const auto& field = table->field(c);
    if (!Nested(*field->type())) continue;
    arrow::StringBuilder builder;
    std::string text;
    for (const auto& chunk : table->column(c)->chunks()) {
      for (int64_t i = 0; i < chunk->length(); ++i) {
        if (chunk->IsNull(i)) {
          ARROW_RETURN_NOT_OK(builder.AppendNull());
          continue;
        }
        text.clear();
        AppendJson(*chunk, i, &text);
        ARROW_RETURN_NOT_OK(builder.Append(text));
      }
    }
    ARROW_ASSIGN_OR_RAISE(auto strings, builder.Finish());
    ARROW_ASSIGN_OR_RAISE(out, out->SetColumn(c, arrow::field(field->name(), arrow::utf8(), field->nullable()),
                                              std::make_shared<arrow::ChunkedArray>(strings)));
  }
  return out;
}

arrow::Status WriteJsonLines(const arrow::Table& table) {
  std::string line;
  for (int64_t row = 0; row < table.num_rows(); ++row) {
    line = "{";
    for (int c = 0; c < table.num_columns(); ++c) {
      ARROW_ASSIGN_OR_RAISE(auto scalar, table.column(c)->GetScalar(row));
      line += (c ? ", " : "") + JsonString(table.field(c)->name()) + ": ";
      JsonValue(*scalar, &line);
    }
    line += "}\n";
    std::cout << line;
  }
  return arrow::Status::OK();
}

// The advice for a message too large for the ring: how many rows per message would fit
// (half the ring each, so that one can be written while the previous one is read).
std::string TooLargeAdvice(const arrow::Table& message, const Ring& ring, const std::string& path) {
  int64_t bytes = 0;
  arrow::TableBatchReader batches(message);
  std::shared_ptr<arrow::RecordBatch> batch;
  while (batches.ReadNext(&batch).ok() && batch != nullptr) {
    int64_t size = 0;
    if (arrow::ipc::GetRecordBatchSize(*batch, &size).ok()) bytes += size;
  }
  const int64_t rows = message.num_rows();
  std::string advice = path + ": a message of " + std::to_string(rows) + " row(s) is about " +
                       HumanBytes(static_cast<double>(bytes)) + " as Arrow IPC, more than ring '" + ring.name() +
                       "' can ever hold (" + HumanBytes(static_cast<double>(ring.capacity())) + "); ";
  const int64_t fitting = bytes > 0
                              ? static_cast<int64_t>(static_cast<double>(rows) * static_cast<double>(ring.capacity()) /
                                                     2.0 / static_cast<double>(bytes))
                              : 0;
  if (rows > 1 && fitting >= 1) {
    advice += "publish it in smaller messages with --batch-rows (e.g. --batch-rows " + std::to_string(fitting) +
              "), or use a larger ring";
  } else {
    advice +=
        "a single row does not fit even with --batch-rows 1: use a larger ring (arrowring create "
        "--capacity)";
  }
  return advice;
}

}  // namespace

int RunPub(const PubArgs& args) {
  if (args.batch_rows < 0) return Fail("pub", Errc::kInvalidArgument, "--batch-rows must be positive");
  auto ring = AttachRing(args.ring);
  if (!ring.ok()) return Fail("pub", ring.error());
  Publisher publisher(*ring, {.timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                  std::chrono::duration<double>(args.timeout_seconds))});
  for (const std::string& path : args.files) {
    std::string why_bad;
    auto table = ReadInput(path, &why_bad);
    if (!table.ok()) {
      if (!why_bad.empty()) {
        std::cerr << "arrowring pub: " << why_bad << "\n";
        return kExitBadInput;
      }
      return Fail("pub", table.status());  // Could not open or read the file at all.
    }
    int64_t messages = 0, bytes = 0;
    const int64_t rows = (*table)->num_rows();
    const int64_t step = args.batch_rows > 0 ? args.batch_rows : std::max<int64_t>(rows, 1);
    int64_t offset = 0;
    do {  // At least one message: an empty file still publishes its schema.
      const auto message = (*table)->Slice(offset, step);
      auto handle = publisher.Publish(*message);
      if (!handle.ok() && ErrcOf(handle.status()) == Errc::kTooLarge) {
        return Fail("pub", Errc::kTooLarge, TooLargeAdvice(*message, *ring, path));
      }
      if (!handle.ok()) return Fail("pub", handle.status());
      ++messages;
      bytes += static_cast<int64_t>(handle->size);
      offset += step;
    } while (offset < rows);
    if (args.json) {
      std::cout << "{\"file\": " << JsonString(path) << ", \"messages\": " << messages << ", \"rows\": " << rows
                << ", \"bytes\": " << bytes << "}\n";
    } else {
      std::cout << "published " << path << ": " << rows << " rows in " << messages << " message(s), "
                << HumanBytes(static_cast<double>(bytes)) << "\n";
    }
  }
  return kExitOk;
}

int RunCat(const CatArgs& args) {
  static const char* kFormats[] = {"table", "csv", "jsonl", "arrow"};
  if (std::find(std::begin(kFormats), std::end(kFormats), args.format) == std::end(kFormats)) {
    return Fail("cat", Errc::kInvalidArgument, "unknown format '" + args.format + "': use table, csv, jsonl or arrow");
  }
  if (args.limit < 0) return Fail("cat", Errc::kInvalidArgument, "--limit must not be negative");
  auto ring = AttachRing(args.ring);
  if (!ring.ok()) return Fail("cat", ring.error());
  const std::string name = args.subscriber.empty() ? "cat-" + std::to_string(getpid()) : args.subscriber;
  auto subscriber =
      Subscriber::Make(*ring, name, {.start = args.from == "oldest" ? SubscribeStart::kOldest : SubscribeStart::kNew});
  if (!subscriber.ok()) return Fail("cat", subscriber.status());
  std::cerr << "arrowring cat: subscribed to '" << args.ring << "' as '" << name << "'" << std::endl;

  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);

  auto stdout_stream = std::make_shared<arrow::io::StdoutStream>();
  std::shared_ptr<arrow::ipc::RecordBatchWriter> arrow_writer;
  std::shared_ptr<arrow::Schema> schema;
  int64_t received = 0;
  // Waits in slices so that Ctrl-C ends the loop cleanly (the subscriber then leaves).
  constexpr auto kSlice = std::chrono::milliseconds(200);
  auto idle = std::chrono::nanoseconds(0);
  while (!interrupted.load() && (args.limit == 0 || received < args.limit)) {
    auto message = subscriber->Next(kSlice);
    if (!message.ok()) return Fail("cat", message.status());
    if (!message->has_value()) {
      idle += kSlice;
      if (args.timeout_seconds && idle >= std::chrono::duration<double>(*args.timeout_seconds)) break;
      continue;
    }
    idle = std::chrono::nanoseconds(0);
    const Message& got = **message;
    ++received;
    if (got.missed > 0) {
      std::cerr << "arrowring cat: missed " << got.missed << " message(s) dropped before this subscriber read them\n";
    }
    const arrow::Table& table = *got.table;
    arrow::Status status;
    if (args.format == "table") {
      std::cout << "--- message " << got.handle.sequence << ": " << table.num_rows() << " rows, "
                << HumanBytes(static_cast<double>(got.handle.size)) << " ---\n";
      status = arrow::PrettyPrint(table, arrow::PrettyPrintOptions(0, 5), &std::cout);
    } else if (args.format == "csv") {
      auto options = arrow::csv::WriteOptions::Defaults();
      options.include_header = received == 1;
      std::cout.flush();
      auto text = NestedAsJsonText(got.table);
      status = text.ok() ? arrow::csv::WriteCSV(**text, options, stdout_stream.get()) : text.status();
    } else if (args.format == "jsonl") {
      status = WriteJsonLines(table);
    } else {
      if (arrow_writer == nullptr) {
        schema = table.schema();
        auto writer = arrow::ipc::MakeStreamWriter(stdout_stream, schema);
        if (!writer.ok()) return Fail("cat", writer.status());
        arrow_writer = *writer;
      } else if (!table.schema()->Equals(*schema)) {
        std::cerr << "arrowring cat: message " << got.handle.sequence
                  << " has another schema than the first; --format arrow writes one stream of one schema "
                     "(the stream so far is complete; --format jsonl or csv take any schema)\n";
        if (auto status = arrow_writer->Close(); !status.ok()) return Fail("cat", status);
        std::cout.flush();
        return kExitSchemaChanged;
      }
      status = arrow_writer->WriteTable(table);
    }
    if (!status.ok()) return Fail("cat", status);
    std::cout.flush();
  }
  if (arrow_writer != nullptr) {
    if (auto status = arrow_writer->Close(); !status.ok()) return Fail("cat", status);
  }
  std::cout.flush();
  return kExitOk;
}

}  // namespace arrowring::cli
