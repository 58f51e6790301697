#include "arrowring/ring/internal/stats_json.h"

#include <cstdio>

namespace arrowring {

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

std::string ModeString(uint32_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", mode & 07777);
  return text;
}

std::string StatsJson(const RingStats& s) {
  auto field = [](const char* name, uint64_t value) {
    return "\"" + std::string(name) + "\": " + std::to_string(value);
  };
  std::string out = "{";
  out += "\"name\": " + JsonString(s.name);
  char ring_id[20];
  std::snprintf(ring_id, sizeof ring_id, "%016llx", static_cast<unsigned long long>(s.ring_id));
  out += ", \"ring_id\": " + JsonString(ring_id);  // Hex: 64 bits exceed JSON's exact integers.
  out += ", " + field("capacity_bytes", s.capacity_bytes);
  out += ", " + field("max_messages", s.max_messages);
  out += ", \"policy\": " + JsonString(PolicyName(s.policy));
  out += ", \"mode\": " + JsonString(ModeString(s.mode));
  out += ", " + field("free_bytes", s.free_bytes);
  out += ", " + field("writing_bytes", s.writing_bytes);
  out += ", " + field("committed_bytes", s.committed_bytes);
  out += ", " + field("writing_messages", s.writing_messages);
  out += ", " + field("committed_messages", s.committed_messages);
  out += ", " + field("high_water_bytes", s.high_water_bytes);
  out += ", " + field("kept_messages", s.kept_messages);
  out += ", " + field("kept_bytes", s.kept_bytes);
  out += ", " + field("max_kept", s.max_kept);
  out += ", \"retain\": " + std::string(s.retain ? "true" : "false");
  out += ", \"prefault\": " + std::string(s.prefault ? "true" : "false");
  out += ", " + field("warm_bytes", s.warm_bytes);
  out += ", " + field("writer_lap_bytes", s.writer_lap_bytes);
  out += ", " + field("messages_given_way", s.messages_given_way);
  out += ", " + field("bytes_given_way", s.bytes_given_way);
  out += ", " + field("messages_kept_total", s.messages_kept_total);
  out += ", " + field("kept_full", s.kept_full);
  out += ", " + field("messages_written", s.messages_written);
  out += ", " + field("messages_read", s.messages_read);
  out += ", " + field("messages_dropped", s.messages_dropped);
  out += ", " + field("messages_aborted", s.messages_aborted);
  out += ", " + field("bytes_written", s.bytes_written);
  out += ", " + field("bytes_read", s.bytes_read);
  out += ", " + field("bytes_dropped", s.bytes_dropped);
  out += ", " + field("attachments", s.holders.size());  // processes attached now
  out += ", \"holders\": [";
  bool first = true;
  for (const auto& h : s.holders) {
    auto holder = [&](const char* kind, uint64_t bytes, uint64_t count) {
      if (count == 0) return;
      out += first ? "" : ", ";
      first = false;
      out += "{" + field("pid", h.pid) + ", \"alive\": " + (h.alive ? "true" : "false") + ", \"kind\": \"" + kind +
             "\", " + field("bytes", bytes) + ", " + field("count", count) + "}";
    };
    holder("write", h.write_bytes, h.write_slots);
    holder("read", h.read_bytes, h.read_messages);
    holder("kept", h.kept_bytes, h.kept_messages);  // of "read": held outside the window
  }
  out += "], \"subscribers\": [";
  first = true;
  for (const auto& sub : s.subscribers) {
    out += first ? "" : ", ";
    first = false;
    out += "{\"name\": " + JsonString(sub.name) + ", " + field("lag", sub.lag) + ", " + field("missed", sub.missed) +
           ", " + field("received", sub.received) + ", " + field("pid", sub.pid) +
           ", \"alive\": " + (sub.alive ? "true" : "false") + "}";
  }
  out += "]}";
  return out;
}

}  // namespace arrowring
