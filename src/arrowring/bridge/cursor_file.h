// The pull bridge's record of the last source sequence it committed into the destination
// ring. A page of a file mapped MAP_SHARED: a store to it is in the page cache the moment it
// is made, so it survives the bridge being killed with SIGKILL (not a machine crash), and it
// costs one store per table rather than a write and an fsync.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <arrow/result.h>

namespace arrowring::bridge {

class CursorFile {
 public:
  /// Opens or creates `path` (mode 0600). An empty path: an in-memory cursor only.
  static arrow::Result<CursorFile> Open(const std::string& path);
  CursorFile(CursorFile&&) noexcept;
  CursorFile& operator=(CursorFile&&) noexcept;
  ~CursorFile();

  struct Position {
    uint64_t ring_id;   ///< the source ring's id
    uint64_t sequence;  ///< the last of its sequences committed downstream
  };
  /// The last committed position, if any.
  std::optional<Position> Load() const;
  void Store(uint64_t ring_id, uint64_t sequence);

 private:
  struct Page;
  CursorFile() = default;
  Page* page_ = nullptr;
  std::unique_ptr<Page> memory_;  // when there is no file
};

}  // namespace arrowring::bridge
