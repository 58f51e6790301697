#include "arrowring/ring/internal/segment.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>  // renameat2
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include "arrowring/ring/layout.h"

namespace arrowring {
namespace {

constexpr std::string_view kPrefix = "arrowring.";

std::string ErrnoText(int error) { return std::strerror(error); }

Error OpenError(std::string_view name, int error, std::string_view verb) {
  switch (error) {
    case ENOENT:
      return {Errc::kNotFound, "no ring named '" + std::string(name) + "' (no /dev/shm" + SegmentName(name) +
                                   "); create it first, or check the name with `arrowring ls`"};
    case EEXIST:
      return {Errc::kAlreadyExists,
              "a ring named '" + std::string(name) + "' already exists; attach to it, or remove it first"};
    case EACCES:
    case EPERM:
      return {Errc::kPermissionDenied,
              "permission denied to " + std::string(verb) + " ring '" + std::string(name) +
                  "': it belongs to another user (rings are 0600 unless created with mode 0660)"};
    case ENOSPC:
    case ENOMEM:
    case EFBIG:
      return {Errc::kNoSpace, "not enough shared memory to " + std::string(verb) + " ring '" + std::string(name) +
                                  "': " + ErrnoText(error) + " (check `df -h /dev/shm`; containers need --shm-size)"};
    default:
      return {Errc::kSystem, "cannot " + std::string(verb) + " ring '" + std::string(name) + "': " + ErrnoText(error)};
  }
}

}  // namespace

Status ValidateRingName(std::string_view name) {
  if (name.empty() || name.size() > layout::kMaxNameLength) {
    return Error{Errc::kInvalidArgument, "a ring name has 1 to 200 bytes, got " + std::to_string(name.size())};
  }
  if (name == "." || name == "..") {
    return Error{Errc::kInvalidArgument, "'" + std::string(name) + "' is not a valid ring name"};
  }
  // The name becomes a file name in /dev/shm: every byte but '/' (a directory separator,
  // which shm_open refuses, as Python's shared_memory does) would work there. Control
  // characters are refused too: they work, but make names that no terminal shows faithfully.
  for (const char c : name) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '/' || byte < 0x20 || byte == 0x7F) {
      char shown[8];
      if (c == '/') {
        std::snprintf(shown, sizeof shown, "/");
      } else {
        std::snprintf(shown, sizeof shown, "\\x%02x", byte);
      }
      return Error{Errc::kInvalidArgument, "ring name '" + std::string(name.substr(0, 60)) + "' contains '" + shown +
                                               "'; a ring name may hold any character but '/' and control characters"};
    }
  }
  return Ok();
}

std::string SegmentName(std::string_view name) { return "/" + std::string(kPrefix) + std::string(name); }

Result<std::shared_ptr<MappedSegment>> MappedSegment::Create(std::string_view name, uint64_t bytes, uint32_t mode) {
  if (auto valid = ValidateRingName(name); !valid) return valid.error();
  if (mode != 0600 && mode != 0660) {
    return Error{Errc::kInvalidArgument, "ring mode must be 0600 or 0660"};
  }
  // Taken already: say so before reserving (maybe gigabytes of) memory. Publish decides races.
  if (::access(("/dev/shm" + SegmentName(name)).c_str(), F_OK) == 0) return OpenError(name, EEXIST, "create");
  static std::atomic<uint64_t> counter{0};
  const std::string hidden = "/.arrowring-creating-" + std::to_string(::getpid()) + "-" +
                             std::to_string(counter.fetch_add(1, std::memory_order_relaxed));
  const int fd = ::shm_open(hidden.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return OpenError(name, errno, "create");
  auto fail = [&](int error) {
    ::close(fd);
    ::shm_unlink(hidden.c_str());
    return OpenError(name, error, "create");
  };
  // shm_open applies the umask; set exactly the mode asked for.
  if (::fchmod(fd, mode) != 0) return fail(errno);
  if (::ftruncate(fd, static_cast<off_t>(bytes)) != 0) return fail(errno);
  // Reserve every page now: on tmpfs a write to a page that cannot be allocated is SIGBUS.
  if (const int error = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes)); error != 0) {
    return fail(error);
  }
  void* address = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (address == MAP_FAILED) return fail(errno);
  ::close(fd);
  return std::shared_ptr<MappedSegment>(new MappedSegment(address, bytes, hidden));
}

Status MappedSegment::Prefault() const {
  if (::madvise(address_, size_, MADV_POPULATE_WRITE) == 0) return Ok();
  if (errno != EINVAL) {
    return Error{Errc::kSystem, std::string("could not map the ring's pages in (madvise MADV_POPULATE_WRITE: ") +
                                    std::strerror(errno) + "); create it without prefaulting"};
  }
  // Before Linux 5.14: a read of each page maps it (shared tmpfs pages map writable).
  const auto* bytes = static_cast<const volatile std::byte*>(address_);
  const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  for (uint64_t offset = 0; offset < size_; offset += page) (void)bytes[offset];
  return Ok();
}

Status MappedSegment::Publish(std::string_view name) {
  if (pending_.empty())
    return Error{Errc::kBadState, "segment of ring '" + std::string(name) + "' was published already"};
  const std::string from = "/dev/shm" + pending_, to = "/dev/shm" + SegmentName(name);
  // RENAME_NOREPLACE: the create-if-absent of O_EXCL, now that the ring is complete.
  if (::renameat2(AT_FDCWD, from.c_str(), AT_FDCWD, to.c_str(), RENAME_NOREPLACE) != 0) {
    return OpenError(name, errno, "create");
  }
  pending_.clear();
  return Ok();
}

Result<std::shared_ptr<MappedSegment>> MappedSegment::Open(std::string_view name, uint64_t min_bytes) {
  if (auto valid = ValidateRingName(name); !valid) return valid.error();
  const std::string segment = SegmentName(name);
  const int fd = ::shm_open(segment.c_str(), O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) return OpenError(name, errno, "attach to");
  struct stat info;
  if (::fstat(fd, &info) != 0) {
    const int error = errno;
    ::close(fd);
    return OpenError(name, error, "attach to");
  }
  const auto size = static_cast<uint64_t>(info.st_size);
  if (size < min_bytes) {
    ::close(fd);
    return Error{Errc::kIncompatible, "/dev/shm" + segment + " is " + std::to_string(size) +
                                          " bytes, smaller than an arrowring header (" + std::to_string(min_bytes) +
                                          " bytes): not an arrowring ring, or a truncated one"};
  }
  void* address = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  const int error = errno;
  ::close(fd);
  if (address == MAP_FAILED) return OpenError(name, error, "map");
  return std::shared_ptr<MappedSegment>(new MappedSegment(address, size));
}

Status MappedSegment::Unlink(std::string_view name) {
  if (auto valid = ValidateRingName(name); !valid) return valid.error();
  if (::shm_unlink(SegmentName(name).c_str()) != 0) return OpenError(name, errno, "remove");
  return Ok();
}

std::vector<std::string> MappedSegment::List() {
  std::vector<std::string> names;
  DIR* dir = ::opendir("/dev/shm");
  if (dir == nullptr) return names;
  while (const dirent* entry = ::readdir(dir)) {
    const std::string_view file = entry->d_name;
    if (file.substr(0, kPrefix.size()) == kPrefix) names.emplace_back(file.substr(kPrefix.size()));
  }
  ::closedir(dir);
  std::sort(names.begin(), names.end());
  return names;
}

Result<std::vector<std::byte>> MappedSegment::ReadPrefix(std::string_view name, uint64_t bytes) {
  if (auto valid = ValidateRingName(name); !valid) return valid.error();
  const int fd = ::shm_open(SegmentName(name).c_str(), O_RDONLY | O_CLOEXEC, 0);
  if (fd < 0) return OpenError(name, errno, "read");
  std::vector<std::byte> prefix(bytes);
  uint64_t got = 0;
  while (got < bytes) {
    const ssize_t n = ::pread(fd, prefix.data() + got, bytes - got, static_cast<off_t>(got));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int error = errno;
      ::close(fd);
      return OpenError(name, error, "read");
    }
    if (n == 0) break;
    got += static_cast<uint64_t>(n);
  }
  ::close(fd);
  prefix.resize(got);
  return prefix;
}

MappedSegment::~MappedSegment() {
  if (!pending_.empty()) ::shm_unlink(pending_.c_str());  // Created, never published.
  ::munmap(address_, size_);
}

}  // namespace arrowring
