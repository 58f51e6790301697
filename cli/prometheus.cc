#include "prometheus.h"

#include <cstdint>
#include <functional>
#include <sstream>

namespace arrowring::cli {
namespace {

// Label values escape backslash, double quote and newline (the format's only escapes).
std::string Label(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// One metric family: HELP, TYPE, then a sample per ring (and per subscriber or holder).
class Family {
 public:
  Family(std::ostringstream& out, const char* name, const char* type, const char* help) : out_(out), name_(name) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void Sample(const std::string& labels, uint64_t value) { out_ << name_ << '{' << labels << "} " << value << '\n'; }

 private:
  std::ostringstream& out_;
  const char* name_;
};

}  // namespace

std::string PrometheusText(const std::vector<RingStats>& rings) {
  std::ostringstream out;
  auto ring_label = [](const RingStats& s) { return "ring=\"" + Label(s.name) + "\""; };
  auto per_ring = [&](const char* name, const char* type, const char* help,
                      const std::function<uint64_t(const RingStats&)>& get) {
    Family family(out, name, type, help);
    for (const auto& s : rings) family.Sample(ring_label(s), get(s));
  };
  per_ring("arrowring_capacity_bytes", "gauge", "Data bytes of the ring.", [](auto& s) { return s.capacity_bytes; });
  per_ring("arrowring_max_messages", "gauge", "Most messages the ring holds at once.",
           [](auto& s) { return uint64_t{s.max_messages}; });
  per_ring("arrowring_free_bytes", "gauge", "Bytes not reserved by any message.", [](auto& s) { return s.free_bytes; });
  per_ring("arrowring_committed_bytes", "gauge", "Bytes reserved by committed messages not yet reclaimed.",
           [](auto& s) { return s.committed_bytes; });
  per_ring("arrowring_writing_bytes", "gauge", "Bytes reserved by messages being written.",
           [](auto& s) { return s.writing_bytes; });
  per_ring("arrowring_committed_messages", "gauge", "Committed messages not yet reclaimed.",
           [](auto& s) { return s.committed_messages; });
  per_ring("arrowring_writing_messages", "gauge", "Messages being written.",
           [](auto& s) { return s.writing_messages; });
  per_ring("arrowring_high_water_bytes", "gauge", "Most bytes ever reserved at once.",
           [](auto& s) { return s.high_water_bytes; });
  per_ring("arrowring_attachments", "gauge", "Processes attached to the ring.",
           [](auto& s) { return uint64_t{s.holders.size()}; });
  per_ring("arrowring_messages_written_total", "counter", "Messages committed.",
           [](auto& s) { return s.messages_written; });
  per_ring("arrowring_bytes_written_total", "counter", "Bytes committed.", [](auto& s) { return s.bytes_written; });
  per_ring("arrowring_messages_read_total", "counter", "Read acquisitions (subscribers and handle loads).",
           [](auto& s) { return s.messages_read; });
  per_ring("arrowring_bytes_read_total", "counter", "Bytes of read acquisitions.",
           [](auto& s) { return s.bytes_read; });
  per_ring("arrowring_messages_dropped_total", "counter",
           "Messages dropped under drop-oldest, or handle deliveries that lapsed.",
           [](auto& s) { return s.messages_dropped; });
  per_ring("arrowring_bytes_dropped_total", "counter", "Bytes of dropped messages.",
           [](auto& s) { return s.bytes_dropped; });
  per_ring("arrowring_messages_aborted_total", "counter", "Reservations aborted, by their writer or by recovery.",
           [](auto& s) { return s.messages_aborted; });
  per_ring("arrowring_kept_messages", "gauge", "Messages readers keep outside the sequence window.",
           [](auto& s) { return s.kept_messages; });
  per_ring("arrowring_kept_bytes", "gauge", "Bytes of the messages readers keep outside the sequence window.",
           [](auto& s) { return s.kept_bytes; });
  per_ring("arrowring_kept_full_total", "counter",
           "Allocations that found the kept table full (a held message then holds back the space behind it).",
           [](auto& s) { return s.kept_full; });
  per_ring("arrowring_messages_given_way_total", "counter", "Retained messages freed because their space was needed.",
           [](auto& s) { return s.messages_given_way; });
  per_ring("arrowring_bytes_given_way_total", "counter", "Bytes of retained messages freed for space.",
           [](auto& s) { return s.bytes_given_way; });

  auto per_subscriber = [&](const char* name, const char* type, const char* help,
                            const std::function<uint64_t(const RingStats::SubscriberInfo&)>& get) {
    Family family(out, name, type, help);
    for (const auto& s : rings) {
      for (const auto& sub : s.subscribers) {
        family.Sample(ring_label(s) + ",subscriber=\"" + Label(sub.name) + "\",pid=\"" + std::to_string(sub.pid) + "\"",
                      get(sub));
      }
    }
  };
  per_subscriber("arrowring_subscriber_lag_messages", "gauge",
                 "Messages published that the subscriber has not reached.", [](auto& sub) { return sub.lag; });
  per_subscriber("arrowring_subscriber_received_total", "counter", "Messages the subscriber took.",
                 [](auto& sub) { return sub.received; });
  per_subscriber("arrowring_subscriber_missed_total", "counter", "Messages dropped while still due to the subscriber.",
                 [](auto& sub) { return sub.missed; });
  per_subscriber("arrowring_subscriber_alive", "gauge", "1 while the subscriber's process lives.",
                 [](auto& sub) { return uint64_t{sub.alive}; });

  auto per_holder = [&](const char* name, const char* help,
                        const std::function<uint64_t(const RingStats::Holder&)>& get) {
    Family family(out, name, "gauge", help);
    for (const auto& s : rings) {
      for (const auto& h : s.holders) family.Sample(ring_label(s) + ",pid=\"" + std::to_string(h.pid) + "\"", get(h));
    }
  };
  per_holder("arrowring_holder_write_slots", "Open write reservations of the process.",
             [](auto& h) { return uint64_t{h.write_slots}; });
  per_holder("arrowring_holder_write_bytes", "Bytes of the process's open write reservations.",
             [](auto& h) { return h.write_bytes; });
  per_holder("arrowring_holder_read_messages", "Messages the process holds for reading.",
             [](auto& h) { return uint64_t{h.read_messages}; });
  per_holder("arrowring_holder_read_bytes", "Bytes of the messages the process holds.",
             [](auto& h) { return h.read_bytes; });
  per_holder("arrowring_holder_kept_messages", "Of the messages the process holds, those kept outside the window.",
             [](auto& h) { return uint64_t{h.kept_messages}; });
  per_holder("arrowring_holder_kept_bytes", "Bytes of the messages the process keeps outside the window.",
             [](auto& h) { return h.kept_bytes; });
  per_holder("arrowring_holder_alive", "1 while the process lives (0: recover reclaims what it holds).",
             [](auto& h) { return uint64_t{h.alive}; });
  return out.str();
}

}  // namespace arrowring::cli
