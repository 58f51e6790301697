#include "flight_cases.h"

#ifdef ARROWRING_BENCH_BRIDGE
#include <algorithm>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <arrow/api.h>
#include <arrow/flight/client.h>
#include <arrow/flight/server.h>

#include "arrowring/bridge/puller.h"
#include "arrowring/bridge/server.h"
#include "arrowring/ipc/pubsub.h"
#include "case_support.h"
#endif

namespace arrowring::bench {

#ifdef ARROWRING_BENCH_BRIDGE
using namespace std::chrono_literals;

// --- Flight: ring -> RingServer -> DoGet over 127.0.0.1 -> Puller -> ring, against plain Flight ---

namespace {

namespace flight = arrow::flight;

// The bound: a minimal Flight server that streams `count` copies of one in-memory table
// (ticket: the count in decimal) through Flight's own RecordBatchStream — no ring, no tags,
// no acknowledgements.
class PlainFlightServer : public flight::FlightServerBase {
 public:
  explicit PlainFlightServer(std::shared_ptr<arrow::Table> table) : table_(std::move(table)) {}
  arrow::Status DoGet(const flight::ServerCallContext&, const flight::Ticket& request,
                      std::unique_ptr<flight::FlightDataStream>* stream) override {
    int64_t count = 0;
    const auto& text = request.ticket;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), count);
    if (error != std::errc() || end != text.data() + text.size() || count < 0) {
      return arrow::Status::Invalid("ticket: a table count");
    }
    ARROW_ASSIGN_OR_RAISE(auto batch, table_->CombineChunksToBatch());
    std::vector<std::shared_ptr<arrow::RecordBatch>> batches(static_cast<size_t>(count), batch);
    ARROW_ASSIGN_OR_RAISE(auto reader, arrow::RecordBatchReader::Make(std::move(batches), table_->schema()));
    *stream = std::make_unique<flight::RecordBatchStream>(std::move(reader));
    return arrow::Status::OK();
  }

 private:
  std::shared_ptr<arrow::Table> table_;
};

arrow::Status StopServer(bridge::RingServer& server) { return server.Stop(); }
arrow::Status StopServer(flight::FlightServerBase& server) { return server.Shutdown(); }

// Forks a process that runs a Flight server on 127.0.0.1 and an ephemeral port, made by
// `start` after the fork (gRPC must not cross a fork); it puts the port on `port` (-1 on
// failure) and serves until a byte arrives on `stop`. The parent starts no gRPC before it.
template <typename Start>
pid_t ForkFlightServer(Start start, Pipe& port, Pipe& stop) {
  return Fork([&] {
    auto server = start();
    if (!server.ok()) {
      port.Put(-1);
      return 5;
    }
    port.Put(static_cast<int>((*server)->port()));
    char byte;
    stop.Get(&byte);
    return StopServer(**server).ok() ? 0 : 6;
  });
}

// Streams ring `source` into `destination` through a RingServer (a child process, added to
// `children`, told to stop on the way out) and a Puller (a thread here, stopped and joined on
// the way out) while `body` runs. `body` starts once the puller's stream is open — the server
// holds its durable subscriber then, so every table published from there on is due to it.
// Fork every other child before: gRPC starts here, and must not cross a fork.
arrow::Status WithBridge(const std::string& source_name, Ring destination, std::vector<pid_t>& children,
                         const std::function<arrow::Status()>& body) {
  Pipe port_pipe, stop;
  children.push_back(ForkFlightServer(
      [&]() -> arrow::Result<std::unique_ptr<bridge::RingServer>> {
        bridge::ServerOptions options;
        options.rings = {source_name};
        return bridge::RingServer::Start(options);
      },
      port_pipe, stop));
  std::unique_ptr<Pipe, void (*)(Pipe*)> stop_server(&stop, [](Pipe* p) { p->Put(char{1}); });
  int port = -1;
  if (!port_pipe.Get(&port) || port < 0) return arrow::Status::IOError("the ring server failed to start");
  std::mutex mutex;
  std::condition_variable changed;
  bool streaming = false;
  bridge::PullOptions options;
  options.subscriber = "bench";
  options.publish.timeout = 60s;
  options.client.retries = 0;
  options.client.log = [&](const std::string& line) {
    if (line.rfind("streaming ", 0) != 0) return;
    std::lock_guard lock(mutex);
    streaming = true;
    changed.notify_all();
  };
  ARROW_ASSIGN_OR_RAISE(auto remote,
                        bridge::RemoteRing::Parse("grpc://127.0.0.1:" + std::to_string(port) + "/" + source_name));
  ARROW_ASSIGN_OR_RAISE(auto puller, bridge::Puller::Make(remote, std::move(destination), options));
  arrow::Status pulled;
  bool pull_ended = false;
  struct PullThread {  // stops and joins the puller on every way out
    bridge::Puller* puller;
    std::thread thread;
    ~PullThread() {
      puller->Stop();
      if (thread.joinable()) thread.join();
    }
  } pulling{puller.get(), std::thread([&] {
              auto status = puller->Run();
              std::lock_guard lock(mutex);
              pulled = status;
              pull_ended = streaming = true;  // also on failure: the wait below ends
              changed.notify_all();
            })};
  {
    std::unique_lock lock(mutex);
    if (!changed.wait_for(lock, 60s, [&] { return streaming; }))
      return arrow::Status::IOError("the puller did not connect");
    if (pull_ended) return pulled.ok() ? arrow::Status::IOError("the puller ended early") : pulled;
  }
  ARROW_RETURN_NOT_OK(body());
  pulling.puller->Stop();
  pulling.thread.join();
  return pulled;
}

// The server holds each table in the source ring until the puller acknowledges it, a network
// round trip after it left: the source ring must cover that bandwidth-delay product, or it,
// not the network, bounds the stream (docs/benchmarks.md). 64 MiB holds the server's window
// (16 tables) up to 4 MiB tables, and 4 tables above.
uint64_t FlightSourceCapacity(int64_t table_bytes) {
  return std::max<uint64_t>(RingCapacityFor(table_bytes, 4), 64ull << 20);
}

// Forks a process that subscribes to ring `name`, says so on `ready`, then answers every
// table it reads with a byte on `reply`, `count` times.
pid_t ForkEchoConsumer(const std::string& name, int64_t count, Pipe& ready, Pipe& reply) {
  return Fork([&] {
    auto attached = Ring::Attach(name);
    if (!attached.ok()) return 2;
    auto subscriber = Subscriber::Make(*attached, "echo");
    if (!subscriber.ok()) return 3;
    ready.Put(char{1});
    for (int64_t i = 0; i < count; ++i) {
      auto message = subscriber->Next(60s);
      if (!message.ok() || !message->has_value()) return 4;
      reply.Put(char{1});
    }
    return 0;
  });
}

// Publishes `count` tables one at a time, each after the echo of the previous: the time from
// Publish to the echo, per table (µs), after `warmup` untimed ones.
arrow::Result<std::vector<double>> PacedRounds(Ring& ring, const arrow::Table& table, int64_t warmup, int64_t count,
                                               Pipe& reply) {
  Publisher publisher(ring, {.timeout = 60s});
  std::vector<double> samples;
  for (int64_t i = 0; i < warmup + count; ++i) {
    const int64_t start = MonotonicNs();
    ARROW_RETURN_NOT_OK(publisher.Publish(table).status());
    char byte;
    if (!reply.Get(&byte)) return arrow::Status::IOError("the consumer failed");
    if (i >= warmup) samples.push_back(static_cast<double>(MonotonicNs() - start) / 1e3);
  }
  return samples;
}

double Percentile(std::vector<double> samples, double q) {
  std::sort(samples.begin(), samples.end());
  return samples[std::min(samples.size() - 1, static_cast<size_t>(q * static_cast<double>(samples.size())))];
}

}  // namespace

arrow::Result<Throughput> MeasureFlightBridge(int64_t table_bytes, int64_t count) {
  const std::string source_name = UniqueName("flight-src"), destination_name = UniqueName("flight-dst");
  const uint64_t source_capacity = FlightSourceCapacity(table_bytes);
  const int64_t warmup = static_cast<int64_t>(source_capacity / static_cast<uint64_t>(table_bytes)) + 1;
  ARROW_ASSIGN_OR_RAISE(Ring source, CreateRing(source_name, source_capacity));
  RingGuard source_guard{source_name};
  ARROW_ASSIGN_OR_RAISE(Ring destination, CreateRing(destination_name, RingCapacityFor(table_bytes, 4)));
  RingGuard destination_guard{destination_name};
  Pipe ready, done;
  std::vector<pid_t> children;
  children.push_back(ForkConsumer(destination_name, "consumer", warmup, count, /*checksum=*/false,
                                  SpinPolicy::Default(), ready, done));
  char byte;
  if (!ready.Get(&byte)) return arrow::Status::IOError("the consumer failed to start");
  int64_t start = 0, end = 0;
  ARROW_RETURN_NOT_OK(WithBridge(source_name, destination, children, [&]() -> arrow::Status {
    auto table = BenchTable(table_bytes);
    Publisher publisher(source, {.timeout = 60s});
    for (int64_t i = 0; i < warmup; ++i) ARROW_RETURN_NOT_OK(publisher.Publish(*table).status());
    if (!ready.Get(&byte)) return arrow::Status::IOError("the consumer failed during warm-up");
    start = MonotonicNs();
    for (int64_t i = 0; i < count; ++i) ARROW_RETURN_NOT_OK(publisher.Publish(*table).status());
    ConsumerReport report;
    if (!done.Get(&report)) return arrow::Status::IOError("the consumer failed");
    end = MonotonicNs();
    return arrow::Status::OK();
  }));
  if (!ReapAll(children)) return arrow::Status::IOError("a child process failed");
  return Throughput{count, table_bytes, static_cast<double>(end - start) / 1e9};
}

arrow::Result<FlightLatency> MeasureFlightLatency(int64_t table_bytes, int64_t count) {
  constexpr int64_t kWarmup = 20;
  FlightLatency out;
  out.table_bytes = table_bytes;
  const std::string local_name = UniqueName("latency-local"), source_name = UniqueName("latency-src"),
                    destination_name = UniqueName("latency-dst");
  ARROW_ASSIGN_OR_RAISE(Ring local, CreateRing(local_name, RingCapacityFor(table_bytes, 4)));
  RingGuard local_guard{local_name};
  ARROW_ASSIGN_OR_RAISE(Ring source, CreateRing(source_name, FlightSourceCapacity(table_bytes)));
  RingGuard source_guard{source_name};
  ARROW_ASSIGN_OR_RAISE(Ring destination, CreateRing(destination_name, RingCapacityFor(table_bytes, 4)));
  RingGuard destination_guard{destination_name};
  // Both echo consumers are forked before anything starts gRPC here.
  Pipe local_ready, local_reply, ready, reply;
  std::vector<pid_t> children;
  children.push_back(ForkEchoConsumer(local_name, kWarmup + count, local_ready, local_reply));
  children.push_back(ForkEchoConsumer(destination_name, kWarmup + count, ready, reply));
  char byte;
  if (!local_ready.Get(&byte) || !ready.Get(&byte)) return arrow::Status::IOError("a consumer failed to start");
  auto table = BenchTable(table_bytes);
  // The same round trip without the bridge: what the bridge adds is the difference.
  ARROW_ASSIGN_OR_RAISE(auto local_samples, PacedRounds(local, *table, kWarmup, count, local_reply));
  std::vector<double> samples;
  ARROW_RETURN_NOT_OK(WithBridge(source_name, destination, children, [&]() -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(samples, PacedRounds(source, *table, kWarmup, count, reply));
    return arrow::Status::OK();
  }));
  if (!ReapAll(children)) return arrow::Status::IOError("a child process failed");
  out.local_p50_us = Percentile(local_samples, 0.5);
  out.local_p99_us = Percentile(local_samples, 0.99);
  out.bridge_p50_us = Percentile(samples, 0.5);
  out.bridge_p99_us = Percentile(samples, 0.99);
  return out;
}

arrow::Result<Throughput> MeasureFlightPlain(int64_t table_bytes, int64_t count) {
  const int64_t warmup = WarmupCount(table_bytes, 4);
  Pipe port_pipe, stop;
  std::vector<pid_t> children;
  children.push_back(ForkFlightServer(
      [&]() -> arrow::Result<std::unique_ptr<PlainFlightServer>> {
        auto server = std::make_unique<PlainFlightServer>(BenchTable(table_bytes));
        ARROW_ASSIGN_OR_RAISE(auto location, flight::Location::ForGrpcTcp("127.0.0.1", 0));
        ARROW_RETURN_NOT_OK(server->Init(flight::FlightServerOptions(location)));
        return server;
      },
      port_pipe, stop));
  std::unique_ptr<Pipe, void (*)(Pipe*)> stop_server(&stop, [](Pipe* p) { p->Put(char{1}); });
  int port = -1;
  if (!port_pipe.Get(&port) || port < 0) return arrow::Status::IOError("the Flight server failed to start");
  ARROW_ASSIGN_OR_RAISE(auto location, flight::Location::ForGrpcTcp("127.0.0.1", port));
  ARROW_ASSIGN_OR_RAISE(auto client, flight::FlightClient::Connect(location));
  // One stream of `n` tables, each read as a consumer reads one (a value per column).
  auto read = [&](int64_t n) -> arrow::Status {
    ARROW_ASSIGN_OR_RAISE(auto stream, client->DoGet(flight::Ticket{std::to_string(n)}));
    uint64_t sum = 0;
    int64_t got = 0;
    while (true) {
      ARROW_ASSIGN_OR_RAISE(auto chunk, stream->Next());
      if (!chunk.data) break;
      ARROW_ASSIGN_OR_RAISE(auto batch_table, arrow::Table::FromRecordBatches({chunk.data}));
      sum += Consume(*batch_table, /*checksum=*/false);
      ++got;
    }
    if (got != n) return arrow::Status::IOError("plain Flight stream ended after ", got, " of ", n, " tables");
    return arrow::Status::OK();
  };
  ARROW_RETURN_NOT_OK(read(warmup));
  const int64_t start = MonotonicNs();
  ARROW_RETURN_NOT_OK(read(count));
  const int64_t end = MonotonicNs();
  ARROW_RETURN_NOT_OK(client->Close());
  stop_server.reset();
  if (!ReapAll(children)) return arrow::Status::IOError("the Flight server process failed");
  return Throughput{count, table_bytes, static_cast<double>(end - start) / 1e9};
}
#endif  // ARROWRING_BENCH_BRIDGE

#ifndef ARROWRING_BENCH_BRIDGE
arrow::Result<Throughput> MeasureFlightBridge(int64_t, int64_t) {
  return arrow::Status::NotImplemented("built without the Flight bridge (ARROWRING_BUILD_BRIDGE=OFF)");
}
arrow::Result<Throughput> MeasureFlightPlain(int64_t, int64_t) {
  return arrow::Status::NotImplemented("built without the Flight bridge (ARROWRING_BUILD_BRIDGE=OFF)");
}
arrow::Result<FlightLatency> MeasureFlightLatency(int64_t, int64_t) {
  return arrow::Status::NotImplemented("built without the Flight bridge (ARROWRING_BUILD_BRIDGE=OFF)");
}
#endif

}  // namespace arrowring::bench
