// The bridge end to end over loopback (127.0.0.1, ephemeral ports): ring → Flight → ring
// for the edge-case matrix and the arrow-testing gold files, resume without loss or
// duplicates, push, and every refusal (token, ring, ticket, address).
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <thread>

#include <arrow/api.h>
#include <arrow/flight/client.h>
#include <arrow/io/file.h>
#include <arrow/ipc/reader.h>
#include <gtest/gtest.h>

#include "arrowring/bridge/puller.h"
#include "arrowring/bridge/pusher.h"
#include "arrowring/bridge/server.h"
#include "arrowring/ipc/test_tables.h"

namespace arrowring::bridge {
namespace {

namespace fs = std::filesystem;
namespace flight = arrow::flight;
using namespace std::chrono_literals;

std::string UniqueName(const std::string& what) {
  static std::atomic<int> counter{0};
  return "arrowring-bridge-test-" + std::to_string(::getpid()) + "-" + what + "-" + std::to_string(counter++);
}

// The last lines of a log, indented, for a failure message (a runaway loop logs thousands).
std::string LastLines(const std::vector<std::string>& lines, size_t most = 40) {
  std::string text;
  if (lines.size() > most) text += "  (" + std::to_string(lines.size() - most) + " earlier lines)\n";
  for (size_t i = lines.size() > most ? lines.size() - most : 0; i < lines.size(); ++i) {
    text += "  " + lines[i] + "\n";
  }
  return text.empty() ? "  (nothing)\n" : text;
}

// A ring that is unlinked when the test ends.
struct TestRing {
  std::string name;
  Ring ring;
  explicit TestRing(const std::string& what, uint64_t capacity = 64 << 20, RingOptions options = {})
      : name(UniqueName(what)), ring(*Ring::Create(name, capacity, options)) {}
  ~TestRing() { (void)Ring::Unlink(name); }
};

// A cursor file's path under the temporary directory, removed when the test ends however it
// ends (an ASSERT returns early): nothing left in /tmp.
struct TestCursor {
  std::string path = (fs::temp_directory_path() / UniqueName("cursor")).string();
  ~TestCursor() { fs::remove(path); }
};

std::vector<std::shared_ptr<arrow::Table>> GoldTables() {
  std::vector<std::string> files;
  std::error_code error;
  for (const auto& entry : fs::recursive_directory_iterator(fs::path(ARROWRING_TESTING_DATA) / "integration", error)) {
    if (entry.path().extension() == ".stream") files.push_back(entry.path().string());
  }
  std::sort(files.begin(), files.end());
  std::vector<std::shared_ptr<arrow::Table>> tables;
  for (const auto& path : files) {
    auto file = arrow::io::ReadableFile::Open(path);
    if (!file.ok()) continue;
    auto reader = arrow::ipc::RecordBatchStreamReader::Open(*file);
    if (!reader.ok()) continue;
    auto table = (*reader)->ToTable();
    if (table.ok()) tables.push_back(*table);
  }
  return tables;
}

class BridgeTest : public ::testing::Test {
 protected:
  std::unique_ptr<RingServer> StartServer(ServerOptions options = {}) {
    options.log = [this](const std::string& line) {
      std::lock_guard lock(log_mutex_);
      log_.push_back(line);
    };
    auto server = RingServer::Start(std::move(options));
    EXPECT_TRUE(server.ok()) << server.status();
    return server.ok() ? std::move(*server) : nullptr;
  }
  static RemoteRing Remote(const RingServer& server, const std::string& ring) {
    return RemoteRing{"grpc://127.0.0.1:" + std::to_string(server.port()), ring};
  }
  std::string ServerLog() {
    std::lock_guard lock(log_mutex_);
    return LastLines(log_);
  }
  bool Logged(const std::string& needle) {
    std::lock_guard lock(log_mutex_);
    for (const auto& line : log_) {
      if (line.find(needle) != std::string::npos) return true;
    }
    return false;
  }
  std::mutex log_mutex_;
  std::vector<std::string> log_;
};

// Runs a client on its own thread; stops and joins it however the test ends.
template <typename Client>
struct Running {
  Client* client;
  arrow::Status status;
  std::thread thread;
  explicit Running(Client* c) : client(c), thread([this] { status = client->Run(); }) {}
  arrow::Status Finish() {
    client->Stop();
    if (thread.joinable()) thread.join();
    return status;
  }
  ~Running() { (void)Finish(); }
};

// The durable subscriber registers when the server opens the stream; a table published
// before that is not due to it. The deadline is a watchdog: a bridge that never subscribes
// fails the test with a message instead of spinning until ctest's timeout.
::testing::AssertionResult WaitForSubscriber(const Ring& ring, const std::string& name = "bridge") {
  auto deadline = std::chrono::steady_clock::now() + 60s;
  while (std::chrono::steady_clock::now() < deadline) {
    for (const auto& sub : ring.Stats().subscribers) {
      if (sub.name == name) return ::testing::AssertionSuccess();
    }
    std::this_thread::yield();
  }
  return ::testing::AssertionFailure() << "watchdog: no subscriber '" << name << "' on " << ring.name()
                                       << " within 60 s";
}

// A log the test's clients write to, from any thread.
struct TestLog {
  std::mutex mutex;
  std::vector<std::string> lines;
  std::function<void(const std::string&)> Sink() {
    return [this](const std::string& line) {
      std::lock_guard lock(mutex);
      lines.push_back(line);
    };
  }
  std::string Text() {
    std::lock_guard lock(mutex);
    return LastLines(lines);
  }
};

// Pulls `tables` from `source` into `destination` through `server` and checks each arrives
// equal, in order, exactly once. A failure says what both ends said and counted.
void CrossAndCompare(RingServer& server, TestRing& source, TestRing& destination,
                     const std::vector<std::shared_ptr<arrow::Table>>& tables,
                     const std::function<std::string()>& server_log) {
  auto reader = Subscriber::Make(destination.ring, "check");
  ASSERT_TRUE(reader.ok());
  TestLog puller_log;
  PullOptions options;
  options.client.log = puller_log.Sink();
  auto puller = Puller::Make(RemoteRing{"grpc://127.0.0.1:" + std::to_string(server.port()), source.name},
                             destination.ring, options);
  ASSERT_TRUE(puller.ok()) << puller.status();
  // Said when anything below fails, however it returns.
  struct Explain {
    std::function<std::string()> what;
    ~Explain() {
      if (::testing::Test::HasFailure()) ADD_FAILURE() << what();
    }
  } explain{[&] {
    const auto& pulled = (*puller)->stats();
    const auto served = server.stats();
    std::string streams;
    for (const auto& stream : served.streams) {
      streams += " [" + stream.ring + "/" + stream.subscriber + ": sent " + std::to_string(stream.tables_sent) +
                 ", replayed " + std::to_string(stream.replayed) + ", acked " + std::to_string(stream.acked) +
                 (stream.active ? ", active]" : "]");
    }
    return "puller: tables " + std::to_string(pulled.tables) + ", duplicates " + std::to_string(pulled.duplicates) +
           ", gap " + std::to_string(pulled.gap) + ", reconnects " + std::to_string(pulled.reconnects) +
           ", last sequence " + std::to_string(pulled.last_sequence) + "\nserver: tables sent " +
           std::to_string(served.tables_sent) + ", rejected " + std::to_string(served.rejected) + ";" + streams +
           "\npuller log:\n" + puller_log.Text() + "server log:\n" + server_log();
  }};
  Running running(puller->get());
  ASSERT_TRUE(WaitForSubscriber(source.ring));
  Publisher publisher(source.ring);
  for (const auto& table : tables) {
    ASSERT_TRUE(publisher.Publish(*table).ok());
  }
  for (size_t i = 0; i < tables.size(); ++i) {
    auto message = reader->Next(60s);
    ASSERT_TRUE(message.ok() && *message) << "table " << i << " did not arrive";
    EXPECT_TRUE(testing::TablesEqual(*(*message)->table, *tables[i])) << "table " << i;
    EXPECT_TRUE((*message)->table->schema()->Equals(*tables[i]->schema(), true)) << "table " << i;
  }
  auto run_status = running.Finish();
  EXPECT_TRUE(run_status.ok()) << run_status;
  EXPECT_EQ((*puller)->stats().tables, tables.size());
  EXPECT_EQ((*puller)->stats().duplicates, 0u);
  EXPECT_EQ((*puller)->stats().gap, 0u);
  EXPECT_EQ(server.stats().tables_sent, tables.size()) << "the server sent a table more than once";
  EXPECT_EQ(destination.ring.Stats().messages_written, tables.size());
}

TEST_F(BridgeTest, EdgeCaseTablesCrossEqual) {
  TestRing source("src"), destination("dst");
  auto server = StartServer();
  ASSERT_TRUE(server);
  std::vector<std::shared_ptr<arrow::Table>> tables;
  for (const auto& named : testing::EdgeCaseTables()) tables.push_back(named.table);
  tables.push_back(testing::MakeVariedTable(1000, 3, 4));  // several batches per table
  CrossAndCompare(*server, source, destination, tables, [this] { return ServerLog(); });
  auto stats = server->stats();
  ASSERT_EQ(stats.streams.size(), 1u);
  EXPECT_EQ(stats.streams[0].ring, source.name);
  // The remote reader is a subscriber of the source ring, visible to `arrowring stat`.
  bool listed = false;
  for (const auto& sub : source.ring.Stats().subscribers) listed |= sub.name == "bridge";
  EXPECT_TRUE(listed);
}

TEST_F(BridgeTest, GoldFilesCrossEqual) {
  auto tables = GoldTables();
  ASSERT_GE(tables.size(), 27u) << "looked under " << ARROWRING_TESTING_DATA;
  TestRing source("src"), destination("dst");
  auto server = StartServer();
  ASSERT_TRUE(server);
  CrossAndCompare(*server, source, destination, tables, [this] { return ServerLog(); });
}

TEST_F(BridgeTest, ResumesWithoutLossOrDuplicates) {
  TestRing source("src", 64 << 20), destination("dst");
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto reader = Subscriber::Make(destination.ring, "check");
  ASSERT_TRUE(reader.ok());
  TestCursor cursor;
  constexpr int kTables = 60;
  // Register the durable subscriber, then publish everything before any pulling.
  Publisher publisher(source.ring);
  std::optional<uint64_t> first_sequence;
  int received = 0;
  for (int round = 0; round < 3; ++round) {
    PullOptions options;
    options.cursor_path = cursor.path;
    auto puller = Puller::Make(Remote(*server, source.name), destination.ring, options);
    ASSERT_TRUE(puller.ok());
    Running running(puller->get());
    if (round == 0) {
      ASSERT_TRUE(WaitForSubscriber(source.ring));
      for (int i = 0; i < kTables; ++i) {
        auto handle = publisher.Publish(*testing::MakeInt64Table(1000 + i));
        ASSERT_TRUE(handle.ok());
        if (!first_sequence) first_sequence = handle->sequence;
      }
    }
    // Stop each of the first two pullers in the middle of the stream.
    int until = round == 2 ? kTables : received + kTables / 3;
    while (received < until) {
      auto message = reader->Next(60s);
      ASSERT_TRUE(message.ok() && *message);
      EXPECT_EQ((*message)->table->num_rows(), 1000 + received) << "lost or repeated a table";
      ++received;
    }
    EXPECT_TRUE(running.Finish().ok());
  }
  // Every puller has finished: the destination holds all it will ever hold. Exactly kTables
  // were committed there, each once (a replayed table would be one more).
  EXPECT_EQ(destination.ring.Stats().messages_written, static_cast<uint64_t>(kTables));
  auto extra = reader->Next(0ms);
  ASSERT_TRUE(extra.ok());
  EXPECT_FALSE(*extra) << "a table arrived twice";
}

// Drop-oldest at the source while the durable subscriber's window is full (the destination
// is full, its reader not reading): the ring passes over the messages the server holds and
// drops others, and every drop reaches the destination's side counted exactly once.
TEST_F(BridgeTest, ADurableSubscriberWithAFullWindowUnderDropOldestIsToldOfEveryDropExactly) {
  TestRing source("src", 1 << 20, {.policy = Policy::kDropOldest}), destination("dst", 4 << 20);
  ServerOptions server_options;
  server_options.window = 2;
  auto server = StartServer(server_options);
  ASSERT_TRUE(server);
  auto reader = Subscriber::Make(destination.ring, "check");
  ASSERT_TRUE(reader.ok());
  PullOptions options;
  options.publish.timeout = 120s;  // waits for the reader below instead of failing
  auto puller = Puller::Make(Remote(*server, source.name), destination.ring, options);
  ASSERT_TRUE(puller.ok());
  Running running(puller->get());
  ASSERT_TRUE(WaitForSubscriber(source.ring));
  constexpr int64_t kTables = 100, kRows = 12'000;  // 96 KiB each: 10 fit the source ring
  Publisher publisher(source.ring);
  for (int64_t i = 0; i < kTables; ++i) {
    ASSERT_TRUE(publisher.Publish(*testing::MakeInt64Table(kRows + i)).ok()) << i;
  }
  const uint64_t dropped = source.ring.Stats().messages_dropped;
  EXPECT_GT(dropped, 0u) << "the bridge, stalled by the full destination, should have lagged";
  int64_t received = 0, last = -1;
  while (last != kTables - 1) {  // the last table is never dropped: nothing came after it
    auto message = reader->Next(60s);
    ASSERT_TRUE(message.ok() && *message) << "watchdog: table after " << last << " did not arrive";
    const int64_t index = (*message)->table->num_rows() - kRows;
    ASSERT_GT(index, last) << "out of order or repeated";
    EXPECT_TRUE(testing::TablesEqual(*(*message)->table, *testing::MakeInt64Table(kRows + index)));
    last = index;
    ++received;
  }
  ASSERT_TRUE(running.Finish().ok());
  const auto& pulled = (*puller)->stats();
  EXPECT_EQ(static_cast<uint64_t>(received) + pulled.source_missed, static_cast<uint64_t>(kTables))
      << "each table arrived or was counted as missed";
  EXPECT_EQ(pulled.source_missed, dropped) << "the bridge was due every table the ring dropped";
  EXPECT_EQ(pulled.duplicates, 0u);
  EXPECT_EQ(pulled.gap, 0u);
  for (const auto& sub : source.ring.Stats().subscribers) {
    if (sub.name == "bridge") {
      EXPECT_EQ(sub.missed, dropped);
    }
  }
  EXPECT_EQ(server->stats().missed, dropped);
}

// A source ring removed and created again under its name starts its sequences over: the
// server must subscribe to the new ring, and a cursor of the old one must not make it skip
// the new ring's first tables.
TEST_F(BridgeTest, ARecreatedSourceRingIsFollowedFromItsFirstTable) {
  TestRing source("src"), destination("dst");
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto reader = Subscriber::Make(destination.ring, "check");
  ASSERT_TRUE(reader.ok());
  TestCursor cursor;
  PullOptions options;
  options.cursor_path = cursor.path;
  for (int round = 0; round < 2; ++round) {
    if (round == 1) {
      ASSERT_TRUE(Ring::Unlink(source.name).ok());
      auto again = Ring::Create(source.name, 64 << 20);
      ASSERT_TRUE(again.ok());
      source.ring = std::move(*again);
    }
    auto puller = Puller::Make(Remote(*server, source.name), destination.ring, options);
    ASSERT_TRUE(puller.ok());
    Running running(puller->get());
    ASSERT_TRUE(WaitForSubscriber(source.ring));
    Publisher publisher(source.ring);
    for (int i = 0; i < 5; ++i) {
      ASSERT_TRUE(publisher.Publish(*testing::MakeInt64Table(100 * (round + 1) + i)).ok());
    }
    for (int i = 0; i < 5; ++i) {
      auto message = reader->Next(60s);
      ASSERT_TRUE(message.ok() && *message) << "round " << round << ": table " << i << " did not arrive";
      EXPECT_EQ((*message)->table->num_rows(), 100 * (round + 1) + i);
    }
    EXPECT_TRUE(running.Finish().ok());
  }
}

// A table that can never fit the destination ring ends the pull with TooLarge, which says
// what to change, instead of being retried forever.
TEST_F(BridgeTest, ATableLargerThanTheDestinationEndsThePull) {
  TestRing source("src"), destination("dst", 256 << 10);
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto puller = Puller::Make(Remote(*server, source.name), destination.ring, {});
  ASSERT_TRUE(puller.ok());
  Running running(puller->get());
  ASSERT_TRUE(WaitForSubscriber(source.ring));
  ASSERT_TRUE(Publisher(source.ring).Publish(*testing::MakeInt64Table(100'000)).ok());  // 800 kB
  running.thread.join();  // returns on its own: the error is permanent
  EXPECT_EQ(ErrcOf(running.status), Errc::kTooLarge) << running.status;
  EXPECT_EQ(destination.ring.Stats().messages_written, 0u);
}

TEST_F(BridgeTest, StopEndsAnIdleBlockedRead) {
  TestRing source("src"), destination("dst");
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto puller = Puller::Make(Remote(*server, source.name), destination.ring, {});
  ASSERT_TRUE(puller.ok());
  Running running(puller->get());
  ASSERT_TRUE(WaitForSubscriber(source.ring));
  // The puller is now inside a stream read with nothing to read; Stop must end it.
  EXPECT_TRUE(running.Finish().ok());
}

TEST_F(BridgeTest, PushPublishesIntoTheRemoteRing) {
  TestRing source("src"), destination("dst");
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto reader = Subscriber::Make(destination.ring, "check");
  ASSERT_TRUE(reader.ok());
  auto pusher = Pusher::Make(source.ring, Remote(*server, destination.name), {});
  ASSERT_TRUE(pusher.ok());
  Running running(pusher->get());
  std::vector<std::shared_ptr<arrow::Table>> tables;
  for (const auto& named : testing::EdgeCaseTables()) tables.push_back(named.table);
  Publisher publisher(source.ring);
  for (const auto& table : tables) ASSERT_TRUE(publisher.Publish(*table).ok());
  for (size_t i = 0; i < tables.size(); ++i) {
    auto message = reader->Next(60s);
    ASSERT_TRUE(message.ok() && *message) << "table " << i;
    EXPECT_TRUE(testing::TablesEqual(*(*message)->table, *tables[i])) << "table " << i;
  }
  EXPECT_TRUE(running.Finish().ok());
  EXPECT_EQ(server->stats().tables_received, tables.size());
}

// Stop() while the pusher is writing: it must not touch the put from the stopping thread
// (gRPC aborts on two concurrent operations on one call), and a clean stop leaves every
// table it sent acknowledged and published exactly once.
TEST_F(BridgeTest, StopWhilePushingPublishesWhatWasSentOnce) {
  TestRing source("src"), destination("dst");
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto pusher = Pusher::Make(source.ring, Remote(*server, destination.name), {});
  ASSERT_TRUE(pusher.ok());
  Publisher publisher(source.ring);
  constexpr int kTables = 200;
  for (int i = 0; i < kTables; ++i) {
    ASSERT_TRUE(publisher.Publish(*testing::MakeInt64Table(100 + i)).ok());
  }
  Running running(pusher->get());
  while ((*pusher)->stats().tables < 20) std::this_thread::yield();
  EXPECT_TRUE(running.Finish().ok());
  uint64_t sent = (*pusher)->stats().tables;
  EXPECT_EQ((*pusher)->stats().resent, 0u);
  EXPECT_EQ(destination.ring.Stats().messages_written, sent);
}

// Sends `batches` with their tags as one DoPut into `ring`; returns the put's final status.
arrow::Status RawPut(RingServer& server, const std::string& ring,
                     const std::vector<std::pair<std::shared_ptr<arrow::RecordBatch>, BatchTag>>& batches) {
  ARROW_ASSIGN_OR_RAISE(auto client,
                        flight::FlightClient::Connect(*flight::Location::ForGrpcTcp("127.0.0.1", server.port())));
  ARROW_ASSIGN_OR_RAISE(auto put,
                        client->DoPut(flight::FlightDescriptor::Path({ring}), batches.front().first->schema()));
  arrow::Status status;
  for (const auto& [batch, tag] : batches) {
    status = put.writer->WriteWithMetadata(*batch, tag.Encode());
    if (!status.ok()) break;  // the server refused: Close() below says why
  }
  if (status.ok()) status = put.writer->DoneWriting();
  auto closed = put.writer->Close();
  return closed.ok() ? status : closed;
}

// A peer's batch whose buffers do not hold what its length says never reaches the ring.
TEST_F(BridgeTest, PutOfAStructurallyInvalidBatchIsRefused) {
  TestRing destination("dst");
  auto server = StartServer();
  ASSERT_TRUE(server);
  // 1000 int64 values announced, 8 bytes of data: reading it would run past the buffer.
  auto values = std::make_shared<arrow::Int64Array>(1000, arrow::Buffer::FromString(std::string(8, '\0')));
  auto batch = arrow::RecordBatch::Make(arrow::schema({arrow::field("x", arrow::int64())}), 1000, {values});
  auto status = RawPut(*server, destination.name, {{batch, BatchTag{1, 0, 0, 1, 0, 0}}});
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("not valid Arrow data"), std::string::npos) << status;
  EXPECT_EQ(destination.ring.Stats().messages_written, 0u);
}

// A peer announcing endless batches of one table is stopped once the table outgrows the
// destination ring, with an error that says so, not buffered without bound.
TEST_F(BridgeTest, PutOfATableLargerThanTheRingIsRefusedWhileArriving) {
  TestRing destination("dst", 256 << 10);
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto batch = testing::MakeInt64Table(8192)->CombineChunksToBatch().ValueOrDie();  // 64 KiB
  std::vector<std::pair<std::shared_ptr<arrow::RecordBatch>, BatchTag>> batches;
  for (uint64_t i = 0; i < 64; ++i) batches.push_back({batch, BatchTag{1, 0, i, 1'000'000, 0, 0}});
  auto status = RawPut(*server, destination.name, batches);
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("larger than the destination ring"), std::string::npos) << status;
  EXPECT_EQ(destination.ring.Stats().messages_written, 0u);
  EXPECT_TRUE(Logged("larger than the destination ring"));
}

// A refused pull: a clear, permanent error, a server log line, nothing published.
void ExpectRefused(RingServer& server, TestRing& destination, const std::string& ring, ClientOptions client,
                   const std::string& subscriber = "bridge") {
  PullOptions options;
  options.client = std::move(client);
  options.client.retries = 0;
  options.subscriber = subscriber;
  auto puller =
      Puller::Make(RemoteRing{"grpc://127.0.0.1:" + std::to_string(server.port()), ring}, destination.ring, options);
  ASSERT_TRUE(puller.ok());
  auto status = (*puller)->Run();
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(IsPermanent(status)) << status;
  EXPECT_EQ(destination.ring.Stats().messages_written, 0u);
}

TEST_F(BridgeTest, RefusesWrongOrMissingToken) {
  TestRing source("src"), destination("dst");
  ServerOptions options;
  options.token = "correct horse";
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  Publisher publisher(source.ring);
  ClientOptions wrong;
  wrong.token = "wrong horse";
  ExpectRefused(*server, destination, source.name, wrong);
  EXPECT_TRUE(Logged("wrong bearer token"));
  ExpectRefused(*server, destination, source.name, {});
  EXPECT_TRUE(Logged("no bearer token"));
  EXPECT_TRUE(source.ring.Stats().subscribers.empty());
  // The right token works.
  ClientOptions right;
  right.token = "correct horse";
  right.retries = 0;
  auto client = flight::FlightClient::Connect(*flight::Location::ForGrpcTcp("127.0.0.1", server->port()));
  ASSERT_TRUE(client.ok());
  flight::FlightCallOptions call;
  call.headers.emplace_back("authorization", "Bearer correct horse");
  auto info = (*client)->GetFlightInfo(call, flight::FlightDescriptor::Path({source.name}));
  EXPECT_TRUE(info.ok()) << info.status();
}

TEST_F(BridgeTest, RefusesUnknownRingAndBadTicket) {
  TestRing source("src"), destination("dst");
  auto server = StartServer();
  ASSERT_TRUE(server);
  ExpectRefused(*server, destination, UniqueName("absent"), {});
  EXPECT_TRUE(Logged("unknown ring"));
  ExpectRefused(*server, destination, source.name, {}, "bad name with spaces");
  auto client = flight::FlightClient::Connect(*flight::Location::ForGrpcTcp("127.0.0.1", server->port()));
  ASSERT_TRUE(client.ok());
  auto stream = (*client)->DoGet(flight::Ticket{"not a ticket"});
  arrow::Status status = stream.status();
  if (status.ok()) status = (*stream)->Next().status();
  EXPECT_FALSE(status.ok());
  EXPECT_TRUE(Logged("bad ticket"));
}

TEST_F(BridgeTest, ServesOnlyTheListedRings) {
  TestRing source("src"), other("other"), destination("dst");
  ServerOptions options;
  options.rings = {source.name};
  auto server = StartServer(options);
  ASSERT_TRUE(server);
  ExpectRefused(*server, destination, other.name, {});
  auto client = flight::FlightClient::Connect(*flight::Location::ForGrpcTcp("127.0.0.1", server->port()));
  ASSERT_TRUE(client.ok());
  auto listing = (*client)->ListFlights();
  ASSERT_TRUE(listing.ok());
  auto info = (*listing)->Next();
  ASSERT_TRUE(info.ok() && *info);
  EXPECT_EQ((*info)->descriptor().path.at(0), source.name);
}

TEST_F(BridgeTest, ListsEveryRingWithoutARingList) {
  // Without --ring the server serves every ring, so its listing must name them (a Python
  // client's list_rings() is how a user finds them).
  TestRing source("src");
  auto server = StartServer();
  ASSERT_TRUE(server);
  auto client = flight::FlightClient::Connect(*flight::Location::ForGrpcTcp("127.0.0.1", server->port()));
  ASSERT_TRUE(client.ok());
  auto listing = (*client)->ListFlights();
  ASSERT_TRUE(listing.ok());
  bool found = false;
  while (true) {
    auto info = (*listing)->Next();
    ASSERT_TRUE(info.ok());
    if (!*info) break;
    found = found || (*info)->descriptor().path.at(0) == source.name;
  }
  EXPECT_TRUE(found);
}

// A server that cannot start (a port in use, a certificate that is not one) is an error that
// says what to check, not a crash when the half-made server is destroyed.
TEST_F(BridgeTest, AServerThatCannotStartSaysWhy) {
  auto first = StartServer();
  ASSERT_TRUE(first);
  ServerOptions taken;
  taken.port = first->port();
  auto second = RingServer::Start(taken);
  ASSERT_FALSE(second.ok());
  EXPECT_NE(second.status().message().find("port is free"), std::string::npos) << second.status();
  ServerOptions garbage;
  garbage.tls_cert = "not a certificate";
  garbage.tls_key = "not a key";
  auto third = RingServer::Start(garbage);
  ASSERT_FALSE(third.ok());
  EXPECT_NE(third.status().message().find("--tls-cert"), std::string::npos) << third.status();
}

TEST_F(BridgeTest, RefusesNonLoopbackWithoutTlsAndToken) {
  ServerOptions options;
  options.host = "0.0.0.0";
  auto server = RingServer::Start(options);
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("--insecure"), std::string::npos);
}

}  // namespace
}  // namespace arrowring::bridge
