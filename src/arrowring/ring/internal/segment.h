// Named POSIX shared-memory segments holding rings: /dev/shm/arrowring.<name>.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "arrowring/ring/error.h"

namespace arrowring {

/// Checks a ring name: 1-200 bytes, any but '/' and control characters, not "." or "..".
/// (Names such as the seed framework's "ring_<base64>", with '=' and '+', are valid.)
Status ValidateRingName(std::string_view name);

/// The shm_open name of a ring ("/arrowring.<name>").
std::string SegmentName(std::string_view name);

/// A shared mapping of a whole segment; unmapped on destruction.
class MappedSegment {
 public:
  /// Creates a segment for ring `name` under a hidden temporary name with `mode`, reserves
  /// `bytes` (posix_fallocate) and maps it; Publish() then gives it its name. Attachers thus
  /// never see a half-formatted ring. AlreadyExists if `name` is taken. On failure, and if it
  /// is never published, nothing is left behind.
  static Result<std::shared_ptr<MappedSegment>> Create(std::string_view name, uint64_t bytes, uint32_t mode);
  /// Names the created segment `name`, atomically and only if no segment has that name
  /// (AlreadyExists otherwise: another process created it first).
  Status Publish(std::string_view name);
  /// Maps an existing segment whole. `min_bytes`: smaller files are refused before mapping.
  static Result<std::shared_ptr<MappedSegment>> Open(std::string_view name, uint64_t min_bytes);
  static Status Unlink(std::string_view name);
  /// Names of every arrowring segment on this machine.
  static std::vector<std::string> List();
  /// The first `bytes` bytes of a segment, read without mapping it (fewer if it is shorter).
  static Result<std::vector<std::byte>> ReadPrefix(std::string_view name, uint64_t bytes);

  /// Maps every page of the segment into this process now (MADV_POPULATE_WRITE; on kernels
  /// before 5.14, a read of each page), so that later accesses take no page faults. Changes
  /// no byte of the segment: safe on a ring in use.
  Status Prefault() const;

  ~MappedSegment();
  std::span<std::byte> bytes() const { return {static_cast<std::byte*>(address_), size_}; }

 private:
  MappedSegment(void* address, uint64_t size, std::string pending = {})
      : address_(address), size_(size), pending_(std::move(pending)) {}
  void* address_;
  uint64_t size_;
  std::string pending_;  // the /dev/shm file of a created segment not yet published
};

}  // namespace arrowring
