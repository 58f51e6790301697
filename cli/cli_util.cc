#include "cli_util.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "arrowring/ipc/pubsub.h"

namespace arrowring::cli {

int Fail(std::string_view command, Errc code, std::string_view message) {
  std::cerr << "arrowring " << command << ": " << message << "\n";
  switch (code) {
    case Errc::kInvalidArgument:
    case Errc::kTooLarge:
      return kExitUsage;
    case Errc::kNotFound:
      return kExitNotFound;
    case Errc::kPermissionDenied:
      return kExitPermission;
    case Errc::kAlreadyExists:
      return kExitExists;
    case Errc::kIncompatible:
      return kExitIncompatible;
    case Errc::kRingFull:
      return kExitRingFull;
    default:
      return kExitFailure;
  }
}

int Fail(std::string_view command, const Error& error) { return Fail(command, error.code, error.message); }

int Fail(std::string_view command, const arrow::Status& status) {
  if (auto code = ErrcOf(status)) return Fail(command, *code, status.message());
  return Fail(command, Errc::kSystem, status.ToString());
}

Result<uint64_t> ParseSize(std::string_view text) {
  auto bad = [&] {
    return Error{Errc::kInvalidArgument, "invalid size '" + std::string(text) +
                                             "': use bytes or a unit, e.g. 4096, 64KiB, 256MiB, 1GiB, 10MB"};
  };
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) return bad();
  uint64_t value = 0;
  if (std::from_chars(text.data(), text.data() + digits, value).ec != std::errc()) return bad();
  std::string unit(text.substr(digits));
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  static const std::pair<const char*, uint64_t> kUnits[] = {
      {"", 1}, {"b", 1}, {"kib", 1ull << 10}, {"mib", 1ull << 20}, {"gib", 1ull << 30},
      {"tib", 1ull << 40}, {"k", 1ull << 10}, {"m", 1ull << 20}, {"g", 1ull << 30},
      {"kb", 1000}, {"mb", 1000'000}, {"gb", 1000'000'000}, {"tb", 1000'000'000'000}};
  for (const auto& [name, multiplier] : kUnits) {
    if (unit == name) {
      if (value > UINT64_MAX / multiplier) return bad();
      return value * multiplier;
    }
  }
  return bad();
}

std::string HumanBytes(double bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int unit = 0;
  while (std::fabs(bytes) >= 1024 && unit < 4) {
    bytes /= 1024;
    ++unit;
  }
  char text[32];
  std::snprintf(text, sizeof text, unit == 0 ? "%.0f %s" : "%.1f %s", bytes, kUnits[unit]);
  return text;
}

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
  out += ", " + field("messages_written", s.messages_written);
  out += ", " + field("messages_read", s.messages_read);
  out += ", " + field("messages_dropped", s.messages_dropped);
  out += ", " + field("messages_aborted", s.messages_aborted);
  out += ", " + field("bytes_written", s.bytes_written);
  out += ", " + field("bytes_read", s.bytes_read);
  out += ", " + field("bytes_dropped", s.bytes_dropped);
  out += ", \"holders\": [";
  bool first = true;
  for (const auto& h : s.holders) {
    auto holder = [&](const char* kind, uint64_t bytes, uint64_t count) {
      if (count == 0) return;
      out += first ? "" : ", ";
      first = false;
      out += "{" + field("pid", h.pid) + ", \"alive\": " + (h.alive ? "true" : "false") +
             ", \"kind\": \"" + kind + "\", " + field("bytes", bytes) + ", " + field("count", count) + "}";
    };
    holder("write", h.write_bytes, h.write_slots);
    holder("read", h.read_bytes, h.read_messages);
  }
  out += "], \"subscribers\": [";
  first = true;
  for (const auto& sub : s.subscribers) {
    out += first ? "" : ", ";
    first = false;
    out += "{\"name\": " + JsonString(sub.name) + ", " + field("lag", sub.lag) + ", " +
           field("missed", sub.missed) + ", " + field("received", sub.received) + ", " +
           field("pid", sub.pid) + ", \"alive\": " + (sub.alive ? "true" : "false") + "}";
  }
  out += "]}";
  return out;
}

Result<Ring> AttachRing(std::string_view name) {
  auto ring = Ring::Attach(name);
  if (!ring.ok() && ring.error().code == Errc::kNotFound) {
    return Error{Errc::kNotFound, "no ring named '" + std::string(name) + "'; 'arrowring ls' lists rings"};
  }
  return ring;
}

}  // namespace arrowring::cli
