// What the bridge puts on the wire besides Arrow data: the DoGet ticket and the per-batch
// app_metadata tag. Both are small fixed text/binary forms so that any Flight client (the
// Python one included) can build and read them without our code.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <arrow/buffer.h>
#include <arrow/result.h>

namespace arrowring::bridge {

/// A DoGet ticket: which ring, which durable subscriber, and the last source sequence the
/// reader has committed downstream (so the server can drop what it holds up to there and
/// replay the rest). Text form: "arrowring1\n<ring>\n<subscriber>\n<resume_after>", where
/// resume_after is a decimal number or "-" for "nothing committed yet".
struct Ticket {
  std::string ring;
  std::string subscriber;
  std::optional<uint64_t> resume_after;

  std::string Encode() const;
  /// InvalidArgument (a clear message for the client) on anything malformed.
  static arrow::Result<Ticket> Parse(std::string_view bytes);
};

/// The app_metadata of every forwarded record batch: where the table came from (source ring
/// id and sequence), which of its batches this is, and how many messages the source dropped
/// (drop-oldest) before it. 56 bytes, little endian: magic "ARB1", version 1, 3 bytes of
/// flags (zero), then the six 64-bit fields below (batch_count 0 marks a table with no
/// batches, sent as one empty batch).
struct BatchTag {
  uint64_t ring_id = 0;
  uint64_t sequence = 0;
  uint64_t batch_index = 0;
  uint64_t batch_count = 0;
  uint64_t missed = 0;
  uint64_t commit_time_ns = 0;

  std::shared_ptr<arrow::Buffer> Encode() const;
  static arrow::Result<BatchTag> Parse(const arrow::Buffer* buffer);
  bool last() const { return batch_count == 0 || batch_index + 1 == batch_count; }
};

/// An acknowledgement (DoAction "ack" body and DoPut metadata): the source sequence the
/// receiver has committed, text "arrowring1\n<ring>\n<subscriber>\n<sequence>".
using Ack = Ticket;

}  // namespace arrowring::bridge
