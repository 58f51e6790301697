// Header verification on attach: a segment is used only once its header is sound.
#include <cstdio>
#include <string>

#include "arrowring/ring/internal/allocator_lock_internal.h"
#include "arrowring/ring/internal/header_check_internal.h"
#include "arrowring/ring/ring.h"

namespace arrowring {

using layout::RingHeader;

namespace {

Error Mismatch(std::string_view what, uint64_t found, uint64_t expected) {
  return {Errc::kIncompatible, "ring header " + std::string(what) + " is " + std::to_string(found) + ", expected " +
                                   std::to_string(expected)};
}

}  // namespace

Status CheckHeader(const RingHeader& h, uint64_t memory_bytes) {
  if (h.magic != layout::kMagic) {  // SYNC POINT segment-magic (checked first)
    char found[20];
    std::snprintf(found, sizeof found, "0x%016llx", static_cast<unsigned long long>(h.magic));
    return Error{Errc::kIncompatible,
                 std::string("not an arrowring ring: magic ") + found + ", expected 0x474e4952574f5241 (\"AROWRING\")"};
  }
  // Any minor of our major: a newer minor only adds fields in words that are reserved (zero)
  // here, and an older one leaves ours zero, which means "absent".
  if (layout::LayoutMajor(h.layout_version) != layout::kLayoutMajor) {
    const auto version = [](uint32_t v) {
      if (layout::LayoutMajor(v) == 0) return std::to_string(v);  // before major.minor (<= 3)
      return std::to_string(layout::LayoutMajor(v)) + "." + std::to_string(layout::LayoutMinor(v));
    };
    return Error{Errc::kIncompatible, "ring layout version " + version(h.layout_version) +
                                          ", this build of arrowring reads versions " +
                                          std::to_string(layout::kLayoutMajor) +
                                          ".x: use an arrowring of the ring's major version, "
                                          "or re-create the ring"};
  }
  if (h.header_bytes != layout::kHeaderBytes) return Mismatch("size", h.header_bytes, layout::kHeaderBytes);
  if (h.max_attachments != layout::kMaxAttachments) {
    return Mismatch("attachment count", h.max_attachments, layout::kMaxAttachments);
  }
  if (h.max_messages == 0 || (h.max_messages & (h.max_messages - 1)) != 0 || h.max_messages > (1u << 24)) {
    return Error{Errc::kIncompatible,
                 "ring header message count " + std::to_string(h.max_messages) + " is not a power of two up to 2^24"};
  }
  if (h.capacity == 0 || h.capacity % layout::kPageBytes != 0 || h.capacity > (uint64_t{1} << 44)) {
    return Error{Errc::kIncompatible, "ring header capacity " + std::to_string(h.capacity) +
                                          " is not a positive multiple of 4096 below 16 TiB"};
  }
  if (h.message_limit == 0 || h.message_limit > h.max_messages) {
    return Error{Errc::kIncompatible, "ring header message limit " + std::to_string(h.message_limit) +
                                          " is not 1 to its " + std::to_string(h.max_messages) + " descriptors"};
  }
  if (h.max_subscribers != layout::kMaxSubscribers) {
    return Mismatch("subscriber count", h.max_subscribers, layout::kMaxSubscribers);
  }
  if (h.subscribers_offset != layout::SubscribersOffset()) {
    return Mismatch("subscriber table offset", h.subscribers_offset, layout::SubscribersOffset());
  }
  if (h.attachments_offset != layout::AttachmentsOffset()) {
    return Mismatch("attachment table offset", h.attachments_offset, layout::AttachmentsOffset());
  }
  if (h.descriptors_offset != layout::DescriptorsOffset()) {
    return Mismatch("descriptor table offset", h.descriptors_offset, layout::DescriptorsOffset());
  }
  if (h.max_kept == 0 || h.max_kept > layout::kMaxKeptLimit) {
    return Error{Errc::kIncompatible, "ring header kept-message count " + std::to_string(h.max_kept) + " is not 1 to " +
                                          std::to_string(layout::kMaxKeptLimit)};
  }
  if (h.kept_offset != layout::KeptOffset(h.max_messages)) {
    return Mismatch("kept table offset", h.kept_offset, layout::KeptOffset(h.max_messages));
  }
  if (h.data_offset != layout::DataOffset(h.max_messages, h.max_kept)) {
    return Mismatch("data offset", h.data_offset, layout::DataOffset(h.max_messages, h.max_kept));
  }
  const uint64_t total = layout::TotalBytes(h.capacity, h.max_messages, h.max_kept);
  if (h.total_bytes != total) return Mismatch("total size", h.total_bytes, total);
  if (memory_bytes != total) {
    return Error{Errc::kIncompatible, "segment is " + std::to_string(memory_bytes) +
                                          " bytes but its header describes " + std::to_string(total) +
                                          " bytes (truncated or resized)"};
  }
  if (!AllocatorMutexTypeIsSound(h.alloc_mutex)) {
    return Error{Errc::kCorrupt, "ring header allocator mutex has type " + std::to_string(h.alloc_mutex.__data.__kind) +
                                     ", not the robust process-shared type it was created with (a process with "
                                     "write access overwrote it); remove and re-create the ring"};
  }
  if (h.policy > static_cast<uint32_t>(Policy::kDropOldest)) {
    return Error{Errc::kIncompatible, "ring header policy " + std::to_string(h.policy) + " is unknown"};
  }
  return Ok();
}

}  // namespace arrowring
