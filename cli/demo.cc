// demo: the main job. A producer process publishes DAQ-like event tables into a ring as fast
// as it can; one subscriber process verifies every value, another writes everything to an
// Arrow IPC file. The parent shows progress, then a summary, and removes the ring.
//
// The workers are this same binary run as `arrowring demo-worker --role ...`, each a real
// process that attaches to the ring by name. A worker reports one line of key=value pairs
// on its stdout, which the parent reads through a pipe.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/io/file.h>
#include <arrow/ipc/writer.h>
#include <arrow/util/key_value_metadata.h>

#include "arrowring/ipc/pubsub.h"
#include "arrowring/ring/internal/system.h"
#include "child_process.h"
#include "cli_util.h"
#include "commands.h"

namespace arrowring::cli {
namespace {

using Clock = std::chrono::steady_clock;
constexpr int32_t kSamples = 1024;
constexpr const char* kEndKey = "arrowring.demo.end";

std::atomic<bool> stop_requested{false};
void OnStop(int) { stop_requested.store(true); }

// CPU time this process has used (user + system), in seconds: a role's busy time.
double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

void HandleStopSignals(void (*handler)(int)) {
  struct sigaction action {};
  action.sa_handler = handler;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

// --- the data -------------------------------------------------------------------------
std::shared_ptr<arrow::Schema> EventSchema() {
  return arrow::schema({arrow::field("event_id", arrow::int64(), false),
                        arrow::field("timestamp_ns", arrow::int64(), false),
                        arrow::field("channel", arrow::int16(), false),
                        arrow::field("waveform", arrow::fixed_size_list(arrow::int16(), kSamples), false)});
}

// Sample k of event e: a deterministic pattern, so the verifier can check every value.
inline int16_t SampleValue(int64_t event, int32_t k) {
  return static_cast<int16_t>((event * 31 + int64_t{k} * 7) & 0x3FFF);
}
inline int16_t ChannelOf(int64_t event) { return static_cast<int16_t>(event % 64); }

// Generates events first .. first+count-1 into the columns' memory.
void FillEvents(int64_t first, int64_t count, int64_t* id, int64_t* time, int16_t* channel, int16_t* sample) {
  const auto now = static_cast<int64_t>(sys::RealtimeNs());
  for (int64_t i = 0; i < count; ++i) {
    const int64_t event = first + i;
    id[i] = event;
    time[i] = now + i;
    channel[i] = ChannelOf(event);
    int16_t* wave = sample + i * kSamples;
    for (int32_t k = 0; k < kSamples; ++k) wave[k] = SampleValue(event, k);
  }
}

// Publishes an event table with no copy: the events are generated straight into a loan of
// ring memory, at their final Arrow IPC positions, and Commit() writes only the framing.
arrow::Result<Handle> PublishEvents(Publisher& publisher, const std::shared_ptr<arrow::Schema>& schema, int64_t first,
                                    int64_t count) {
  ARROW_ASSIGN_OR_RAISE(LoanedBatch loan, publisher.Loan(schema, count, {.validity = false}));
  ARROW_ASSIGN_OR_RAISE(std::span<int64_t> id, loan.Values<int64_t>(0));
  ARROW_ASSIGN_OR_RAISE(std::span<int64_t> time, loan.Values<int64_t>(1));
  ARROW_ASSIGN_OR_RAISE(std::span<int16_t> channel, loan.Values<int16_t>(2));
  int16_t* sample = loan.column_data(3)->child_data[0]->GetMutableValues<int16_t>(1);
  FillEvents(first, count, id.data(), time.data(), channel.data(), sample);
  return loan.Commit();
}

// Checks every value of an event table; `next_event` is the id the first row must have.
bool VerifyEvents(const arrow::Table& table, int64_t* next_event) {
  if (!table.schema()->Equals(*EventSchema(), /*check_metadata=*/false)) return false;
  int64_t row = 0;
  const auto& ids = table.column(0)->chunks();
  const auto& channels = table.column(2)->chunks();
  const auto& waves = table.column(3)->chunks();
  if (ids.size() != channels.size() || ids.size() != waves.size()) return false;
  for (size_t c = 0; c < ids.size(); ++c) {
    const auto& id = static_cast<const arrow::Int64Array&>(*ids[c]);
    const auto& channel = static_cast<const arrow::Int16Array&>(*channels[c]);
    const auto& wave = static_cast<const arrow::FixedSizeListArray&>(*waves[c]);
    const auto& values = static_cast<const arrow::Int16Array&>(*wave.values());
    const int16_t* sample = values.raw_values() + wave.value_offset(0);
    for (int64_t i = 0; i < id.length(); ++i, ++row) {
      const int64_t event = id.Value(i);
      if (event != (*next_event)++ || channel.Value(i) != ChannelOf(event)) return false;
      for (int32_t k = 0; k < kSamples; ++k) {
        if (sample[i * kSamples + k] != SampleValue(event, k)) return false;
      }
    }
  }
  return row == table.num_rows();
}

// The verifier's zero-copy check: every buffer of the table lies in this process's mapping
// of the ring's data area.
bool AllBuffersInside(const arrow::Table& table, std::span<const std::byte> region) {
  const auto* low = reinterpret_cast<const uint8_t*>(region.data());
  const uint8_t* high = low + region.size();
  std::function<bool(const arrow::ArrayData&)> inside = [&](const arrow::ArrayData& data) {
    for (const auto& buffer : data.buffers) {
      if (buffer != nullptr && buffer->size() > 0 && (buffer->data() < low || buffer->data() + buffer->size() > high)) {
        return false;
      }
    }
    for (const auto& child : data.child_data) {
      if (!inside(*child)) return false;
    }
    return data.dictionary == nullptr || inside(*data.dictionary);
  };
  for (const auto& column : table.columns()) {
    for (const auto& chunk : column->chunks()) {
      if (!inside(*chunk->data())) return false;
    }
  }
  return true;
}

std::optional<int64_t> EndMarker(const arrow::Table& table) {
  const auto& metadata = table.schema()->metadata();
  if (metadata == nullptr) return std::nullopt;
  auto value = metadata->Get(kEndKey);
  if (!value.ok()) return std::nullopt;
  return std::stoll(*value);
}

// --- workers --------------------------------------------------------------------------
int Produce(Ring ring, const DemoWorkerArgs& args) {
  HandleStopSignals(OnStop);
  Publisher publisher(std::move(ring), {.timeout = std::chrono::seconds(30)});
  const auto schema = EventSchema();
  const auto start = Clock::now();
  const auto deadline =
      start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(args.seconds));
  int64_t tables = 0, events = 0, bytes = 0;
  while (!stop_requested.load() && Clock::now() < deadline) {
    auto handle = PublishEvents(publisher, schema, events, args.events_per_table);
    if (!handle.ok()) return Fail("demo: producer", handle.status());
    ++tables;
    events += args.events_per_table;
    bytes += static_cast<int64_t>(handle->size);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  auto end = arrow::Table::MakeEmpty(
      EventSchema()->WithMetadata(arrow::key_value_metadata({kEndKey}, {std::to_string(tables)})));
  if (!end.ok()) return Fail("demo: producer", end.status());
  if (auto handle = publisher.Publish(**end); !handle.ok()) return Fail("demo: producer", handle.status());
  std::cout << "tables=" << tables << " events=" << events << " bytes=" << bytes << " seconds=" << seconds
            << " cpu_s=" << CpuSeconds() << std::endl;
  return kExitOk;
}

int Subscribe(const Ring& ring, const DemoWorkerArgs& args) {
  // Ctrl-C reaches every process of the terminal's group: subscribers keep draining until the
  // producer's end marker, so that what was published is accounted for. SIGTERM still ends them.
  signal(SIGINT, SIG_IGN);
  auto subscriber = Subscriber::Make(ring, args.role);
  if (!subscriber.ok()) return Fail("demo: " + args.role, subscriber.status());
  std::shared_ptr<arrow::ipc::RecordBatchWriter> file_writer;
  std::shared_ptr<arrow::io::FileOutputStream> file;
  if (args.role == "store") {
    auto opened = arrow::io::FileOutputStream::Open(args.output);
    if (!opened.ok()) return Fail("demo: store", opened.status());
    file = *opened;
    auto writer = arrow::ipc::MakeFileWriter(file, EventSchema());
    if (!writer.ok()) return Fail("demo: store", writer.status());
    file_writer = *writer;
  }
  std::cout << "ready" << std::endl;

  const auto region = ring.data_region();
  std::optional<Clock::time_point> first;  // the role's time runs from its first table
  int64_t tables = 0, events = 0, bytes = 0, verified = 0, failures = 0, missed = 0, next_event = 0;
  int64_t announced = -1;
  std::vector<uint64_t> latencies;
  while (true) {
    auto message = subscriber->Next(std::chrono::seconds(60));
    if (!message.ok()) return Fail("demo: " + args.role, message.status());
    if (!message->has_value()) {
      std::cerr << "arrowring demo: " << args.role << ": no message for 60 s; giving up\n";
      return kExitFailure;
    }
    const uint64_t received_ns = sys::RealtimeNs();
    if (!first) first = Clock::now();
    const Message& got = **message;
    missed += static_cast<int64_t>(got.missed);
    if (auto end = EndMarker(*got.table)) {
      announced = *end;
      break;
    }
    ++tables;
    events += got.table->num_rows();
    bytes += static_cast<int64_t>(got.handle.size);
    latencies.push_back(received_ns > got.commit_time_ns ? received_ns - got.commit_time_ns : 0);
    if (args.role == "verify") {
      const bool zero_copy = AllBuffersInside(*got.table, region);
      if (zero_copy && VerifyEvents(*got.table, &next_event)) {
        ++verified;
      } else {
        ++failures;
      }
    } else if (auto status = file_writer->WriteTable(*got.table); !status.ok()) {
      return Fail("demo: store", status);
    }
  }
  if (file_writer != nullptr) {
    if (auto status = file_writer->Close(); !status.ok()) return Fail("demo: store", status);
    if (auto status = file->Close(); !status.ok()) return Fail("demo: store", status);
  }
  std::sort(latencies.begin(), latencies.end());
  auto percentile = [&](double p) -> uint64_t {
    if (latencies.empty()) return 0;
    return latencies[std::min(latencies.size() - 1, static_cast<size_t>(p * static_cast<double>(latencies.size())))];
  };
  std::cout << "tables=" << tables << " events=" << events << " bytes=" << bytes << " verified=" << verified
            << " failures=" << failures << " missed=" << missed << " announced=" << announced
            << " p50_ns=" << percentile(0.50) << " p99_ns=" << percentile(0.99)
            << " seconds=" << (first ? std::chrono::duration<double>(Clock::now() - *first).count() : 0.0)
            << " cpu_s=" << CpuSeconds() << std::endl;
  return kExitOk;
}

// --- the parent ----------------------------------------------------------------------
// Removes the ring whatever happens, interrupted or not.
struct RingRemover {
  std::string name;
  ~RingRemover() { (void)Ring::Unlink(name); }
};

}  // namespace

int RunDemoWorker(const DemoWorkerArgs& args) {
  auto ring = AttachRing(args.ring);
  if (!ring.ok()) return Fail("demo: " + args.role, ring.error());
  if (args.role == "produce") return Produce(*ring, args);
  if (args.role == "verify" || args.role == "store") return Subscribe(*ring, args);
  return Fail("demo-worker", Errc::kInvalidArgument, "unknown role '" + args.role + "'");
}

namespace {

// The storage subscriber writes every table at up to this rate (page cache; measured here at
// ~0.5 GB/s for the default run): a run of N seconds may write N times this.
constexpr double kMaxStoreBytesPerSecond = 1.0e9;

// Refuses (kExitNoDiskSpace) a run whose storage file may not fit the output's filesystem.
int RefuseWithoutDiskSpace(const std::string& output, double seconds) {
  const std::filesystem::path directory = std::filesystem::absolute(output).parent_path();
  struct statvfs fs {};
  if (statvfs(directory.c_str(), &fs) != 0) {
    return Fail("demo", Errc::kInvalidArgument,
                "cannot write the storage file in " + directory.string() + ": " + std::strerror(errno));
  }
  const double available = static_cast<double>(fs.f_bavail) * static_cast<double>(fs.f_frsize);
  const double may_write = seconds * kMaxStoreBytesPerSecond;
  if (available < may_write) {
    std::fprintf(stderr,
                 "arrowring demo: %s has %s free, but a %.0f s run may write up to %s of storage file; "
                 "pass --output on a larger filesystem, or fewer --seconds\n",
                 directory.c_str(), HumanBytes(available).c_str(), seconds, HumanBytes(may_write).c_str());
    return kExitNoDiskSpace;
  }
  return kExitOk;
}

// The file system's own rate for the storage file: `bytes` written next to `output` in 8 MiB
// write()s, as the storage subscriber writes tables (to the page cache, no fsync), then
// removed. 0 when it cannot be measured.
double MeasureFileWriteGbps(const std::string& output, int64_t bytes) {
  const std::string path = output + ".speed";
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return 0;
  std::vector<char> chunk(8 << 20, 1);
  const auto start = Clock::now();
  int64_t written = 0;
  while (written < bytes) {
    const ssize_t n = ::write(fd, chunk.data(), chunk.size());
    if (n <= 0) break;
    written += n;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  ::close(fd);
  ::unlink(path.c_str());
  return written >= bytes && seconds > 0 ? static_cast<double>(written) / seconds / 1e9 : 0;
}

// Removes the demo's own storage file on every way out of RunDemo.
struct OutputRemover {
  std::string path;  // empty: the user's file, kept
  ~OutputRemover() {
    if (!path.empty()) std::remove(path.c_str());
  }
};

}  // namespace

int RunDemo(const DemoArgs& args, const std::string& self) {
  if (args.seconds <= 0 || args.events_per_table <= 0) {
    return Fail("demo", Errc::kInvalidArgument, "--seconds and --events-per-table must be positive");
  }
  auto capacity = ParseSize(args.capacity);
  if (!capacity.ok()) return Fail("demo", capacity.error());
  const std::string name = args.ring.empty() ? "demo-" + std::to_string(getpid()) : args.ring;
  const char* tmp = std::getenv("TMPDIR");
  const bool keep_output = !args.output.empty();
  const std::string output =
      keep_output ? args.output
                  : std::string(tmp && *tmp ? tmp : "/tmp") + "/arrowring-demo-" + std::to_string(getpid()) + ".arrow";
  if (int refused = RefuseWithoutDiskSpace(output, args.seconds); refused != kExitOk) return refused;
  // The storage file is the demo's by-product: removed at the end unless asked for.
  OutputRemover output_remover{keep_output ? std::string() : output};
  // What the storage subscriber can do at best, measured here rather than assumed.
  const double file_gbps = MeasureFileWriteGbps(output, int64_t{256} << 20);
  auto ring = Ring::Create(name, *capacity, {.policy = Policy::kBlock});
  if (!ring.ok()) return Fail("demo", ring.error());
  RingRemover remover{name};
  NoteRounding("demo", *capacity, ring->capacity());
  HandleStopSignals(OnStop);
  const bool live = isatty(STDOUT_FILENO);

  std::cout << "arrowring demo: ring '" << name << "' (" << HumanBytes(static_cast<double>(ring->capacity()))
            << ", policy block), " << args.events_per_table << " events of " << kSamples << " int16 samples per table, "
            << args.seconds << " s\n";
  auto worker_args = [&](const std::string& role) {
    return std::vector<std::string>{"arrowring",
                                    "demo-worker",
                                    "--role",
                                    role,
                                    "--ring",
                                    name,
                                    "--seconds",
                                    std::to_string(args.seconds),
                                    "--events-per-table",
                                    std::to_string(args.events_per_table),
                                    "--output",
                                    output};
  };
  Worker verify{"verify"}, store{"store"}, produce{"produce"};
  std::vector<Worker*> all = {&verify, &store, &produce};
  auto abandon = [&](const std::string& why) {
    for (Worker* worker : all) {
      if (worker->pid > 0) kill(worker->pid, SIGTERM);
    }
    for (Worker* worker : all) {
      if (worker->pid > 0) waitpid(worker->pid, nullptr, 0);
    }
    return Fail("demo", Errc::kSystem, why);
  };
  for (Worker* subscriber : {&verify, &store}) {
    if (!Spawn(*subscriber, self, worker_args(subscriber->role))) return abandon("cannot start a worker process");
  }
  // Both subscribers must be registered before the first table is published.
  for (Worker* subscriber : {&verify, &store}) {
    std::string line;
    while (line != "ready" && subscriber->output >= 0) {
      auto lines = ReadLines(*subscriber);
      if (!lines.empty()) line = lines.front();
    }
    if (line != "ready") return abandon("the " + subscriber->role + " subscriber failed to start");
  }
  if (!Spawn(produce, self, worker_args("produce"))) return abandon("cannot start the producer");

  const auto start = Clock::now();
  bool forwarded_stop = false;
  // Progress until every worker has reported (their pipes close when they exit).
  while (verify.output >= 0 || store.output >= 0 || produce.output >= 0) {
    PumpOutput(all, 250);
    if (stop_requested.load() && !forwarded_stop) {
      kill(produce.pid, SIGINT);  // Stop publishing; subscribers drain to the end marker.
      forwarded_stop = true;
    }
    if (produce.output < 0 && !produce.reported) break;  // Producer died: nothing will end the run.
    if (live) {
      const RingStats s = ring->Stats();
      const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
      uint64_t lag_verify = 0, lag_store = 0;
      for (const auto& sub : s.subscribers) (sub.name == "verify" ? lag_verify : lag_store) = sub.lag;
      std::printf("\r[%5.1fs] %llu tables, %s, %.2f GB/s, lag verify %llu store %llu   ", seconds,
                  static_cast<unsigned long long>(s.messages_written),
                  HumanBytes(static_cast<double>(s.bytes_written)).c_str(),
                  static_cast<double>(s.bytes_written) / seconds / 1e9, static_cast<unsigned long long>(lag_verify),
                  static_cast<unsigned long long>(lag_store));
      std::fflush(stdout);
    }
  }
  if (live) std::printf("\n");
  if (!produce.reported) {
    for (Worker* worker : {&verify, &store}) kill(worker->pid, SIGTERM);
  }
  for (Worker* worker : all) {
    int status = 0;
    waitpid(worker->pid, &status, 0);
    worker->exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (worker->output >= 0) close(worker->output);
  }
  const RingStats stats = ring->Stats();

  // How a worker ended, for messages: "exit code 11" or "killed by signal 15".
  auto ending = [](const Worker& worker) {
    return worker.exit_code >= 128 ? "killed by signal " + std::to_string(worker.exit_code - 128)
                                   : "exit code " + std::to_string(worker.exit_code);
  };
  auto succeeded = [](const Worker& worker) { return worker.reported && worker.exit_code == 0; };
  if (!succeeded(produce)) {
    // Without the producer's report nothing was measured: no summary, only what happened.
    std::fprintf(stderr,
                 "arrowring demo: FAILED: the producer failed (%s; its error is above), so there is no "
                 "summary%s\n",
                 ending(produce).c_str(), produce.reported ? "" : "; the subscribers were stopped");
    return kExitFailure;
  }

  const int64_t published = Number(produce, "tables");
  const double seconds = std::stod(produce.report["seconds"]);
  const int64_t bytes = Number(produce, "bytes");
  const int64_t verified = Number(verify, "verified");
  const int64_t failures = Number(verify, "failures");
  const int64_t received = Number(verify, "tables");
  std::error_code size_error;
  const auto file_bytes = std::filesystem::file_size(output, size_error);
  const bool all_succeeded = succeeded(verify) && succeeded(store);
  std::printf("arrowring demo: %s\n", !all_succeeded          ? "FAILED; summary of what ran"
                                      : stop_requested.load() ? "interrupted; summary of what ran"
                                                              : "done");
  std::printf("  moved       %lld tables, %s, %lld events\n", static_cast<long long>(published),
              HumanBytes(static_cast<double>(bytes)).c_str(), static_cast<long long>(Number(produce, "events")));
  if (seconds > 0 && published > 0) {
    std::printf("  throughput  %.2f GB/s, %.1f tables/s over %.1f s\n", static_cast<double>(bytes) / seconds / 1e9,
                static_cast<double>(published) / seconds, seconds);
  }
  if (!succeeded(verify)) {
    std::printf("  latency     not measured: the verifier failed (%s)\n", ending(verify).c_str());
  } else if (received > 0) {
    std::printf("  latency     publish -> receive p50 %.0f us, p99 %.0f us (verifier)\n",
                static_cast<double>(Number(verify, "p50_ns")) / 1e3,
                static_cast<double>(Number(verify, "p99_ns")) / 1e3);
  }
  int64_t missed = 0;
  std::string unknown;
  for (const Worker* subscriber : {&verify, &store}) {
    if (succeeded(*subscriber)) {
      missed += Number(*subscriber, "missed");
    } else {
      unknown += " (unknown for the " + subscriber->role + " subscriber)";
    }
  }
  std::printf("  drops       %llu dropped, %lld missed%s\n", static_cast<unsigned long long>(stats.messages_dropped),
              static_cast<long long>(missed), unknown.c_str());
  if (succeeded(verify)) {
    std::printf("  verified    %lld of %lld tables, every value checked, zero-copy; %lld failed\n",
                static_cast<long long>(verified), static_cast<long long>(published), static_cast<long long>(failures));
  } else {
    std::printf("  verified    nothing: the verifier failed (%s; its error is above)\n", ending(verify).c_str());
  }
  const std::string file_size = size_error ? "missing" : HumanBytes(static_cast<double>(file_bytes));
  if (!succeeded(store)) {
    std::printf("  stored      unknown: the storage subscriber failed (%s; its error is above)\n",
                ending(store).c_str());
  } else if (keep_output) {
    std::printf("  stored      %lld tables in %s (%s)\n", static_cast<long long>(Number(store, "tables")),
                output.c_str(), file_size.c_str());
  } else {
    std::printf("  stored      %lld tables (%s), file removed; pass --output PATH to keep it\n",
                static_cast<long long>(Number(store, "tables")), file_size.c_str());
  }

  // Each role's rate and busy share, and what bounds the run: the role that is busiest.
  auto seconds_of = [](Worker& worker) {
    auto found = worker.report.find("seconds");
    return found == worker.report.end() ? 0.0 : std::stod(found->second);
  };
  auto busy_of = [&](Worker& worker) {
    auto found = worker.report.find("cpu_s");
    const double wall = seconds_of(worker);
    return found == worker.report.end() || wall <= 0 ? 0.0 : std::stod(found->second) / wall;
  };
  std::string roles;
  std::string busiest;
  double most = 0;
  for (Worker* worker : {&produce, &verify, &store}) {
    if (!succeeded(*worker) || seconds_of(*worker) <= 0) continue;
    const std::string role = worker == &produce ? "producer" : worker == &verify ? "verifier" : "storage";
    const double gbps = static_cast<double>(Number(*worker, "bytes")) / seconds_of(*worker) / 1e9;
    char text[96];
    std::snprintf(text, sizeof text, "%s%s %.2f GB/s (%.0f%% of a core)", roles.empty() ? "" : ", ", role.c_str(), gbps,
                  100 * busy_of(*worker));
    roles += text;
    if (busy_of(*worker) > most) most = busy_of(*worker), busiest = role;
  }
  if (!roles.empty()) std::printf("  roles       %s\n", roles.c_str());
  if (file_gbps > 0) {
    std::printf(
        "  file system %.2f GB/s for plain 8 MiB writes next to the storage file (256 MiB, measured "
        "before the run)\n",
        file_gbps);
  }
  if (!busiest.empty()) {
    std::printf("  bound       %s\n",
                busiest == "storage"
                    ? "the storage subscriber (writing the Arrow IPC file), not the ring: `make bench` moves "
                      "tables through the ring itself at 10+ GB/s"
                    : ("the " + busiest + " (the busiest role)").c_str());
  }

  const bool ok = all_succeeded && verified == published && failures == 0 && missed == 0 &&
                  Number(verify, "announced") == published && Number(store, "tables") == published;
  if (!ok) {
    std::fprintf(stderr, "arrowring demo: FAILED (exit codes producer %d, verify %d, store %d)\n", produce.exit_code,
                 verify.exit_code, store.exit_code);
    return kExitFailure;
  }
  return kExitOk;
}

}  // namespace arrowring::cli
