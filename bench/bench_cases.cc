#include "bench_cases.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <arrow/io/memory.h>
#include <arrow/ipc/writer.h>

#include "arrowring/ipc/pubsub.h"
#include "case_support.h"

namespace arrowring::bench {
namespace {

using namespace std::chrono_literals;

}  // namespace

arrow::Result<FirstLap> MeasureFirstLap(int64_t table_bytes, bool prefault, int repeats) {
  const std::string name = UniqueName("first-lap");
  auto table = BenchTable(table_bytes);
  FirstLap lap{.table_bytes = table_bytes};
  const int64_t created = MonotonicNs();
  auto ring = Ring::Create(name, RingCapacityFor(table_bytes, 1), {.policy = Policy::kBlock, .prefault = prefault});
  if (!ring.ok()) return ToStatus(ring.error());
  RingGuard guard{name};
  lap.create_s = static_cast<double>(MonotonicNs() - created) / 1e9;
  Publisher publisher(*ring, {.timeout = 60s});
  for (int i = 0; i <= repeats; ++i) {
    const int64_t start = MonotonicNs();
    ARROW_RETURN_NOT_OK(publisher.Publish(*table).status());  // nobody subscribed: freed at once
    const double seconds = static_cast<double>(MonotonicNs() - start) / 1e9;
    if (i == 0) {
      lap.first_s = seconds;
    } else if (lap.steady_s == 0 || seconds < lap.steady_s) {
      lap.steady_s = seconds;
    }
  }
  return lap;
}

arrow::Result<Throughput> MeasureThroughput(int64_t table_bytes, int64_t count, bool checksum, int subscribers,
                                            int ring_tables, SpinPolicy wait, uint64_t warm_bytes,
                                            const std::vector<std::string>& keep, bool retain) {
  // Consumers are forked before the table exists, so they do not inherit its pages.
  const std::string name = UniqueName("throughput");
  const uint64_t capacity = RingCapacityFor(table_bytes, ring_tables);
  const int64_t warmup = WarmupCount(table_bytes, ring_tables);
  ARROW_ASSIGN_OR_RAISE(Ring ring, CreateRing(name, capacity, warm_bytes, retain));
  RingGuard guard{name};
  Pipe ready, done;
  std::vector<pid_t> children;
  for (int s = 0; s < subscribers; ++s) {
    const std::string keeps = static_cast<size_t>(s) < keep.size() ? keep[static_cast<size_t>(s)] : "";
    children.push_back(
        ForkConsumer(name, "consumer-" + std::to_string(s), warmup, count, checksum, wait, ready, done, keeps));
  }
  for (int s = 0; s < subscribers; ++s) {
    char byte;
    if (!ready.Get(&byte)) return arrow::Status::IOError("a consumer failed to start");
  }
  auto table = BenchTable(table_bytes);
  Publisher publisher(ring, {.timeout = 60s});
  for (int64_t i = 0; i < warmup; ++i) ARROW_RETURN_NOT_OK(publisher.Publish(*table).status());
  for (int s = 0; s < subscribers; ++s) {  // Timing starts with the pipeline drained.
    char byte;
    if (!ready.Get(&byte)) return arrow::Status::IOError("a consumer failed during warm-up");
  }
  const int64_t start = MonotonicNs();
  const uint64_t producer_cpu_from = ProcessCpuNs();
  for (int64_t i = 0; i < count; ++i) ARROW_RETURN_NOT_OK(publisher.Publish(*table).status());
  const uint64_t producer_cpu_ns = ProcessCpuNs() - producer_cpu_from;
  uint64_t consumers_cpu_ns = 0;
  for (int s = 0; s < subscribers; ++s) {
    ConsumerReport report;
    if (!done.Get(&report)) return arrow::Status::IOError("a consumer failed");
    consumers_cpu_ns += report.cpu_ns;
  }
  const int64_t end = MonotonicNs();
  if (!ReapAll(children)) return arrow::Status::IOError("a consumer process failed");
  const RingStats stats = ring.Stats();
  const double per_table_us = 1e-3 / static_cast<double>(count);
  Throughput result{count, table_bytes, static_cast<double>(end - start) / 1e9, stats.writer_lap_bytes,
                    stats.messages_kept_total};
  result.producer_cpu_us = static_cast<double>(producer_cpu_ns) * per_table_us;
  result.consumer_cpu_us = static_cast<double>(consumers_cpu_ns) * per_table_us / std::max(1, subscribers);
  return result;
}

namespace {

std::shared_ptr<arrow::Schema> LoanBenchSchema() {
  std::vector<std::shared_ptr<arrow::Field>> fields;
  for (int c = 0; c < 4; ++c) fields.push_back(arrow::field("c" + std::to_string(c), arrow::int64(), false));
  return arrow::schema(fields);
}

// The producer's work in both contenders: generate every value of the 4 columns.
void Generate(int64_t* const* columns, int64_t rows, int64_t round) {
  for (int c = 0; c < 4; ++c) {
    int64_t* values = columns[c];
    for (int64_t i = 0; i < rows; ++i) values[i] = i * (c + 1) + round;
  }
}

}  // namespace

arrow::Result<Throughput> MeasureLoanThroughput(int64_t table_bytes, int64_t count, bool loaned) {
  const std::string name = UniqueName(loaned ? "loaned" : "copying");
  const uint64_t capacity = RingCapacityFor(table_bytes, 4);
  const int64_t warmup = WarmupCount(table_bytes, 4);
  const int64_t rows = std::max<int64_t>(1, table_bytes / 32);
  ARROW_ASSIGN_OR_RAISE(Ring ring, CreateRing(name, capacity));
  RingGuard guard{name};
  Pipe ready, done;
  std::vector<pid_t> children;
  children.push_back(
      ForkConsumer(name, "consumer", warmup, count, /*checksum=*/false, SpinPolicy::Default(), ready, done));
  char byte;
  if (!ready.Get(&byte)) return arrow::Status::IOError("the consumer failed to start");
  Publisher publisher(ring, {.timeout = 60s});
  const auto schema = LoanBenchSchema();
  std::shared_ptr<arrow::Table> own;  // the copying producer's table, its buffers reused
  int64_t* own_columns[4];
  if (!loaned) {
    own = BenchTable(table_bytes);
    for (int c = 0; c < 4; ++c) {
      own_columns[c] = own->column(c)->chunk(0)->data()->GetMutableValues<int64_t>(1);
    }
  }
  auto publish_one = [&](int64_t round) -> arrow::Status {
    if (!loaned) {
      Generate(own_columns, rows, round);
      return publisher.Publish(*own).status();
    }
    ARROW_ASSIGN_OR_RAISE(LoanedBatch loan, publisher.Loan(schema, rows, {.validity = false}));
    int64_t* columns[4];
    for (int c = 0; c < 4; ++c) {
      ARROW_ASSIGN_OR_RAISE(auto span, loan.Values<int64_t>(c));
      columns[c] = span.data();
    }
    Generate(columns, rows, round);
    return loan.Commit().status();
  };
  for (int64_t i = 0; i < warmup; ++i) ARROW_RETURN_NOT_OK(publish_one(i));
  if (!ready.Get(&byte)) return arrow::Status::IOError("the consumer failed during warm-up");
  const int64_t start = MonotonicNs();
  for (int64_t i = 0; i < count; ++i) ARROW_RETURN_NOT_OK(publish_one(warmup + i));
  ConsumerReport report;
  if (!done.Get(&report)) return arrow::Status::IOError("the consumer failed");
  const int64_t end = MonotonicNs();
  if (!ReapAll(children)) return arrow::Status::IOError("the consumer process failed");
  return Throughput{count, rows * 32, static_cast<double>(end - start) / 1e9};
}

arrow::Result<LoanCost> MeasureLoanCommit(int64_t table_bytes, int repetitions, bool fill) {
  const std::string name = UniqueName("commit");
  const int64_t rows = std::max<int64_t>(1, table_bytes / 32);
  ARROW_ASSIGN_OR_RAISE(Ring ring, CreateRing(name, RingCapacityFor(table_bytes, 2)));
  RingGuard guard{name};
  Publisher publisher(ring, {.timeout = 10s});
  const auto schema = LoanBenchSchema();
  std::vector<double> loan_us, commit_us;
  for (int r = 0; r < repetitions + 1; ++r) {
    const int64_t t0 = MonotonicNs();
    ARROW_ASSIGN_OR_RAISE(LoanedBatch loan, publisher.Loan(schema, rows, {.validity = false}));
    const int64_t t1 = MonotonicNs();
    int64_t* columns[4];
    for (int c = 0; c < 4; ++c) {
      ARROW_ASSIGN_OR_RAISE(auto span, loan.Values<int64_t>(c));
      columns[c] = span.data();
    }
    if (fill || r == 0) Generate(columns, rows, r);
    const int64_t t2 = MonotonicNs();
    ARROW_RETURN_NOT_OK(loan.Commit().status());
    const int64_t t3 = MonotonicNs();
    if (r == 0) continue;  // first touch of the pages
    loan_us.push_back(static_cast<double>(t1 - t0) / 1e3);
    commit_us.push_back(static_cast<double>(t3 - t2) / 1e3);
  }
  LoanCost cost;
  cost.table_bytes = rows * 32;
  cost.commit_max_us = *std::max_element(commit_us.begin(), commit_us.end());
  std::sort(loan_us.begin(), loan_us.end());
  std::sort(commit_us.begin(), commit_us.end());
  cost.loan_us = loan_us[loan_us.size() / 2];
  cost.commit_us = commit_us[commit_us.size() / 2];
  return cost;
}

void Percentiles(Latency& latency) {
  std::vector<double> sorted = latency.samples_us;
  std::sort(sorted.begin(), sorted.end());
  auto at = [&](double q) {
    return sorted[std::min(sorted.size() - 1, static_cast<size_t>(q * static_cast<double>(sorted.size())))];
  };
  latency.p50_us = at(0.50);
  latency.p99_us = at(0.99);
  latency.p999_us = at(0.999);
}

arrow::Result<Latency> MeasureLatency(bool raw, SpinPolicy wait, int64_t count) {
  const std::string ping_name = UniqueName("ping"), pong_name = UniqueName("pong");
  ARROW_ASSIGN_OR_RAISE(Ring ping, CreateRing(ping_name, 16ull << 20));
  RingGuard ping_guard{ping_name};
  ARROW_ASSIGN_OR_RAISE(Ring pong, CreateRing(pong_name, 16ull << 20));
  RingGuard pong_guard{pong_name};
  // One side of the ping-pong as a user writes it: a long-lived publisher (the schema is
  // serialized once) and a subscriber (decoded once); raw messages use the core ring alone.
  struct Receiver {
    std::optional<Subscription> raw;
    std::optional<Subscriber> tables;
  };
  auto subscribe = [&](Ring& ring, const char* name) -> arrow::Result<Receiver> {
    Receiver receiver;
    if (raw) {
      auto subscription = ring.Subscribe(name);
      if (!subscription.ok()) return ToStatus(subscription.error());
      if (auto set = subscription->SetSpin(wait); !set.ok()) return ToStatus(set.error());
      receiver.raw.emplace(std::move(*subscription));
    } else {
      ARROW_ASSIGN_OR_RAISE(auto subscriber, Subscriber::Make(ring, name, {.spin = wait}));
      receiver.tables.emplace(std::move(subscriber));
    }
    return receiver;
  };
  ARROW_ASSIGN_OR_RAISE(Receiver pong_receiver, subscribe(pong, "a"));
  Pipe ready, report;
  const auto schema = arrow::schema({arrow::field("t", arrow::int64())});
  // Sends one message stamped with the monotonic time at which publishing began.
  auto send = [&](Ring& ring, Publisher& publisher, int64_t stamp) -> arrow::Status {
    if (raw) {
      auto slot = ring.Allocate(64, 60s);
      if (!slot.ok() || !slot->has_value()) return arrow::Status::IOError("no room");
      std::memcpy((**slot).data().data(), &stamp, 8);
      auto handle = (**slot).Commit(64, 0);
      return handle.ok() ? arrow::Status::OK() : ToStatus(handle.error());
    }
    arrow::Int64Builder builder;
    ARROW_RETURN_NOT_OK(builder.Append(stamp));
    ARROW_ASSIGN_OR_RAISE(auto column, builder.Finish());
    return publisher.Publish(*arrow::RecordBatch::Make(schema, 1, {column})).status();
  };
  // Receives one message and returns its stamp.
  auto receive = [&](Receiver& receiver) -> arrow::Result<int64_t> {
    if (raw) {
      auto delivery = receiver.raw->Next(60s);
      if (!delivery.ok() || !delivery->has_value()) return arrow::Status::IOError("nothing received");
      int64_t stamp;
      std::memcpy(&stamp, (**delivery).slot.data().data(), 8);
      return stamp;
    }
    ARROW_ASSIGN_OR_RAISE(auto message, receiver.tables->Next(60s));
    if (!message) return arrow::Status::IOError("nothing received");
    return std::static_pointer_cast<arrow::Int64Array>(message->table->column(0)->chunk(0))->Value(0);
  };
  Publisher ping_publisher(ping, {.timeout = 60s});

  const pid_t child = Fork([&] {
    auto ping_ring = Ring::Attach(ping_name);
    auto pong_ring = Ring::Attach(pong_name);
    if (!ping_ring.ok() || !pong_ring.ok()) return 2;
    auto receiver = subscribe(*ping_ring, "b");
    if (!receiver.ok()) return 3;
    Publisher pong_publisher(*pong_ring, {.timeout = 60s});
    ready.Put(char{1});
    std::vector<double> samples;
    samples.reserve(static_cast<size_t>(count));
    for (int64_t i = 0; i < count; ++i) {  // Paced: one message in flight.
      auto stamp = receive(*receiver);
      const int64_t now = MonotonicNs();
      if (!stamp.ok()) return 4;
      samples.push_back(static_cast<double>(now - *stamp) / 1e3);
      if (!send(*pong_ring, pong_publisher, now).ok()) return 5;
    }
    int64_t first = 0;
    for (int64_t i = 0; i < count; ++i) {  // Burst: back to back.
      if (!receive(*receiver).ok()) return 6;
      if (i == 0) first = MonotonicNs();
    }
    const int64_t burst_ns = MonotonicNs() - first;
    report.Put(burst_ns);
    for (double sample : samples) report.Put(sample);
    return 0;
  });
  char byte;
  if (!ready.Get(&byte)) return arrow::Status::IOError("the receiver failed to start");
  for (int64_t i = 0; i < count; ++i) {
    ARROW_RETURN_NOT_OK(send(ping, ping_publisher, MonotonicNs()));
    ARROW_RETURN_NOT_OK(receive(pong_receiver).status());
  }
  for (int64_t i = 0; i < count; ++i) ARROW_RETURN_NOT_OK(send(ping, ping_publisher, MonotonicNs()));
  Latency latency;
  int64_t burst_ns = 0;
  if (!report.Get(&burst_ns)) return arrow::Status::IOError("the receiver failed");
  latency.samples_us.resize(static_cast<size_t>(count));
  for (double& sample : latency.samples_us) {
    if (!report.Get(&sample)) return arrow::Status::IOError("the receiver failed");
  }
  if (!ReapAll({child})) return arrow::Status::IOError("the receiver process failed");
  Percentiles(latency);
  latency.msgs_per_s = burst_ns > 0 ? static_cast<double>(count - 1) / (static_cast<double>(burst_ns) / 1e9) : 0;
  return latency;
}

arrow::Result<IpcSize> MeasureIpcSize(int64_t table_bytes, int repetitions) {
  auto table = BenchTable(table_bytes);
  IpcSize result{table_bytes, 1e300, 1e300};
  ARROW_RETURN_NOT_OK(IpcStreamSize(*table).status());  // Untimed: first-call setup.
  // Sizing is cheap: the minimum of many samples; serializing is not: `repetitions` samples.
  for (int r = 0; r < 20; ++r) {
    const int64_t start = MonotonicNs();
    ARROW_ASSIGN_OR_RAISE(const int64_t exact, IpcStreamSize(*table));
    result.exact_us = std::min(result.exact_us, static_cast<double>(MonotonicNs() - start) / 1e3);
    if (exact <= 0) return arrow::Status::Invalid("empty stream");
  }
  for (int r = 0; r < repetitions; ++r) {
    const int64_t start = MonotonicNs();
    ARROW_ASSIGN_OR_RAISE(auto sink, arrow::io::BufferOutputStream::Create());
    ARROW_ASSIGN_OR_RAISE(auto writer, arrow::ipc::MakeStreamWriter(sink, table->schema()));
    ARROW_RETURN_NOT_OK(writer->WriteTable(*table));
    ARROW_RETURN_NOT_OK(writer->Close());
    ARROW_ASSIGN_OR_RAISE(auto serialized, sink->Finish());
    result.serialize_us = std::min(result.serialize_us, static_cast<double>(MonotonicNs() - start) / 1e3);
    if (serialized->size() <= 0) return arrow::Status::Invalid("empty stream");
  }
  return result;
}

arrow::Result<int64_t> MeasureConsumerPeakRss(int64_t table_bytes, int64_t count) {
  const std::string name = UniqueName("rss");
  ARROW_ASSIGN_OR_RAISE(Ring ring, CreateRing(name, RingCapacityFor(table_bytes)));
  RingGuard guard{name};
  Pipe ready, report;
  const pid_t child = Fork([&] {
    auto attached = Ring::Attach(name);
    auto subscriber = Subscriber::Make(*attached, "rss");
    if (!subscriber.ok()) return 2;
    ready.Put(char{1});
    uint64_t sum = 0;
    for (int64_t i = 0; i < count; ++i) {
      auto message = subscriber->Next(60s);
      if (!message.ok() || !message->has_value()) return 3;
      sum += Consume(*(*message)->table, false);
    }
    rusage usage;
    getrusage(RUSAGE_SELF, &usage);
    report.Put(static_cast<int64_t>(usage.ru_maxrss) * 1024);
    return sum == 0 ? 0 : 0;
  });
  char byte;
  if (!ready.Get(&byte)) return arrow::Status::IOError("the consumer failed to start");
  auto table = BenchTable(table_bytes);  // After the fork: the consumer does not inherit it.
  Publisher publisher(ring, {.timeout = 60s});
  for (int64_t i = 0; i < count; ++i) ARROW_RETURN_NOT_OK(publisher.Publish(*table).status());
  int64_t rss = 0;
  if (!report.Get(&rss)) return arrow::Status::IOError("the consumer failed");
  if (!ReapAll({child})) return arrow::Status::IOError("the consumer process failed");
  return rss;
}

}  // namespace arrowring::bench
