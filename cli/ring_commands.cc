// create, ls, stat, rm, recover.
#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <iostream>
#include <map>
#include <vector>

#include "arrowring/ring/internal/segment.h"
#include "arrowring/ring/streaming_copy.h"
#include "cli_util.h"
#include "commands.h"
#include "prometheus.h"

namespace arrowring::cli {

int RunCreate(const CreateArgs& args) {
  auto capacity = ParseSize(args.capacity);
  if (!capacity.ok()) return Fail("create", capacity.error());
  auto policy = ParsePolicy(args.policy);
  if (!policy.ok()) return Fail("create", policy.error());
  uint32_t mode = 0;
  if (std::from_chars(args.mode.data(), args.mode.data() + args.mode.size(), mode, 8).ec != std::errc() ||
      (mode != 0600 && mode != 0660)) {
    return Fail("create", Errc::kInvalidArgument,
                "invalid mode '" + args.mode + "': use 0600 (owner only) or 0660 (owner and group)");
  }
  auto ring = Ring::Create(args.name, *capacity,
                           {.policy = *policy,
                            .max_messages = args.max_messages,
                            .mode = mode,
                            .retain = args.retain,
                            .prefault = args.prefault});
  if (!ring.ok()) return Fail("create", ring.error());
  NoteRounding("create", *capacity, ring->capacity());
  std::cout << "created ring '" << args.name << "': " << HumanBytes(static_cast<double>(ring->capacity()))
            << ", policy " << PolicyName(*policy) << (args.retain ? ", retaining" : "")
            << (args.prefault ? ", prefaulting" : "") << ", mode " << ModeString(mode) << "\n";
  return kExitOk;
}

int RunList(bool json) {
  const auto names = MappedSegment::List();
  if (json) std::cout << "[";
  if (!json) {
    std::printf("%-32s %12s %10s %9s %11s %8s\n", "NAME", "CAPACITY", "USED", "MESSAGES", "SUBSCRIBERS", "POLICY");
  }
  bool first = true;
  for (const std::string& name : names) {
    auto ring = Ring::Attach(name);
    if (json) {
      std::cout << (first ? "" : ", ") << "{\"name\": " << JsonString(name);
      first = false;
      if (ring.ok()) {
        const RingStats s = ring->Stats();
        std::cout << ", \"capacity_bytes\": " << s.capacity_bytes
                  << ", \"used_bytes\": " << s.writing_bytes + s.committed_bytes
                  << ", \"messages\": " << s.committed_messages << ", \"subscribers\": " << s.subscribers.size()
                  << ", \"policy\": " << JsonString(PolicyName(s.policy)) << ", \"error\": null}";
      } else {
        std::cout << ", \"error\": " << JsonString(ring.error().message) << "}";
      }
      continue;
    }
    if (!ring.ok()) {
      std::printf("%-32s (cannot attach: %s)\n", name.c_str(), ring.error().message.c_str());
      continue;
    }
    const RingStats s = ring->Stats();
    const double used = static_cast<double>(s.writing_bytes + s.committed_bytes);
    char percent[16];
    std::snprintf(percent, sizeof percent, "%.0f%%", 100.0 * used / static_cast<double>(s.capacity_bytes));
    std::printf("%-32s %12s %10s %9llu %11zu %8s\n", name.c_str(),
                HumanBytes(static_cast<double>(s.capacity_bytes)).c_str(), percent,
                static_cast<unsigned long long>(s.committed_messages), s.subscribers.size(),
                std::string(PolicyName(s.policy)).c_str());
  }
  if (json) std::cout << "]\n";
  return kExitOk;
}

int RunStat(const StatArgs& args) {
  const std::string format = args.json ? "json" : args.format;
  if (args.all && !args.name.empty()) {
    return Fail("stat", Errc::kInvalidArgument,
                "a ring name and --all together: give either NAME (that ring) or --all (every ring), not both");
  }
  if (!args.all && args.name.empty()) {
    return Fail("stat", Errc::kInvalidArgument, "name one ring, or pass --all for every ring");
  }
  if (args.all && format == "text") {
    return Fail("stat", Errc::kInvalidArgument, "--all needs --format json or --format prometheus");
  }
  std::vector<RingStats> rings;
  for (const std::string& name : args.all ? MappedSegment::List() : std::vector<std::string>{args.name}) {
    auto ring = AttachRing(name);
    if (!ring.ok()) {
      if (args.all) continue;  // Another user's, or removed meanwhile: not this user's to report.
      return Fail("stat", ring.error());
    }
    rings.push_back(ring->Stats());
  }
  if (format == "prometheus") {
    std::cout << PrometheusText(rings);
    return kExitOk;
  }
  if (format == "json") {
    if (!args.all) {
      std::cout << StatsJson(rings.front()) << "\n";
      return kExitOk;
    }
    std::cout << "[";
    for (size_t i = 0; i < rings.size(); ++i) std::cout << (i ? ", " : "") << StatsJson(rings[i]);
    std::cout << "]\n";
    return kExitOk;
  }
  const RingStats& s = rings.front();
  auto bytes = [](uint64_t value) { return HumanBytes(static_cast<double>(value)); };
  std::cout << "ring        " << s.name << "\n"
            << "capacity    " << bytes(s.capacity_bytes) << " (" << s.max_messages << " messages at most)\n"
            << "policy      " << PolicyName(s.policy) << (s.retain ? ", retaining" : "")
            << (s.prefault ? ", prefaulting" : "") << ", mode " << ModeString(s.mode) << "\n"
            << "occupancy   " << bytes(s.committed_bytes) << " committed (" << s.committed_messages << " messages), "
            << bytes(s.writing_bytes) << " being written, " << bytes(s.free_bytes) << " free; high water "
            << bytes(s.high_water_bytes) << "\n"
            << "kept        " << s.kept_messages << " messages held by readers outside the window ("
            << bytes(s.kept_bytes) << "; " << s.max_kept << " at most, table full " << s.kept_full << " times)\n"
            << "written     " << s.messages_written << " messages, " << bytes(s.bytes_written) << "; last lap "
            << (s.writer_lap_bytes == 0 ? std::string("none yet") : bytes(s.writer_lap_bytes))
            << (IsColdLap(s.writer_lap_bytes) ? " (cold: streaming stores)" : "") << "\n"
            << "read        " << s.messages_read << " acquisitions, " << bytes(s.bytes_read) << "\n"
            << "dropped     " << s.messages_dropped << " messages, " << bytes(s.bytes_dropped) << "\n"
            << "aborted     " << s.messages_aborted << " messages\n";
  if (s.retain) {
    std::cout << "given way   " << s.messages_given_way << " retained messages, " << bytes(s.bytes_given_way) << "\n";
  }
  std::cout << "holders    ";
  bool any = false;
  for (const auto& h : s.holders) {
    if (h.write_slots + h.read_messages == 0) continue;
    any = true;
    std::cout << " pid " << h.pid << (h.alive ? "" : " (dead)") << ": " << h.write_slots << " writing ("
              << bytes(h.write_bytes) << "), " << h.read_messages << " read (" << bytes(h.read_bytes) << ", "
              << h.kept_messages << " kept: " << bytes(h.kept_bytes) << ");";
  }
  std::cout << (any ? "\n" : " none\n") << "subscribers";
  for (const auto& sub : s.subscribers) {
    std::cout << "\n  " << sub.name << " (pid " << sub.pid << (sub.alive ? "" : ", dead") << "): lag " << sub.lag
              << ", received " << sub.received << ", missed " << sub.missed;
  }
  std::cout << (s.subscribers.empty() ? " none\n" : "\n");
  return kExitOk;
}

int RunRemove(const std::string& name, bool force) {
  {
    auto ring = AttachRing(name);
    if (!ring.ok() && !(force && ring.error().code == Errc::kIncompatible)) return Fail("rm", ring.error());
    if (ring.ok() && !force) {
      const RingStats s = ring->Stats();
      std::string users;
      for (const auto& h : s.holders) {
        if (h.alive && h.pid != static_cast<uint64_t>(getpid())) users += " " + std::to_string(h.pid);
      }
      if (!users.empty()) {
        std::cerr << "arrowring rm: ring '" << name << "' is in use by process(es)" << users
                  << "; stop them first, or use --force (they keep their mapping until they exit)\n";
        return kExitInUse;
      }
    }
  }
  auto removed = Ring::Unlink(name);
  if (!removed.ok()) return Fail("rm", removed.error());
  std::cout << "removed ring '" << name << "'\n";
  return kExitOk;
}

int RunRecover(const std::string& name, bool json) {
  auto ring = AttachRing(name);
  if (!ring.ok()) return Fail("recover", ring.error());
  // The bytes each dead process held (writes it had reserved, reads it had acquired), by its
  // attachment's own accounting, read just before recovery clears it.
  std::map<uint64_t, RingStats::Holder> dead;
  for (const auto& holder : ring->Stats().holders) {
    if (!holder.alive) dead.emplace(holder.pid, holder);
  }
  const RecoveryReport report = ring->Recover();
  uint64_t aborted_bytes = 0, released_bytes = 0;
  for (uint64_t pid : report.dead_pids) {
    if (auto it = dead.find(pid); it != dead.end()) {
      aborted_bytes += it->second.write_bytes;
      released_bytes += it->second.read_bytes;
    }
  }
  if (json) {
    std::cout << "{\"dead_pids\": [";
    for (size_t i = 0; i < report.dead_pids.size(); ++i) std::cout << (i ? ", " : "") << report.dead_pids[i];
    std::cout << "], \"aborted_writes\": " << report.aborted_writes << ", \"aborted_bytes\": " << aborted_bytes
              << ", \"released_references\": " << report.released_references
              << ", \"released_bytes\": " << released_bytes
              << ", \"removed_subscribers\": " << report.removed_subscribers
              << ", \"reclaimed_bytes\": " << report.reclaimed_bytes << "}\n";
    return kExitOk;
  }
  if (report.empty()) {
    std::cout << "nothing to recover: every process attached to '" << name << "' is alive\n";
    return kExitOk;
  }
  std::cout << "recovered from " << report.dead_pids.size() << " dead process(es):";
  for (uint64_t pid : report.dead_pids) std::cout << " " << pid;
  auto bytes = [](uint64_t value) { return HumanBytes(static_cast<double>(value)); };
  std::cout << "\n  aborted writes        " << report.aborted_writes << " (" << bytes(aborted_bytes) << ")"
            << "\n  released references   " << report.released_references << " (" << bytes(released_bytes) << ")"
            << "\n  removed subscribers   " << report.removed_subscribers << "\n  reclaimed             "
            << bytes(report.reclaimed_bytes)
            << " (space free again; a released message other subscribers still need stays)\n";
  return kExitOk;
}

}  // namespace arrowring::cli
