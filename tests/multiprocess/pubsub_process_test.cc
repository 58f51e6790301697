// Publish/subscribe of Arrow tables across real processes: a producer publishing thousands
// of varied tables (1 row to 64 MiB), subscriber processes verifying every value and that
// every buffer lies in the ring, exact counts under block and drop-oldest, and processes
// killed mid-read and mid-write.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include <arrow/buffer.h>
#include <arrow/table.h>
#include <gtest/gtest.h>

#include "processes.h"

#include "arrowring/ipc/pubsub.h"
#include "arrowring/ipc/test_tables.h"
#include "arrowring/ring/internal/stats_json.h"

namespace arrowring {
namespace {

using namespace std::chrono_literals;
constexpr uint64_t kMiB = 1 << 20;

using testing::KillAndReap;
using testing::Pipe;
using testing::Reap;
using testing::Spawn;

class PubSubProcesses : public ::testing::Test {
 protected:
  void SetUp() override {
    alarm(300);  // Watchdog for the parent.
    static int counter = 0;
    name_ = "test-pubsub-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
  }
  void TearDown() override {
    (void)Ring::Unlink(name_);
    alarm(0);
  }
  Ring CreateRing(uint64_t capacity, Policy policy) {
    auto ring = Ring::Create(name_, capacity, {.policy = policy});
    EXPECT_TRUE(ring.ok()) << ring.error().ToString();
    return *ring;
  }
  std::string name_;
};

// A subscriber process: takes messages until `expected` are received or missed, verifies
// each table against its regeneration and that every buffer lies in the ring's mapping.
// Reports "received missed verified" on `report`.
int SubscriberProcess(const std::string& ring_name, const std::string& name, int64_t expected, bool verify,
                      bool allow_huge, const Pipe& ready, const Pipe& report, const Pipe* start = nullptr) {
  auto ring = Ring::Attach(ring_name);
  if (!ring.ok()) return 10;
  auto subscriber = Subscriber::Make(*ring, name);
  if (!subscriber.ok()) return 11;
  ready.Send("ready");
  if (start != nullptr && start->Receive() != "go") return 16;  // Joined, but not reading yet.
  const auto region = ring->data_region();
  std::vector<bool> seen(static_cast<size_t>(expected), false);
  int64_t received = 0, missed = 0, verified = 0;
  while (received + missed < expected) {
    auto message = subscriber->Next(60s);
    if (!message.ok() || !message->has_value()) return 12;
    missed += static_cast<int64_t>((*message)->missed);
    ++received;
    const arrow::Table& table = *(*message)->table;
    const int64_t index = testing::StreamTableIndex(table);
    if (index < 0 || index >= expected || seen[static_cast<size_t>(index)]) return 13;
    seen[static_cast<size_t>(index)] = true;
    if (testing::BuffersOutside(table, region.data(), static_cast<int64_t>(region.size())) != 0) {
      return 14;  // Not zero-copy.
    }
    if (verify) {
      if (!testing::TablesEqual(table, *testing::MakeStreamTable(index, allow_huge))) return 15;
      ++verified;
    }
  }
  report.Send(std::to_string(received) + " " + std::to_string(missed) + " " + std::to_string(verified));
  return 0;
}

int ProducerProcess(const std::string& ring_name, int64_t first, int64_t count, bool allow_huge) {
  auto ring = Ring::Attach(ring_name);
  if (!ring.ok()) return 20;
  Publisher publisher(*ring, {.timeout = 60s});
  for (int64_t index = first; index < first + count; ++index) {
    auto handle = publisher.Publish(*testing::MakeStreamTable(index, allow_huge));
    if (!handle.ok()) return 21;
  }
  return 0;
}

TEST_F(PubSubProcesses, TwoProducersTwoVerifyingSubscribersEveryValueZeroCopyExactCounts) {
  constexpr int64_t kTables = 2000;
  Ring ring = CreateRing(256 * kMiB, Policy::kBlock);
  Pipe ready, report;
  std::vector<pid_t> subscribers;
  for (const char* name : {"verify-a", "verify-b"}) {
    subscribers.push_back(Spawn([&, name] {
      return SubscriberProcess(name_, name, kTables, /*verify=*/true, /*allow_huge=*/true, ready, report);
    }));
  }
  ASSERT_EQ(ready.Receive(), "ready");
  ASSERT_EQ(ready.Receive(), "ready");
  // Two publishers in two processes into the one ring; indices split between them.
  const pid_t first = Spawn([&] { return ProducerProcess(name_, 0, kTables / 2, true); });
  const pid_t second = Spawn([&] { return ProducerProcess(name_, kTables / 2, kTables / 2, true); });
  EXPECT_EQ(Reap(first), 0);
  EXPECT_EQ(Reap(second), 0);
  for (pid_t subscriber : subscribers) ASSERT_EQ(Reap(subscriber), 0);
  for (int i = 0; i < 2; ++i) {
    EXPECT_EQ(report.Receive(), "2000 0 2000") << "received missed verified";
  }
  RingStats stats = ring.Stats();
  EXPECT_EQ(stats.messages_written, static_cast<uint64_t>(kTables));
  EXPECT_EQ(stats.messages_dropped, 0u);
  EXPECT_TRUE(stats.subscribers.empty()) << "they left when they exited";
  auto whole = ring.TryAllocate(ring.capacity());
  EXPECT_TRUE(whole.ok() && whole->has_value()) << "every message was released";
}

TEST_F(PubSubProcesses, DropOldestCountsEveryMessageASlowSubscriberDidNotGet) {
  constexpr int64_t kTables = 1500;
  Ring ring = CreateRing(8 * kMiB, Policy::kDropOldest);
  Pipe ready, report, start;
  // "slow" joins now but reads only once everything is published: it must miss most.
  const pid_t slow =
      Spawn([&] { return SubscriberProcess(name_, "slow", kTables, true, false, ready, report, &start); });
  const pid_t fast = Spawn([&] { return SubscriberProcess(name_, "fast", kTables, false, false, ready, report); });
  ASSERT_EQ(ready.Receive(), "ready");
  ASSERT_EQ(ready.Receive(), "ready");
  const pid_t producer = Spawn([&] { return ProducerProcess(name_, 0, kTables, false); });
  EXPECT_EQ(Reap(producer), 0);
  ASSERT_EQ(Reap(fast), 0) << "10-16: see SubscriberProcess";  // A failed child reports nothing.
  start.Send("go");
  ASSERT_EQ(Reap(slow), 0);
  const uint64_t dropped = ring.Stats().messages_dropped;
  EXPECT_GT(dropped, 0u);
  for (const char* who : {"fast", "slow"}) {
    const std::string reported = report.Receive();
    RecordProperty(who, reported);
    std::istringstream line(reported);
    int64_t received = 0, missed = 0, verified = 0;
    line >> received >> missed >> verified;
    EXPECT_EQ(received + missed, kTables) << who << ": received + missed = published";
    if (std::string(who) == "slow") {
      EXPECT_GT(missed, kTables / 2) << "it read nothing while 1500 tables went through 8 MiB";
      EXPECT_EQ(verified, received);
      // "slow" joined before the first publish and took nothing until the last: every message
      // dropped was still due to it, and it was told of each drop exactly once.
      EXPECT_EQ(static_cast<uint64_t>(missed), dropped) << "slow: missed = dropped";
    } else {
      EXPECT_LE(static_cast<uint64_t>(missed), dropped) << "fast: told of drops that never happened";
    }
  }
  EXPECT_EQ(ring.Stats().messages_written, static_cast<uint64_t>(kTables));
}

TEST_F(PubSubProcesses, SubscriberKilledWhileHoldingATableIsRecovered) {
  Ring ring = CreateRing(8 * kMiB, Policy::kBlock);
  Pipe ready;
  const pid_t victim = Spawn([&] {
    auto attached = Ring::Attach(name_);
    auto subscriber = Subscriber::Make(*attached, "victim");
    ready.Send("ready");
    auto message = subscriber->Next(60s);  // Holds the table until killed.
    ready.Send(message.ok() && message->has_value() ? "holding" : "failed");
    pause();
    return 0;
  });
  ASSERT_EQ(ready.Receive(), "ready");
  Publisher publisher(ring, {.timeout = 30s});
  ASSERT_TRUE(publisher.Publish(*testing::MakeInt64Table(400'000)).ok());  // 3.2 MB
  ASSERT_TRUE(publisher.Publish(*testing::MakeInt64Table(400'000)).ok());
  ASSERT_EQ(ready.Receive(), "holding");
  kill(victim, SIGKILL);
  Reap(victim);
  // The ring is full of messages due to, or held by, the dead subscriber; publishing more
  // recovers them without anyone calling Recover().
  for (int i = 0; i < 4; ++i) {
    auto handle = publisher.Publish(*testing::MakeInt64Table(400'000));
    ASSERT_TRUE(handle.ok()) << handle.status().ToString();
  }
  EXPECT_TRUE(ring.Stats().subscribers.empty());
}

TEST_F(PubSubProcesses, PublisherKilledMidWriteIsNeverDelivered) {
  Ring ring = CreateRing(8 * kMiB, Policy::kBlock);
  auto subscriber = Subscriber::Make(ring, "watcher");
  ASSERT_TRUE(subscriber.ok());
  Pipe ready;
  const pid_t publisher = Spawn([&] {
    auto attached = Ring::Attach(name_);
    auto table = testing::MakeInt64Table(100'000);
    const int64_t size = *IpcStreamSize(*table);
    auto slot = attached->TryAllocate(static_cast<uint64_t>(size));
    auto bytes = (*slot)->data();
    // Half of a valid stream, then death.
    auto serialized = *SerializeTable(*table);
    std::memcpy(bytes.data(), serialized->data(), static_cast<size_t>(size / 2));
    ready.Send("writing");
    pause();
    return 0;
  });
  ASSERT_EQ(ready.Receive(), "writing");
  auto nothing = subscriber->Next(1ms);
  ASSERT_TRUE(nothing.ok());
  EXPECT_FALSE(nothing->has_value()) << "an uncommitted message is never delivered";
  kill(publisher, SIGKILL);
  Reap(publisher);
  auto table = testing::MakeStreamTable(7);
  ASSERT_TRUE(Publisher(ring).Publish(*table).ok());
  // The subscriber waits on the dead writer's message, finds its writer dead, skips it.
  auto message = subscriber->Next(30s);
  ASSERT_TRUE(message.ok());
  ASSERT_TRUE(message->has_value());
  EXPECT_EQ(testing::StreamTableIndex(*(*message)->table), 7);
  EXPECT_EQ((*message)->missed, 0u);
  EXPECT_EQ(ring.Stats().messages_aborted, 1u);
}

// A subscriber process that keeps tables, as stores, caches and plots do: `how` is "per-tag"
// (the latest table of each of 5 tags, one table in 50 of a tag's... kept until replaced),
// "first-200" (every 10th of the first 200, kept to the end) or "random" (each table with
// probability 1/3, for a random number of later tables). Every table is verified when it
// arrives and every kept one again before it is let go. Reports "received verified kept".
int KeepingSubscriberProcess(const std::string& ring_name, const std::string& name, const std::string& how,
                             int64_t expected, const Pipe& ready, const Pipe& report) {
  auto ring = Ring::Attach(ring_name);
  if (!ring.ok()) return 30;
  auto subscriber = Subscriber::Make(*ring, name);
  if (!subscriber.ok()) return 31;
  ready.Send("ready");
  struct Kept {
    std::shared_ptr<arrow::Table> table;
    int64_t index;
    int64_t until;
  };
  std::vector<Kept> kept;
  auto intact = [](const Kept& k) { return testing::TablesEqual(*k.table, *testing::MakeStreamTable(k.index, false)); };
  uint64_t random = 0x9E3779B97F4A7C15ull ^ std::hash<std::string>{}(name);
  int64_t received = 0, verified = 0, most_kept = 0;
  while (received < expected) {
    auto message = subscriber->Next(60s);
    if (!message.ok() || !message->has_value()) return 32;  // Stopped: a kept table blocked the ring.
    if ((*message)->missed != 0) return 33;
    ++received;
    std::shared_ptr<arrow::Table> table = (*message)->table;
    const int64_t index = testing::StreamTableIndex(*table);
    if (!testing::TablesEqual(*table, *testing::MakeStreamTable(index, false))) return 34;
    ++verified;
    if (how == "per-tag") {
      if (index % 50 < 5) {
        std::erase_if(kept, [&](const Kept& k) { return k.index % 5 == index % 5; });
        kept.push_back({table, index, expected});
      }
    } else if (how == "first-200") {
      if (index < 200 && index % 10 == 0) kept.push_back({table, index, expected});
    } else {
      random ^= random << 13, random ^= random >> 7, random ^= random << 17;
      if (random % 3 == 0) kept.push_back({table, index, received + static_cast<int64_t>(random % 97)});
    }
    for (auto it = kept.begin(); it != kept.end();) {
      if (it->until > received) {
        ++it;
        continue;
      }
      if (!intact(*it)) return 35;  // Overwritten while kept.
      it = kept.erase(it);
    }
    most_kept = std::max(most_kept, static_cast<int64_t>(kept.size()));
  }
  for (const Kept& k : kept) {
    if (!intact(k)) return 35;
  }
  report.Send(name + " " + std::to_string(received) + " " + std::to_string(verified) + " " + std::to_string(most_kept));
  return 0;
}

TEST_F(PubSubProcesses, SubscribersKeepingTablesPerTagForeverAndAtRandomNeverStopTheProducer) {
  constexpr int64_t kTables = 1500;
  Ring ring = CreateRing(64 * kMiB, Policy::kBlock);
  Pipe ready, report;
  std::vector<pid_t> keepers;
  for (const char* how : {"per-tag", "first-200", "random"}) {
    keepers.push_back(Spawn([&, how] { return KeepingSubscriberProcess(name_, how, how, kTables, ready, report); }));
  }
  for (size_t i = 0; i < keepers.size(); ++i) ASSERT_EQ(ready.Receive(), "ready");
  const pid_t producer = Spawn([&] { return ProducerProcess(name_, 0, kTables, false); });
  EXPECT_EQ(Reap(producer), 0) << "21: a publish timed out behind a kept table";
  for (pid_t keeper : keepers) ASSERT_EQ(Reap(keeper), 0) << "30-35: see KeepingSubscriberProcess";
  for (size_t i = 0; i < keepers.size(); ++i) {
    std::istringstream line(report.Receive());
    std::string who;
    int64_t received = 0, verified = 0, most_kept = 0;
    line >> who >> received >> verified >> most_kept;
    EXPECT_EQ(received, kTables) << who;
    EXPECT_EQ(verified, kTables) << who;
    EXPECT_GT(most_kept, 0) << who;
  }
  const RingStats stats = ring.Stats();
  EXPECT_GT(stats.messages_kept_total, 0u) << "kept tables left the window while the producer went on";
  EXPECT_EQ(stats.messages_dropped, 0u);
  EXPECT_EQ(stats.kept_messages, 0u) << "the keepers exited: nothing is kept any more";
  auto whole = ring.TryAllocate(ring.capacity());
  EXPECT_TRUE(whole.ok() && whole->has_value()) << "every byte came back";
}

TEST_F(PubSubProcesses, KeepersKilledHoldingKeptTablesGiveTheirBytesBack) {
  Ring ring = CreateRing(16 * kMiB, Policy::kBlock);
  Pipe ready;
  const pid_t victim = Spawn([&] {
    auto attached = Ring::Attach(name_);
    auto subscriber = Subscriber::Make(*attached, "victim");
    ready.Send("ready");
    std::vector<std::shared_ptr<arrow::Table>> kept;
    for (int i = 0; i < 6; ++i) {  // keeps every table it gets
      auto message = subscriber->Next(60s);
      if (!message.ok() || !message->has_value()) return 1;
      kept.push_back((*message)->table);
    }
    subscriber = arrow::Status::Cancelled("left");  // leaves the ring; the tables stay kept
    ready.Send("keeping");
    pause();
    return 0;
  });
  ASSERT_EQ(ready.Receive(), "ready");
  Publisher publisher(ring, {.timeout = 30s});
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(publisher.Publish(*testing::MakeInt64Table(250'000)).ok());  // 2 MB each
  ASSERT_EQ(ready.Receive(), "keeping");
  auto other = Subscriber::Make(ring, "other");
  ASSERT_TRUE(other.ok());
  // 12 MB kept: lap the ring so that the kept tables leave the window.
  for (int i = 0; i < 10; ++i) {
    auto published = publisher.Publish(*testing::MakeInt64Table(100'000));
    ASSERT_TRUE(published.ok()) << published.status().ToString() << "\n" << StatsJson(ring.Stats());
    ASSERT_TRUE(other->Next(10s).ok());
  }
  ASSERT_GT(ring.Stats().kept_messages, 0u);
  kill(victim, SIGKILL);
  Reap(victim);
  const RecoveryReport recovered = ring.Recover();
  EXPECT_EQ(recovered.dead_pids.size(), 1u);
  const RingStats stats = ring.Stats();
  EXPECT_EQ(stats.kept_messages, 0u) << "recovery gave the dead keeper's kept tables back";
  EXPECT_EQ(stats.kept_bytes, 0u);
  // The kept bytes are reusable: a table of almost the whole ring fits once the other drains.
  while (true) {
    auto message = other->Next(0s);
    ASSERT_TRUE(message.ok());
    if (!message->has_value()) break;
  }
  EXPECT_TRUE(publisher.Publish(*testing::MakeInt64Table(1'800'000)).ok()) << "14.4 MB into 16 MiB";
}

}  // namespace
}  // namespace arrowring
