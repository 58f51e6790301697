// top: a live view of every ring on the machine; q or Ctrl-C quits.
#include <poll.h>
#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "arrowring/ring/internal/segment.h"
#include "cli_util.h"
#include "commands.h"

namespace arrowring::cli {
namespace {

std::atomic<bool> stop{false};
void OnStop(int) { stop.store(true); }

// Puts the terminal in non-canonical, no-echo mode while it lives (when stdin is one).
class RawTerminal {
 public:
  RawTerminal() {
    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &saved_) != 0) return;
    termios raw = saved_;
    raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
    raw.c_cc[VMIN] = 0;
    raw.c_cc[VTIME] = 0;
    active_ = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
  }

 private:
  termios saved_{};
  bool active_ = false;
};

struct Sample {
  RingStats stats;
  std::chrono::steady_clock::time_point at;
};

std::string Bar(double fraction, int width) {
  const int filled = static_cast<int>(std::lround(fraction * width));
  std::string bar = "[";
  for (int i = 0; i < width; ++i) bar += i < filled ? '#' : '.';
  return bar + "]";
}

}  // namespace

int RunTop(const TopArgs& args) {
  if (args.interval_seconds <= 0) return Fail("top", Errc::kInvalidArgument, "--interval must be positive");
  struct sigaction action {};
  action.sa_handler = OnStop;
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  RawTerminal terminal;
  std::map<std::string, Ring> rings;
  std::map<std::string, Sample> previous;
  bool input_open = true;  // stdin at EOF (not a terminal): wait on the timer alone
  // On a terminal each refresh redraws the screen; into a pipe or a file, refreshes follow
  // each other as plain text, a blank line apart, with no escape sequences.
  const bool redraw = isatty(STDOUT_FILENO);
  for (int64_t iteration = 0; !stop.load(); ++iteration) {
    const auto now = std::chrono::steady_clock::now();
    std::string screen = redraw ? "\x1b[H\x1b[2J" : iteration > 0 ? "\n" : "";
    const auto names = MappedSegment::List();
    char line[512];
    std::snprintf(line, sizeof line, "arrowring top - %zu ring(s) - refresh %.1fs - q to quit\n\n", names.size(),
                  args.interval_seconds);
    screen += line;
    std::snprintf(line, sizeof line, "%-24s %10s %9s %10s %9s %6s %-22s\n", "RING", "IN MB/s", "IN msg/s", "OUT MB/s",
                  "OUT msg/s", "USED", "OCCUPANCY");
    screen += line;
    std::map<std::string, Ring> still;
    for (const std::string& name : names) {
      auto found = rings.find(name);
      if (found == rings.end()) {
        auto ring = Ring::Attach(name);
        if (!ring.ok()) {
          screen += name + "  (cannot attach: " + ring.error().message + ")\n";
          continue;
        }
        found = rings.emplace(name, *ring).first;
      }
      still.emplace(name, found->second);
      Sample sample{found->second.Stats(), now};
      double in_mb = 0, in_msg = 0, out_mb = 0, out_msg = 0;
      if (auto before = previous.find(name); before != previous.end()) {
        const double seconds = std::chrono::duration<double>(now - before->second.at).count();
        const RingStats& a = before->second.stats;
        const RingStats& b = sample.stats;
        if (seconds > 0) {
          in_mb = static_cast<double>(b.bytes_written - a.bytes_written) / seconds / 1e6;
          in_msg = static_cast<double>(b.messages_written - a.messages_written) / seconds;
          out_mb = static_cast<double>(b.bytes_read - a.bytes_read) / seconds / 1e6;
          out_msg = static_cast<double>(b.messages_read - a.messages_read) / seconds;
        }
      }
      const RingStats& s = sample.stats;
      const double used =
          static_cast<double>(s.writing_bytes + s.committed_bytes) / static_cast<double>(s.capacity_bytes);
      std::snprintf(line, sizeof line, "%-24s %10.1f %9.0f %10.1f %9.0f %5.0f%% %s\n", name.substr(0, 24).c_str(),
                    in_mb, in_msg, out_mb, out_msg, 100 * used, Bar(used, 20).c_str());
      screen += line;
      for (const auto& sub : s.subscribers) {
        std::snprintf(line, sizeof line, "  subscriber %-20s lag %8llu  missed %8llu%s\n", sub.name.c_str(),
                      static_cast<unsigned long long>(sub.lag), static_cast<unsigned long long>(sub.missed),
                      sub.alive ? "" : "  (dead)");
        screen += line;
      }
      previous[name] = std::move(sample);
    }
    rings = std::move(still);
    std::fwrite(screen.data(), 1, screen.size(), stdout);
    std::fflush(stdout);
    if (args.iterations > 0 && iteration + 1 >= args.iterations) break;
    // Wait for the next refresh or a key, whichever comes first.
    pollfd input{STDIN_FILENO, POLLIN, 0};
    const int ready = poll(&input, input_open ? 1 : 0, static_cast<int>(args.interval_seconds * 1000));
    if (ready > 0 && (input.revents & (POLLIN | POLLHUP))) {
      char key = 0;
      const ssize_t got = read(STDIN_FILENO, &key, 1);
      if (got <= 0) input_open = false;
      if (got == 1 && (key == 'q' || key == 'Q')) break;
    }
  }
  std::fputs("\n", stdout);
  return kExitOk;
}

}  // namespace arrowring::cli
