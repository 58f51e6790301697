#include "arrowring/bridge/cursor_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include <arrow/status.h>

namespace arrowring::bridge {

struct CursorFile::Page {
  uint64_t magic;
  std::atomic<uint64_t> ring_id;
  // sequence + 1; 0: nothing committed. One 8-byte aligned store: never torn.
  std::atomic<uint64_t> next;
};

namespace {
constexpr uint64_t kMagic = 0x31435242524f5241ull;  // "ARORBRC1"
constexpr size_t kPageSize = 4096;
}  // namespace

arrow::Result<CursorFile> CursorFile::Open(const std::string& path) {
  CursorFile file;
  if (path.empty()) {
    file.memory_ = std::make_unique<Page>();
    file.memory_->magic = kMagic;
    file.page_ = file.memory_.get();
    return file;
  }
  int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return arrow::Status::IOError("cannot open cursor file ", path, ": ", std::strerror(errno));
  if (::ftruncate(fd, kPageSize) != 0) {
    int err = errno;
    ::close(fd);
    return arrow::Status::IOError("cannot size cursor file ", path, ": ", std::strerror(err));
  }
  void* memory = ::mmap(nullptr, kPageSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  ::close(fd);
  if (memory == MAP_FAILED) return arrow::Status::IOError("cannot map cursor file ", path);
  file.page_ = static_cast<Page*>(memory);
  if (file.page_->magic != kMagic) {
    file.page_->ring_id.store(0);
    file.page_->next.store(0);
    file.page_->magic = kMagic;
  }
  return file;
}

CursorFile::CursorFile(CursorFile&& other) noexcept
    : page_(std::exchange(other.page_, nullptr)), memory_(std::move(other.memory_)) {}

CursorFile& CursorFile::operator=(CursorFile&& other) noexcept {
  if (this != &other) {
    this->~CursorFile();
    page_ = std::exchange(other.page_, nullptr);
    memory_ = std::move(other.memory_);
  }
  return *this;
}

CursorFile::~CursorFile() {
  if (page_ && !memory_) ::munmap(page_, kPageSize);
  page_ = nullptr;
}

std::optional<CursorFile::Position> CursorFile::Load() const {
  uint64_t next = page_->next.load();
  if (next == 0) return std::nullopt;
  return Position{page_->ring_id.load(), next - 1};
}

void CursorFile::Store(uint64_t ring_id, uint64_t sequence) {
  if (page_->ring_id.load() != ring_id) {
    // A different source ring: never pair its id with the old ring's sequence.
    page_->next.store(0);
    page_->ring_id.store(ring_id);
  }
  page_->next.store(sequence + 1);
}

}  // namespace arrowring::bridge
