// Named segments: names, permissions, reservation, and attaching to crafted bad files.
#include "arrowring/ring/internal/segment.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "arrowring/ring/layout.h"
#include "arrowring/ring/ring.h"

namespace arrowring {
namespace {

using ::testing::HasSubstr;

std::string UniqueName() {
  static std::atomic<int> counter{0};
  return "test-segment-" + std::to_string(getpid()) + "-" + std::to_string(counter++);
}

// Creates a ring name and removes whatever is left under it when the test ends. A test that
// makes more segments names them `name_-...` and removes them itself (guards, however it
// ends): one still in /dev/shm when the test ends fails it.
class Segment : public ::testing::Test {
 protected:
  void TearDown() override {
    (void)MappedSegment::Unlink(name_);
    const std::string own = SegmentName(name_).substr(1) + "-";  // the file name, without '/'
    for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
      const std::string file = entry.path().filename().string();
      if (file.rfind(own, 0) == 0) {
        ADD_FAILURE() << "left behind: " << entry.path();
        (void)::unlink(entry.path().c_str());  // reported; not left for the next run
      }
    }
  }
  void WriteRawSegment(const std::vector<uint8_t>& bytes) {
    const int fd = shm_open(SegmentName(name_).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    close(fd);
  }
  std::string name_ = UniqueName();
};

TEST(RingName, AcceptsEveryNameSharedMemoryAcceptsButSlashAndControlCharacters) {
  EXPECT_TRUE(ValidateRingName("daq.events_v2-A").ok());
  EXPECT_TRUE(ValidateRingName(std::string(200, 'x')).ok());
  // The seed framework names its ring "ring_" + base64(md5(id)): '=' always, '+' often.
  EXPECT_TRUE(ValidateRingName("ring_q1+Zr8K0xW2vY3b4c5d6eA==").ok());
  EXPECT_TRUE(ValidateRingName("sp ace, (parens) #1 ~!@$%^&*[]{}|;:'\"<>?,`").ok());
  EXPECT_TRUE(ValidateRingName("\xc3\xbcmlaut").ok());  // UTF-8
  for (std::string bad : {std::string(), std::string(201, 'x'), std::string("a/b"), std::string(".."), std::string("."),
                          std::string("new\nline"), std::string("del\x7f")}) {
    auto status = ValidateRingName(bad);
    ASSERT_FALSE(status.ok()) << bad;
    EXPECT_EQ(status.error().code, Errc::kInvalidArgument);
  }
  EXPECT_THAT(ValidateRingName("a/b").error().message, HasSubstr("contains '/'"));
  EXPECT_THAT(ValidateRingName("new\nline").error().message, HasSubstr("contains '\\x0a'"));
  EXPECT_EQ(Ring::Create("../etc", 4096).error().code, Errc::kInvalidArgument);
  EXPECT_EQ(Ring::Attach("").error().code, Errc::kInvalidArgument);
}

TEST_F(Segment, NamesWithBase64CharactersCreateAttachListAndUnlink) {
  const std::string name = name_ + "+/=";
  const std::string usable = name_ + "+x=";
  ASSERT_FALSE(Ring::Create(name, 4096).ok());
  auto ring = Ring::Create(usable, 4096);
  ASSERT_TRUE(ring.ok()) << ring.error().ToString();
  EXPECT_EQ(ring->name(), usable);
  auto attached = Ring::Attach(usable);
  ASSERT_TRUE(attached.ok()) << attached.error().ToString();
  EXPECT_EQ(attached->ring_id(), ring->ring_id());
  const auto names = MappedSegment::List();
  EXPECT_NE(std::find(names.begin(), names.end(), usable), names.end());
  EXPECT_TRUE(Ring::Unlink(usable).ok());
}

TEST_F(Segment, FindNamesTheRingWithAnIdWithoutAttachingToAny) {
  const std::string other = name_ + "-other";
  auto ring = Ring::Create(name_, 4096);
  auto bystander = Ring::Create(other, 4096);
  ASSERT_TRUE(ring.ok() && bystander.ok());
  auto found = Ring::Find(ring->ring_id());
  ASSERT_TRUE(found.ok()) << found.error().ToString();
  EXPECT_EQ(*found, name_);
  EXPECT_EQ(bystander->Stats().holders.size(), 1u) << "only its creator is attached";
  auto missing = Ring::Find(ring->ring_id() ^ 1);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, Errc::kNotFound);
  EXPECT_THAT(missing.error().message, ::testing::HasSubstr("arrowring ls"));
  EXPECT_TRUE(Ring::Unlink(other).ok());
}

TEST_F(Segment, ProcessesCreatingOneRingAtOnceNeverSeeItHalfMade) {
  constexpr int kProcesses = 6;
  std::vector<pid_t> children;
  for (int i = 0; i < kProcesses; ++i) {
    const pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      alarm(30);  // Watchdog.
      // Create, or attach when another got there first: never "not an arrowring ring".
      auto created = Ring::Create(name_, 64 << 20);  // Large: formatting takes a while.
      if (created.ok()) _exit(0);
      if (created.error().code != Errc::kAlreadyExists) _exit(2);
      auto attached = Ring::Attach(name_);
      _exit(attached.ok() ? 0 : 3);
    }
    children.push_back(child);
  }
  for (pid_t child : children) {
    int status = 0;
    ASSERT_EQ(waitpid(child, &status, 0), child);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status;
  }
  const auto names = MappedSegment::List();
  EXPECT_EQ(std::count(names.begin(), names.end(), name_), 1);
  // Only this test's children's half-made segments: other processes on the machine (another
  // test run sharing /dev/shm) may be creating rings at this very moment.
  for (const auto& entry : std::filesystem::directory_iterator("/dev/shm")) {
    const std::string file = entry.path().filename().string();
    for (pid_t child : children) {
      EXPECT_NE(file.rfind(".arrowring-creating-" + std::to_string(child) + "-", 0), 0u)
          << "left behind: " << entry.path();
    }
  }
}

TEST_F(Segment, CreateAttachUnlink) {
  auto ring = Ring::Create(name_, 64 * 1024);
  ASSERT_TRUE(ring.ok()) << ring.error().ToString();
  EXPECT_EQ(ring->name(), name_);
  auto again = Ring::Create(name_, 64 * 1024);
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.error().code, Errc::kAlreadyExists);

  auto attached = Ring::Attach(name_);
  ASSERT_TRUE(attached.ok()) << attached.error().ToString();
  EXPECT_EQ(attached->ring_id(), ring->ring_id());
  // A message written through one attachment is read through the other.
  auto slot = ring->TryAllocate(5);
  ASSERT_TRUE(slot.ok() && slot->has_value());
  std::memcpy((*slot)->data().data(), "hello", 5);
  auto handle = (*slot)->Commit(5);
  ASSERT_TRUE(handle.ok());
  auto read = attached->Acquire(*handle);
  ASSERT_TRUE(read.ok());
  EXPECT_EQ(std::memcmp(read->data().data(), "hello", 5), 0);
  EXPECT_EQ(ring->Stats().holders.size(), 2u);

  const auto listed = MappedSegment::List();
  EXPECT_NE(std::find(listed.begin(), listed.end(), name_), listed.end());
  ASSERT_TRUE(Ring::Unlink(name_).ok());
  EXPECT_EQ(Ring::Attach(name_).error().code, Errc::kNotFound);
  EXPECT_EQ(Ring::Unlink(name_).error().code, Errc::kNotFound);
}

TEST_F(Segment, ModeIsExactlyWhatWasAskedFor) {
  const mode_t old_umask = umask(0077);
  ASSERT_TRUE(Ring::Create(name_, 4096, {.mode = 0660}).ok());
  umask(old_umask);
  struct stat info;
  ASSERT_EQ(stat(("/dev/shm" + SegmentName(name_)).c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0660u);
  EXPECT_EQ(Ring::Create(name_ + "x", 4096, {.mode = 0666}).error().code, Errc::kInvalidArgument);
}

TEST_F(Segment, AnotherUserCannotAttachAPrivateRing) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root to become another user";
  ASSERT_TRUE(Ring::Create(name_, 4096).ok());
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    alarm(30);
    if (setgid(65534) != 0 || setuid(65534) != 0) _exit(3);
    auto ring = Ring::Attach(name_);
    _exit(!ring.ok() && ring.error().code == Errc::kPermissionDenied ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 0) << "1: attached or other error; 3: could not switch user";
}

TEST_F(Segment, FullSharedMemoryIsAnErrorAtCreateAndLeavesNothing) {
  auto ring = Ring::Create(name_, uint64_t{8} << 40);  // 8 TiB: more than /dev/shm holds.
  ASSERT_FALSE(ring.ok());
  EXPECT_EQ(ring.error().code, Errc::kNoSpace) << ring.error().ToString();
  EXPECT_THAT(ring.error().message, HasSubstr("--shm-size"));
  EXPECT_EQ(Ring::Attach(name_).error().code, Errc::kNotFound);
}

TEST_F(Segment, TruncatedFileIsRefusedBeforeMapping) {
  WriteRawSegment(std::vector<uint8_t>(100, 0xEE));
  auto ring = Ring::Attach(name_);
  ASSERT_FALSE(ring.ok());
  EXPECT_EQ(ring.error().code, Errc::kIncompatible);
  EXPECT_THAT(ring.error().message, HasSubstr("100 bytes"));
}

TEST_F(Segment, GarbageFileIsRefusedWithWhatWasFound) {
  std::vector<uint8_t> garbage(64 * 1024);
  for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<uint8_t>(i * 131 + 7);
  WriteRawSegment(garbage);
  auto ring = Ring::Attach(name_);
  ASSERT_FALSE(ring.ok());
  EXPECT_THAT(ring.error().message, HasSubstr("not an arrowring ring: magic"));
}

TEST_F(Segment, HeaderDescribingMoreThanTheFileIsRefused) {
  // A real header, but the file cut short: attach must not touch memory past the end.
  const uint64_t bytes = *Ring::RequiredBytes(64 * 1024);
  std::vector<uint8_t> image(bytes);
  std::shared_ptr<void> keep(nullptr, [](void*) {});
  std::vector<std::byte> aligned(bytes + 64);
  auto* base = reinterpret_cast<std::byte*>((reinterpret_cast<uintptr_t>(aligned.data()) + 63) & ~uintptr_t{63});
  { ASSERT_TRUE(Ring::Format(std::span(base, bytes), 64 * 1024).ok()); }
  std::memcpy(image.data(), base, bytes);
  image.resize(bytes / 2);
  WriteRawSegment(image);
  auto ring = Ring::Attach(name_);
  ASSERT_FALSE(ring.ok());
  EXPECT_EQ(ring.error().code, Errc::kIncompatible);
  EXPECT_THAT(ring.error().message, HasSubstr("truncated"));
}

TEST_F(Segment, RandomHeadersNeverCrashTheAttacher) {
  // Mutate one header field at a time of a valid ring: each attach fails cleanly or succeeds.
  const uint64_t bytes = *Ring::RequiredBytes(16 * 1024);
  std::vector<std::byte> aligned(bytes + 64);
  auto* base = reinterpret_cast<std::byte*>((reinterpret_cast<uintptr_t>(aligned.data()) + 63) & ~uintptr_t{63});
  { ASSERT_TRUE(Ring::Format(std::span(base, bytes), 16 * 1024).ok()); }
  std::vector<uint8_t> valid(reinterpret_cast<uint8_t*>(base), reinterpret_cast<uint8_t*>(base) + bytes);
  uint64_t state = 0x9E3779B97F4A7C15ull;
  for (int round = 0; round < 64; ++round) {
    std::vector<uint8_t> image = valid;
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    const size_t offset = (state % (offsetof(layout::RingHeader, name) / 4)) * 4;
    const uint32_t value = static_cast<uint32_t>(state >> 32);
    std::memcpy(image.data() + offset, &value, 4);
    const std::string name = name_ + "-" + std::to_string(round);
    // Removed however this round ends (an ASSERT returns early): nothing left in /dev/shm.
    struct UnlinkWhenDone {
      std::string name;
      ~UnlinkWhenDone() { (void)MappedSegment::Unlink(name); }
    } unlink{name};
    const int fd = shm_open(SegmentName(name).c_str(), O_RDWR | O_CREAT | O_EXCL, 0600);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(write(fd, image.data(), image.size()), static_cast<ssize_t>(image.size()));
    close(fd);
    auto ring = Ring::Attach(name);
    if (!ring.ok()) {
      EXPECT_FALSE(ring.error().message.empty());
    }
  }
}

// Minor page faults this process takes while writing every byte of the ring's data.
long FaultsWritingTheData(Ring& ring) {
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  auto slot = ring.TryAllocate(ring.capacity());
  EXPECT_TRUE(slot.ok() && slot->has_value());
  std::memset((**slot).data().data(), 0x5A, (**slot).data().size());
  getrusage(RUSAGE_SELF, &after);
  return after.ru_minflt - before.ru_minflt;
}

TEST_F(Segment, APrefaultingRingTakesNoPageFaultsOnItsFirstLapInTheCreatorOrAnAttacher) {
  constexpr uint64_t kCapacity = 16 << 20;  // 4096 pages of 4 KiB
  const long pages = static_cast<long>(kCapacity / 4096);
  long plain_faults = 0;
  {
    auto plain = Ring::Create(name_, kCapacity);
    ASSERT_TRUE(plain.ok()) << plain.error().ToString();
    EXPECT_FALSE(plain->Stats().prefault);
    plain_faults = FaultsWritingTheData(*plain);
    EXPECT_GT(plain_faults, pages / 2) << "without prefaulting, the first lap faults its pages in";
    ASSERT_TRUE(Ring::Unlink(name_).ok());
  }
  // Against the plain ring's count, not zero: a sanitizer's shadow memory of the mapping faults
  // in on a first write either way (512 pages under ASan here).
  auto created = Ring::Create(name_, kCapacity, {.prefault = true});
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  EXPECT_TRUE(created->Stats().prefault);
  EXPECT_LT(FaultsWritingTheData(*created), plain_faults / 4) << "the creator's mapping is in already";
  auto attached = Ring::Attach(name_);  // a second mapping, as another process gets
  ASSERT_TRUE(attached.ok()) << attached.error().ToString();
  EXPECT_LT(FaultsWritingTheData(*attached), plain_faults / 4) << "an attacher maps the ring in when it attaches";
}

}  // namespace
}  // namespace arrowring
