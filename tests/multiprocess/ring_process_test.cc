// The ring across real processes: handles passed through a pipe, writers and readers
// killed with SIGKILL mid-flight, recovery without a daemon.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "processes.h"

#include "arrowring/ring/internal/segment.h"
#include "arrowring/ring/layout.h"
#include "arrowring/ring/ring.h"

namespace arrowring {
namespace {

using namespace std::chrono_literals;
constexpr uint64_t kCapacity = 1 << 20;

using testing::KillAndReap;
using testing::Pipe;
using testing::Reap;
using testing::Spawn;

class RingProcesses : public ::testing::Test {
 protected:
  void SetUp() override {
    alarm(120);  // Watchdog for the parent.
    static int counter = 0;
    name_ = "test-process-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
    auto ring = Ring::Create(name_, kCapacity, {.policy = Policy::kBlock});
    ASSERT_TRUE(ring.ok()) << ring.error().ToString();
    ring_.emplace(std::move(*ring));
  }
  void TearDown() override {
    ring_.reset();
    (void)Ring::Unlink(name_);
    // Each test runs in a process of its own (ctest): it checks that its own segment is gone.
    EXPECT_FALSE(std::filesystem::exists("/dev/shm" + SegmentName(name_))) << name_ << " left in /dev/shm";
    alarm(0);
  }
  bool WholeCapacityIsFree() {
    auto slot = ring_->TryAllocate(kCapacity);
    return slot.ok() && slot->has_value();
  }
  std::string name_;
  std::optional<Ring> ring_;
};

TEST_F(RingProcesses, HandlesPassedBetweenProcessesDeliverIntactBytes) {
  Pipe pipe;
  constexpr int kMessages = 2000;
  const pid_t writer = Spawn([&] {
    auto ring = Ring::Attach(name_);
    if (!ring) _exit(2);
    for (int i = 0; i < kMessages; ++i) {
      const uint64_t size = 1 + static_cast<uint64_t>(i * 7919) % 100'000;
      auto slot = ring->Allocate(size, 30s);
      if (!slot || !slot->has_value()) _exit(3);
      auto bytes = (*slot)->data();
      for (uint64_t b = 0; b < size; ++b) bytes[b] = static_cast<std::byte>(i + b);
      auto handle = (*slot)->Commit(size);
      if (!handle) _exit(4);
      pipe.Send(handle->ToString());
    }
  });
  for (int i = 0; i < kMessages; ++i) {
    auto handle = Handle::Parse(pipe.Receive());
    ASSERT_TRUE(handle.ok());
    auto read = ring_->Acquire(*handle);
    ASSERT_TRUE(read.ok()) << read.error().ToString();
    const uint64_t size = 1 + static_cast<uint64_t>(i * 7919) % 100'000;
    ASSERT_EQ(read->data().size(), size);
    for (uint64_t b = 0; b < size; ++b) ASSERT_EQ(read->data()[b], static_cast<std::byte>(i + b));
  }
  EXPECT_EQ(Reap(writer), 0);
  EXPECT_TRUE(WholeCapacityIsFree());
}

TEST_F(RingProcesses, WriterKilledMidWriteIsRecoveredAndItsMessageNeverSeen) {
  Pipe pipe;
  const pid_t writer = Spawn([&] {
    auto ring = Ring::Attach(name_);
    auto slot = ring->TryAllocate(kCapacity / 2);
    std::memset((*slot)->data().data(), 0x77, kCapacity / 4);  // Half written...
    pipe.Send(std::to_string((*slot)->sequence()));
    pause();  // ...and killed here.
  });
  const uint64_t seq = std::stoull(pipe.Receive());
  EXPECT_FALSE(ring_->HandleOf(seq).has_value());
  EXPECT_FALSE(WholeCapacityIsFree());
  KillAndReap(writer);

  RecoveryReport report = ring_->Recover();
  ASSERT_EQ(report.dead_pids.size(), 1u);
  EXPECT_EQ(report.dead_pids[0], static_cast<uint64_t>(writer));
  EXPECT_EQ(report.aborted_writes, 1u);
  EXPECT_FALSE(ring_->HandleOf(seq).has_value());
  EXPECT_EQ(ring_->Stats().messages_aborted, 1u);
  EXPECT_EQ(ring_->Stats().holders.size(), 1u);
  EXPECT_TRUE(WholeCapacityIsFree());
}

TEST_F(RingProcesses, ReaderKilledHoldingReferencesIsRecovered) {
  std::vector<Handle> handles;
  for (int i = 0; i < 3; ++i) {
    auto slot = ring_->TryAllocate(kCapacity / 4);
    handles.push_back(*(*slot)->Commit(kCapacity / 4));
  }
  Pipe pipe;
  const pid_t reader = Spawn([&] {
    auto ring = Ring::Attach(name_);
    std::vector<ReadSlot> held;
    for (const Handle& handle : handles) held.push_back(std::move(*ring->Acquire(handle)));
    pipe.Send("holding");
    pause();
  });
  ASSERT_EQ(pipe.Receive(), "holding");
  EXPECT_FALSE(WholeCapacityIsFree());
  KillAndReap(reader);

  RecoveryReport report = ring_->Recover();
  EXPECT_EQ(report.released_references, 3u);
  EXPECT_EQ(report.reclaimed_bytes, 3 * kCapacity / 4);
  EXPECT_TRUE(WholeCapacityIsFree());
}

TEST_F(RingProcesses, BlockedAllocationRecoversFromADeadHolderByItself) {
  auto slot = ring_->TryAllocate(kCapacity);
  Handle handle = *(*slot)->Commit(kCapacity);
  Pipe pipe;
  const pid_t reader = Spawn([&] {
    auto ring = Ring::Attach(name_);
    auto held = ring->Acquire(handle);
    pipe.Send(held.ok() ? "holding" : "failed");
    pause();
  });
  ASSERT_EQ(pipe.Receive(), "holding");
  KillAndReap(reader);
  // No explicit Recover(): the allocation that would block looks for dead holders itself.
  auto whole = ring_->Allocate(kCapacity, 60s);
  ASSERT_TRUE(whole.ok());
  EXPECT_TRUE(whole->has_value());
}

// Whether process `pid` is asleep (state S in /proc/<pid>/stat): a waiter in a futex is.
bool Sleeping(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  const auto close = line.rfind(')');
  return close != std::string::npos && close + 2 < line.size() && line[close + 2] == 'S';
}

TEST_F(RingProcesses, WaiterInAnotherProcessWakesOnRelease) {
  auto slot = ring_->TryAllocate(kCapacity);
  Handle handle = *(*slot)->Commit(kCapacity, 2);
  auto held = ring_->Acquire(handle);
  // The ring's header, mapped on its own, to see the child register as a space waiter.
  auto segment = MappedSegment::Open(name_, sizeof(layout::RingHeader));
  ASSERT_TRUE(segment.ok()) << segment.error().ToString();
  const auto& header = *reinterpret_cast<const layout::RingHeader*>((*segment)->bytes().data());
  ASSERT_EQ(header.space_waiters.load(), 0u);
  const pid_t writer = Spawn([&] {
    auto ring = Ring::Attach(name_);
    auto slot = ring->Allocate(kCapacity, 60s);
    _exit(slot.ok() && slot->has_value() ? 0 : 1);
  });
  // Release only once the child is inside Allocate, registered as a waiter and asleep, so
  // the release must wake it (a child that wrote "waiting" before Allocate proved nothing).
  // The child's 120 s alarm is the watchdog should it never get there.
  while (header.space_waiters.load() == 0 || !Sleeping(writer)) {
    ASSERT_EQ(waitpid(writer, nullptr, WNOHANG), 0) << "the writer ended before it waited";
    std::this_thread::yield();
  }
  EXPECT_FALSE(WholeCapacityIsFree());
  {
    auto second = ring_->Acquire(handle);
    ASSERT_TRUE(second.ok());
  }                 // Last delivery...
  held->Release();  // ...and release.
  EXPECT_EQ(Reap(writer), 0);
}

TEST_F(RingProcesses, ManyWritersAndReadersInSeparateProcessesLoseNothing) {
  constexpr int kWriters = 3, kPerWriter = 500;
  Pipe pipe;
  std::vector<pid_t> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.push_back(Spawn([&, w] {
      auto ring = Ring::Attach(name_);
      for (int i = 0; i < kPerWriter; ++i) {
        const uint64_t size = 64 + static_cast<uint64_t>(w * 131 + i * 977) % 50'000;
        auto slot = ring->Allocate(size, 30s);
        if (!slot || !slot->has_value()) _exit(3);
        std::memset((*slot)->data().data(), w * 16 + i % 16, size);
        pipe.Send((*(*slot)->Commit(size)).ToString());
      }
    }));
  }
  for (int i = 0; i < kWriters * kPerWriter; ++i) {
    auto handle = Handle::Parse(pipe.Receive());
    ASSERT_TRUE(handle.ok());
    auto read = ring_->Acquire(*handle);
    ASSERT_TRUE(read.ok()) << read.error().ToString();
    const auto first = read->data()[0];
    for (std::byte b : read->data()) ASSERT_EQ(b, first);
  }
  for (pid_t w : writers) EXPECT_EQ(Reap(w), 0);
  RingStats stats = ring_->Stats();
  EXPECT_EQ(stats.messages_written, static_cast<uint64_t>(kWriters * kPerWriter));
  EXPECT_EQ(stats.messages_read, stats.messages_written);
  EXPECT_TRUE(WholeCapacityIsFree());
}

}  // namespace
}  // namespace arrowring
