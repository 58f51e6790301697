#include "cli_util.h"

#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <iostream>

#include "arrowring/ipc/ring_status.h"

namespace arrowring::cli {

int Fail(std::string_view command, Errc code, std::string_view message) {
  std::cerr << "arrowring " << command << ": " << message << "\n";
  switch (code) {
    case Errc::kInvalidArgument: return kExitUsage;
    case Errc::kTooLarge: return kExitTooLarge;
    case Errc::kNotFound: return kExitNotFound;
    case Errc::kPermissionDenied: return kExitPermission;
    case Errc::kAlreadyExists: return kExitExists;
    case Errc::kIncompatible: return kExitIncompatible;
    case Errc::kRingFull: return kExitRingFull;
    default: return kExitFailure;
  }
}

int Fail(std::string_view command, const Error& error) { return Fail(command, error.code, error.message); }

int Fail(std::string_view command, const arrow::Status& status) {
  if (auto code = ErrcOf(status)) return Fail(command, *code, status.message());
  return Fail(command, Errc::kSystem, status.ToString());
}

Result<uint64_t> ParseSize(std::string_view text) {
  auto bad = [&] {
    return Error{Errc::kInvalidArgument,
                 "invalid size '" + std::string(text) + "': use bytes or a unit, e.g. 4096, 64KiB, 256MiB, 1GiB, 10MB"};
  };
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits == 0) return bad();
  uint64_t value = 0;
  if (std::from_chars(text.data(), text.data() + digits, value).ec != std::errc()) return bad();
  std::string unit(text.substr(digits));
  for (char& c : unit) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (!unit.empty() && unit.front() == ' ') unit.erase(0, 1);
  static const std::pair<const char*, uint64_t> kUnits[] = {{"", 1},
                                                            {"b", 1},
                                                            {"kib", 1ull << 10},
                                                            {"mib", 1ull << 20},
                                                            {"gib", 1ull << 30},
                                                            {"tib", 1ull << 40},
                                                            {"k", 1ull << 10},
                                                            {"m", 1ull << 20},
                                                            {"g", 1ull << 30},
                                                            {"kb", 1000},
                                                            {"mb", 1000'000},
                                                            {"gb", 1000'000'000},
                                                            {"tb", 1000'000'000'000}};
  for (const auto& [name, multiplier] : kUnits) {
    if (unit == name) {
      if (value > UINT64_MAX / multiplier) return bad();
      return value * multiplier;
    }
  }
  return bad();
}

void NoteRounding(std::string_view command, uint64_t asked, uint64_t capacity) {
  if (asked == capacity) return;
  std::cerr << "arrowring " << command << ": note: capacity " << asked << " B rounded up to " << capacity << " B ("
            << HumanBytes(static_cast<double>(capacity)) << "): a ring holds whole 4 KiB pages\n";
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

Result<Ring> AttachRing(std::string_view name) {
  auto ring = Ring::Attach(name);
  if (!ring.ok() && ring.error().code == Errc::kNotFound) {
    return Error{Errc::kNotFound, "no ring named '" + std::string(name) + "'; 'arrowring ls' lists rings"};
  }
  return ring;
}

}  // namespace arrowring::cli
