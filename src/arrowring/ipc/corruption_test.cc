// Shared memory is untrusted: every shared word of a live ring, overwritten with hostile values
// (a stray write by any process with access), gives readers only tables or arrowring errors —
// never a crash, a hang or a foreign (Arrow) error. Each case runs in a child process with a
// watchdog, so a crash is reported as that case instead of ending the suite.
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include <arrow/api.h>
#include <gtest/gtest.h>

#include "arrowring/ipc/pubsub.h"
#include "arrowring/ring/layout.h"

namespace arrowring {
namespace {

using namespace std::chrono_literals;

constexpr uint64_t kCapacity = 64 * 1024;
constexpr uint32_t kMessages = 8;
constexpr int kPublished = 3;

enum Outcome : int { kOnlyOursOrTables = 0, kForeignError = 10, kSetupFailed = 11 };

std::shared_ptr<arrow::Table> SmallTable(int64_t value) {
  arrow::Int64Builder builder;
  for (int64_t i = 0; i < 100; ++i) (void)builder.Append(value + i);
  return arrow::Table::Make(arrow::schema({arrow::field("x", arrow::int64())}), {*builder.Finish()});
}

// A reader's view of one result: a value, or an error that arrowring made (it carries an Errc).
template <typename T>
bool OursOrValue(const arrow::Result<T>& result) {
  return result.ok() || ErrcOf(result.status()).has_value();
}

// The ring the case corrupts, with `layout` offsets of the words worth corrupting.
struct LiveRing {
  std::shared_ptr<void> memory;
  std::span<std::byte> bytes;
};

LiveRing NewMemory() {
  const RingOptions options{.max_messages = kMessages};
  const uint64_t size = *Ring::RequiredBytes(kCapacity, options);
  std::shared_ptr<void> memory(std::aligned_alloc(64, size), std::free);
  std::memset(memory.get(), 0, size);
  return {memory, std::span(static_cast<std::byte*>(memory.get()), size)};
}

// In the child: make a ring with a subscriber and three published tables, scribble `value` over
// the 8 bytes at `offset`, then read every way a reader can.
int RunCase(uint64_t offset, uint64_t value) {
  LiveRing live = NewMemory();
  auto ring = Ring::Format(live.bytes, kCapacity, {.max_messages = kMessages}, "corrupt", live.memory);
  if (!ring.ok()) return kSetupFailed;
  auto subscriber = Subscriber::Make(*ring, "reader");
  if (!subscriber.ok()) return kSetupFailed;
  Publisher publisher(*ring, {.deliveries = 1});
  std::vector<Handle> handles;
  for (int i = 0; i < kPublished; ++i) {
    auto handle = publisher.Publish(*SmallTable(i * 1000));
    if (!handle.ok()) return kSetupFailed;
    handles.push_back(*handle);
  }

  // A table the reader keeps, moved out of the window into the kept table by the messages after
  // it (the window holds 8): its entry is shared state too.
  auto first = subscriber->Next(0ms);
  if (!first.ok() || !first->has_value()) return kSetupFailed;
  std::shared_ptr<arrow::Table> kept = (*first)->table;
  if (!Load(*ring, handles[0]).ok()) return kSetupFailed;  // its handle delivery, done
  Publisher more(*ring, {.timeout = 0ms});
  for (int i = 0; i < 6; ++i) {
    if (!more.Publish(*SmallTable(-i)).ok()) return kSetupFailed;
  }
  if (ring->Stats().kept_messages != 1) return kSetupFailed;
  std::memcpy(live.bytes.data() + offset, &value, sizeof value);

  for (int i = 0; i < kPublished + 1; ++i) {
    auto message = subscriber->Next(0ms);
    if (!OursOrValue(message)) return kForeignError;
    if (message.ok() && message->has_value() && (*message)->table->num_rows() < 0) return kForeignError;
  }
  for (const Handle& handle : handles) {
    if (!OursOrValue(Load(*ring, handle))) return kForeignError;
    (void)ring->HandleOf(handle.sequence);
  }
  (void)ring->Stats();
  if (!OursOrValue(more.TryPublish(*SmallTable(7)))) return kForeignError;  // places around kept bytes
  kept.reset();  // releases through the (scribbled) kept entry
  (void)ring->Stats();
  auto reopened = Ring::Open(live.bytes, live.memory);  // Another process attaching now.
  if (reopened.ok()) {
    (void)reopened->Stats();
    auto late = Subscriber::Make(*reopened, "late");
    if (!OursOrValue(late)) return kForeignError;
  }
  return kOnlyOursOrTables;
}

struct Region {
  const char* what;
  uint64_t begin, end;  // byte offsets into the segment
};

// Every word a reader may look at (the first kept entry holds a table a reader keeps), the
// allocator's process-shared mutex included (a joining
// subscriber locks it: a scribbled type or owner must be kCorrupt, not glibc's abort or a wait
// forever).
std::vector<Region> Regions() {
  LiveRing live = NewMemory();
  auto ring = Ring::Format(live.bytes, kCapacity, {.max_messages = kMessages}, "layout", live.memory);
  const auto* header = reinterpret_cast<const layout::RingHeader*>(live.bytes.data());
  const uint64_t data = header->data_offset;
  return {
      {"header", 0, sizeof(layout::RingHeader)},
      {"attachment 0", layout::AttachmentsOffset(), layout::AttachmentsOffset() + sizeof(layout::Attachment)},
      {"subscriber 0", layout::SubscribersOffset(), layout::SubscribersOffset() + sizeof(layout::Subscriber)},
      {"descriptors", layout::DescriptorsOffset(),
       layout::DescriptorsOffset() + kMessages * sizeof(layout::MessageDescriptor)},
      {"kept table", header->kept_offset, header->kept_offset + 2 * sizeof(layout::KeptMessage)},
      {"first message's bytes", data, data + 256},
  };
}

constexpr uint64_t kHostileValues[] = {
    0,
    1,
    63,
    64,
    4096,
    kCapacity,
    kCapacity + 64,
    0x7fffffffffffffffULL,
    0x8000000000000000ULL,
    ~0ULL,
    0xdeadbeefdeadbeefULL,
};

TEST(SharedMemoryCorruption, EveryWordWithHostileValuesGivesReadersOnlyTablesOrArrowringErrors) {
  std::vector<std::string> failures;
  int cases = 0;
  for (const Region& region : Regions()) {
    for (uint64_t offset = region.begin; offset + 8 <= region.end; offset += 8) {
      for (uint64_t value : kHostileValues) {
        ++cases;
        const pid_t child = fork();
        ASSERT_GE(child, 0);
        if (child == 0) {
          alarm(20);  // The watchdog: a hang is a failure too.
          _exit(RunCase(offset, value));
        }
        int status = 0;
        ASSERT_EQ(waitpid(child, &status, 0), child);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != kOnlyOursOrTables) {
          char line[200];
          std::snprintf(line, sizeof line, "%s, offset %llu := 0x%llx: %s %d", region.what,
                        static_cast<unsigned long long>(offset), static_cast<unsigned long long>(value),
                        WIFEXITED(status) ? "exit" : "signal",
                        WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
          failures.push_back(line);
        }
      }
    }
  }
  EXPECT_GT(cases, 1000);
  for (const std::string& failure : failures) ADD_FAILURE() << failure;
}

}  // namespace
}  // namespace arrowring
