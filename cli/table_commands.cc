// pub and cat: tables from files into a ring, and out of it.
#include <signal.h>
#include <unistd.h>

#include <atomic>
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
    auto reader = arrow::csv::TableReader::Make(arrow::io::default_io_context(), file,
                                                arrow::csv::ReadOptions::Defaults(),
                                                arrow::csv::ParseOptions::Defaults(),
                                                arrow::csv::ConvertOptions::Defaults());
    if (!reader.ok()) return explain(reader.status(), "a CSV file");
    auto table = (*reader)->Read();
    if (!table.ok()) return explain(table.status(), "a CSV file");
    return table;
  }
  *why_bad = path + " is not an Arrow IPC stream or file, a Parquet file or a .csv file (judged by its "
                    "first bytes, and for CSV by its name)";
  return arrow::Status::Invalid(*why_bad);
}

void JsonValue(const arrow::Scalar& scalar, std::string* out) {
  if (!scalar.is_valid) {
    *out += "null";
    return;
  }
  switch (scalar.type->id()) {
    case arrow::Type::BOOL:
      *out += static_cast<const arrow::BooleanScalar&>(scalar).value ? "true" : "false";
      return;
    case arrow::Type::INT8: case arrow::Type::INT16: case arrow::Type::INT32: case arrow::Type::INT64:
    case arrow::Type::UINT8: case arrow::Type::UINT16: case arrow::Type::UINT32: case arrow::Type::UINT64:
      *out += scalar.ToString();
      return;
    case arrow::Type::HALF_FLOAT: case arrow::Type::FLOAT: case arrow::Type::DOUBLE: {
      const std::string text = scalar.ToString();
      const double value = std::strtod(text.c_str(), nullptr);
      *out += std::isfinite(value) ? text : "null";
      return;
    }
    case arrow::Type::STRING: case arrow::Type::LARGE_STRING: case arrow::Type::STRING_VIEW:
      *out += JsonString(static_cast<const arrow::BaseBinaryScalar&>(scalar).view());
      return;
    default:
      *out += JsonString(scalar.ToString());  // Nested and other types: Arrow's rendering.
  }
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
  const int64_t fitting = bytes > 0 ? static_cast<int64_t>(static_cast<double>(rows) *
                                                           static_cast<double>(ring.capacity()) / 2.0 /
                                                           static_cast<double>(bytes))
                                    : 0;
  if (rows > 1 && fitting >= 1) {
    advice += "publish it in smaller messages with --batch-rows (e.g. --batch-rows " + std::to_string(fitting) +
              "), or use a larger ring";
  } else {
    advice += "a single row does not fit even with --batch-rows 1: use a larger ring (arrowring create "
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
      std::cout << "{\"file\": " << JsonString(path) << ", \"messages\": " << messages
                << ", \"rows\": " << rows << ", \"bytes\": " << bytes << "}\n";
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
  auto subscriber = Subscriber::Make(
      *ring, name, {.start = args.from == "oldest" ? SubscribeStart::kOldest : SubscribeStart::kNew});
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
      status = arrow::csv::WriteCSV(table, options, stdout_stream.get());
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
