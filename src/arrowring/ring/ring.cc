// Rings as objects: formatting a segment, creating, opening and attaching rings, their names
// and accessors. The rest of the core lives one concept per file (see docs/design.md).
#include "arrowring/ring/ring.h"

#include <sys/random.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "arrowring/ring/internal/header_check_internal.h"
#include "arrowring/ring/internal/recovery_internal.h"
#include "arrowring/ring/internal/ring_state_internal.h"
#include "arrowring/ring/internal/segment.h"

namespace arrowring {

namespace {

uint32_t RoundUpPowerOfTwo(uint64_t value) {
  uint32_t result = 1;
  while (result < value) result <<= 1;
  return result;
}

uint32_t KeptEntries(const RingOptions& options) {
  return options.max_kept == 0 ? layout::kDefaultMaxKept : options.max_kept;
}

}  // namespace

// ---------------------------------------------------------------------------------------
std::string_view ErrcName(Errc code) {
  switch (code) {
    case Errc::kInvalidArgument: return "InvalidArgument";
    case Errc::kNotFound: return "NotFound";
    case Errc::kAlreadyExists: return "AlreadyExists";
    case Errc::kPermissionDenied: return "PermissionDenied";
    case Errc::kIncompatible: return "Incompatible";
    case Errc::kNoSpace: return "NoSpace";
    case Errc::kTooLarge: return "TooLarge";
    case Errc::kStaleHandle: return "StaleHandle";
    case Errc::kWrongRing: return "WrongRing";
    case Errc::kTooManyAttachments: return "TooManyAttachments";
    case Errc::kBadState: return "BadState";
    case Errc::kRingFull: return "RingFull";
    case Errc::kSystem: return "System";
    case Errc::kCorrupt: return "Corrupt";
  }
  return "Unknown";
}

std::string_view PolicyName(Policy policy) {
  switch (policy) {
    case Policy::kBlock: return "block";
    case Policy::kFail: return "fail";
    case Policy::kDropOldest: return "drop-oldest";
  }
  return "unknown";
}

Result<Policy> ParsePolicy(std::string_view name) {
  if (name == "block") return Policy::kBlock;
  if (name == "fail") return Policy::kFail;
  if (name == "drop-oldest") return Policy::kDropOldest;
  return Error{Errc::kInvalidArgument, "unknown policy '" + std::string(name) + "'; use block, fail or drop-oldest"};
}

// --- Ring --------------------------------------------------------------------------------
Ring::Ring(std::shared_ptr<RingState> state) : state_(std::move(state)) {}

Result<uint64_t> Ring::RequiredBytes(uint64_t capacity, const RingOptions& options) {
  if (capacity == 0 || capacity > (uint64_t{1} << 44)) {
    return Error{Errc::kInvalidArgument, "ring capacity must be 1 byte to 16 TiB, got " + std::to_string(capacity)};
  }
  const uint64_t data = RoundUp(capacity, layout::kPageBytes);
  uint64_t messages = options.max_messages;
  if (messages == 0) messages = std::clamp<uint64_t>(data / 4096, 64, 65536);
  if (messages > (1u << 24)) {
    return Error{Errc::kInvalidArgument, "max_messages is at most 16777216"};
  }
  if (KeptEntries(options) > layout::kMaxKeptLimit) {
    return Error{Errc::kInvalidArgument, "max_kept is at most " + std::to_string(layout::kMaxKeptLimit) + ", got " +
                                             std::to_string(options.max_kept)};
  }
  return layout::TotalBytes(data, RoundUpPowerOfTwo(messages), KeptEntries(options));
}

Result<Ring> Ring::Format(std::span<std::byte> memory, uint64_t capacity, RingOptions options, std::string_view name,
                          std::shared_ptr<void> keep_alive) {
  auto required = RequiredBytes(capacity, options);
  if (!required) return required.error();
  if (memory.size() != *required || reinterpret_cast<uintptr_t>(memory.data()) % 64 != 0) {
    return Error{Errc::kInvalidArgument, "a ring of capacity " + std::to_string(capacity) + " needs " +
                                             std::to_string(*required) + " bytes at a 64-byte aligned address; got " +
                                             std::to_string(memory.size())};
  }
  if (options.policy > Policy::kDropOldest) return Error{Errc::kInvalidArgument, "unknown policy"};
  if (name.size() > layout::kMaxNameLength) return Error{Errc::kInvalidArgument, "name too long"};
  const uint64_t data = RoundUp(capacity, layout::kPageBytes);
  const auto limit =
      static_cast<uint32_t>(options.max_messages ? options.max_messages : std::clamp<uint64_t>(data / 4096, 64, 65536));
  const uint32_t messages = RoundUpPowerOfTwo(limit);
  const uint32_t kept = KeptEntries(options);

  std::memset(memory.data(), 0, layout::DataOffset(messages, kept));
  auto* h = new (memory.data()) RingHeader();
  h->layout_version = layout::kLayoutVersion;
  h->header_bytes = layout::kHeaderBytes;
  h->total_bytes = *required;
  h->capacity = data;
  h->data_offset = layout::DataOffset(messages, kept);
  h->kept_offset = layout::KeptOffset(messages);
  h->max_kept = kept;
  h->flags = (options.retain ? layout::kFlagRetain : 0) | (options.prefault ? layout::kFlagPrefault : 0);
  h->warm_bytes = options.warm_bytes == RingOptions::kWarmDefault ? kDefaultWarmBytes : options.warm_bytes;
  h->descriptors_offset = layout::DescriptorsOffset();
  h->attachments_offset = layout::AttachmentsOffset();
  h->subscribers_offset = layout::SubscribersOffset();
  h->max_subscribers = layout::kMaxSubscribers;
  h->max_messages = messages;
  h->message_limit = limit;
  h->max_attachments = layout::kMaxAttachments;
  h->policy = static_cast<uint32_t>(options.policy);
  h->mode = options.mode;
  if (getrandom(&h->ring_id, sizeof h->ring_id, 0) != sizeof h->ring_id) {
    h->ring_id = sys::RealtimeNs() ^ (sys::CurrentPid() << 32);
  }
  h->created_ns = sys::RealtimeNs();
  std::memcpy(h->name, name.data(), name.size());
  pthread_mutexattr_t attributes;
  pthread_mutexattr_init(&attributes);
  pthread_mutexattr_setpshared(&attributes, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&attributes, PTHREAD_MUTEX_ROBUST);
  pthread_mutex_init(&h->alloc_mutex, &attributes);
  pthread_mutexattr_destroy(&attributes);
  auto* attachments = reinterpret_cast<Attachment*>(memory.data() + layout::AttachmentsOffset());
  for (uint32_t i = 0; i < layout::kMaxAttachments; ++i) new (&attachments[i]) Attachment();
  auto* subscribers = reinterpret_cast<layout::Subscriber*>(memory.data() + layout::SubscribersOffset());
  for (uint32_t i = 0; i < layout::kMaxSubscribers; ++i) new (&subscribers[i]) layout::Subscriber();
  auto* descriptors = reinterpret_cast<MessageDescriptor*>(memory.data() + layout::DescriptorsOffset());
  for (uint32_t i = 0; i < messages; ++i) new (&descriptors[i]) MessageDescriptor();
  auto* kept_table = reinterpret_cast<KeptMessage*>(memory.data() + layout::KeptOffset(messages));
  for (uint32_t i = 0; i < kept; ++i) new (&kept_table[i]) KeptMessage();
  // The magic goes last: a ring is recognisable only once it is fully formatted.
  // SYNC POINT segment-magic (release: the header before its magic)
  std::atomic_ref<uint64_t>(h->magic).store(layout::kMagic, std::memory_order_release);
  return Open(memory, std::move(keep_alive));
}

Result<Ring> Ring::Open(std::span<std::byte> memory, std::shared_ptr<void> keep_alive) {
  if (memory.size() < layout::kHeaderBytes) {
    return Error{Errc::kIncompatible,
                 "memory of " + std::to_string(memory.size()) + " bytes cannot hold an arrowring header (4096 bytes)"};
  }
  const auto& header = *reinterpret_cast<const RingHeader*>(memory.data());
  if (auto checked = CheckHeader(header, memory.size()); !checked) return checked.error();
  auto state = AttachState(memory, std::move(keep_alive));
  if (!state) return state.error();
  return Ring(std::move(*state));
}

Result<Ring> Ring::Create(std::string_view name, uint64_t capacity, RingOptions options) {
  auto required = RequiredBytes(capacity, options);
  if (!required) return required.error();
  auto segment = MappedSegment::Create(name, *required, options.mode);
  if (!segment) return segment.error();
  auto ring = Format((*segment)->bytes(), capacity, options, name, *segment);
  if (!ring) return ring;  // The unpublished segment goes with it.
  if (options.prefault) {
    if (auto mapped = (*segment)->Prefault(); !mapped) return mapped.error();
  }
  // Only a fully formatted ring gets its name: no attacher sees one half made.
  if (auto published = (*segment)->Publish(name); !published) return published.error();
  ring->state_->named = true;
  return ring;
}

Result<Ring> Ring::Attach(std::string_view name) {
  auto segment = MappedSegment::Open(name, layout::kHeaderBytes);
  if (!segment) return segment.error();
  auto ring = Open((*segment)->bytes(), *segment);
  if (!ring) {
    return Error{ring.error().code, "ring '" + std::string(name) + "': " + ring.error().message};
  }
  if ((ring->state_->header->flags & layout::kFlagPrefault) != 0) {  // not Stats(): no scan needed
    if (auto mapped = (*segment)->Prefault(); !mapped) return mapped.error();
  }
  ring->state_->named = true;
  return ring;
}

Result<std::string> Ring::Find(uint64_t ring_id) {
  for (const std::string& name : MappedSegment::List()) {
    auto prefix = MappedSegment::ReadPrefix(name, sizeof(RingHeader));
    if (!prefix.ok() || prefix->size() < sizeof(RingHeader)) continue;  // Not ours to read, or no ring.
    // Viewed the way attaching views the mapping, from storage aligned as the header is.
    alignas(RingHeader) std::byte storage[sizeof(RingHeader)];
    std::memcpy(storage, prefix->data(), sizeof storage);
    const auto& header = *reinterpret_cast<const RingHeader*>(storage);
    if (header.magic == layout::kMagic && layout::LayoutMajor(header.layout_version) == layout::kLayoutMajor &&
        header.ring_id == ring_id) {
      return name;
    }
  }
  char id[20];
  std::snprintf(id, sizeof id, "%016llx", static_cast<unsigned long long>(ring_id));
  return Error{Errc::kNotFound, std::string("no ring on this machine that this user can read has id ") + id +
                                    " (the ring was removed, or the handle comes from another machine); "
                                    "'arrowring ls' lists rings"};
}

Status Ring::Unlink(std::string_view name) { return MappedSegment::Unlink(name); }

std::span<const std::byte> Ring::data_region() const { return {state_->data, state_->capacity}; }

const std::string& Ring::name() const { return state_->name; }
uint64_t Ring::ring_id() const { return state_->header->ring_id; }
uint64_t Ring::capacity() const { return state_->capacity; }
Policy Ring::policy() const { return static_cast<Policy>(state_->header->policy); }

}  // namespace arrowring
