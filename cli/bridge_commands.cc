// serve, bridge pull, bridge push: rings across hosts through Arrow Flight (docs/bridge.md).
//
// Threads and signals. Each command blocks SIGINT, SIGTERM and SIGUSR1 in the main thread
// before any other thread exists (gRPC's threads inherit the mask), then the main thread
// waits for them with sigtimedwait, printing progress at each interval. A signal handler
// could only set a flag; here the main thread itself receives the signal, stops the bridge
// with the ordinary (non-signal-safe) calls, and waits for it. The worker thread running the
// pull or push sends SIGUSR1 to the main thread when it ends on its own (an error).
// A second SIGINT/SIGTERM while stopping exits at once.
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <thread>

#include <arrow/flight/types.h>

#include "arrowring/bridge/auth.h"
#include "arrowring/bridge/puller.h"
#include "arrowring/bridge/pusher.h"
#include "arrowring/bridge/server.h"
#include "cli_util.h"
#include "commands.h"
#include "self_signed_tls.h"

namespace arrowring::cli {
namespace {

namespace flight = arrow::flight;
using Clock = std::chrono::steady_clock;

std::mutex output_mutex;

// One line to stdout (progress, JSON) or stderr (logs), whole, even from gRPC's threads.
void Line(std::ostream& out, const std::string& line) {
  std::lock_guard lock(output_mutex);
  out << line << '\n' << std::flush;
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  for (char c : text) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char escaped[8];
          std::snprintf(escaped, sizeof escaped, "\\u%04x", c);
          out += escaped;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

// Exit codes of a remote failure, the same as for a local one of the same kind.
int FailRemote(std::string_view command, const arrow::Status& status) {
  Line(std::cerr, "arrowring " + std::string(command) + ": " + status.message());
  auto detail = flight::FlightStatusDetail::UnwrapStatus(status);
  if (detail && (detail->code() == flight::FlightStatusCode::Unauthenticated ||
                 detail->code() == flight::FlightStatusCode::Unauthorized)) {
    return kExitPermission;
  }
  if (status.IsKeyError()) return kExitNotFound;
  return kExitFailure;
}

int Usage(std::string_view command, const std::string& message) {
  Line(std::cerr, "arrowring " + std::string(command) + ": " + message);
  return kExitUsage;
}

// A whole small file (certificate, key, roots), or an error that names the option.
arrow::Result<std::string> ReadSmallFile(const std::string& path, const std::string& option) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return arrow::Status::IOError("cannot read ", option, " file '", path, "'");
  std::stringstream content;
  content << in.rdbuf();
  if (content.str().empty()) return arrow::Status::Invalid(option, " file '", path, "' is empty");
  return content.str();
}

arrow::Result<std::string> ReadToken(const std::string& path, const std::string& command) {
  struct stat info {};
  if (::stat(path.c_str(), &info) == 0 && (info.st_mode & 0077) != 0) {
    // Not refused (a group may share a token on purpose), but said: the token is the key.
    Line(std::cerr, "arrowring " + command + ": warning: token file '" + path +
                        "' is readable by others than its owner (chmod 600 it)");
  }
  auto token = bridge::ReadTokenFile(path);
  if (!token.ok()) return token.status().WithMessage("--token-file: ", token.status().message());
  return token;
}

// "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT" (host 127.0.0.1).
arrow::Status ParseListen(const std::string& text, std::string* host, int* port) {
  auto bad = [&] {
    return arrow::Status::Invalid("--listen '", text,
                                  "' is not HOST:PORT (e.g. 127.0.0.1:8815, [::1]:8815, "
                                  "0.0.0.0:8815; port 0 picks a free one)");
  };
  std::string port_text = text;
  *host = "127.0.0.1";
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string::npos) return bad();
    *host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
  } else if (auto colon = text.rfind(':'); colon != std::string::npos) {
    if (colon > 0) *host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
  }
  int value = -1;
  auto [end, error] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
  if (host->empty() || error != std::errc() || end != port_text.data() + port_text.size() || value < 0 ||
      value > 65535) {
    return bad();
  }
  *port = value;
  return arrow::Status::OK();
}

// Blocks the stop signals (and our wake-up signal) in the calling thread and every thread it
// starts afterwards; Wait() takes them synchronously.
class Signals {
 public:
  enum class Event { kTimeout, kStop, kWake };
  Signals() : main_(pthread_self()) {
    // gRPC logs to stderr through absl (unprefixed lines, and absl's "WARNING: All log
    // messages before absl::InitializeLog() ..." before the first), e.g. for a key that is
    // not the certificate's; our own lines say what matters. absl's InitializeLog and
    // SetMinLogLevel are not exported by libarrow_flight, but gRPC sets absl's minimum level
    // from GRPC_VERBOSITY when it starts: NONE turns its log off. A user's own setting wins
    // (GRPC_VERBOSITY=ERROR to diagnose a connection; docs/bridge.md).
    setenv("GRPC_VERBOSITY", "NONE", /*overwrite=*/0);
    sigemptyset(&set_);
    sigaddset(&set_, SIGINT);
    sigaddset(&set_, SIGTERM);
    sigaddset(&set_, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
  }
  Event Wait(std::chrono::duration<double> timeout) {
    auto nanoseconds = std::chrono::duration_cast<std::chrono::nanoseconds>(timeout).count();
    timespec wait{static_cast<time_t>(nanoseconds / 1'000'000'000), static_cast<long>(nanoseconds % 1'000'000'000)};
    int signal = sigtimedwait(&set_, nullptr, &wait);
    if (signal == SIGINT || signal == SIGTERM) return Event::kStop;
    if (signal == SIGUSR1) return Event::kWake;
    return Event::kTimeout;  // EAGAIN, or EINTR from a signal we do not wait for
  }
  // From the worker thread: wake the main thread's Wait().
  void Wake() { pthread_kill(main_, SIGUSR1); }

 private:
  sigset_t set_;
  pthread_t main_;
};

// Rates between two progress lines.
struct Rate {
  Clock::time_point at = Clock::now();
  uint64_t tables = 0, bytes = 0;
  std::pair<double, double> Update(uint64_t now_tables, uint64_t now_bytes) {
    auto now = Clock::now();
    double seconds = std::chrono::duration<double>(now - at).count();
    std::pair<double, double> rate{0, 0};
    // Counters only grow; a smaller one (never expected) gives no rate rather than a wrapped one.
    if (seconds > 0 && now_tables >= tables && now_bytes >= bytes) {
      rate = {static_cast<double>(now_tables - tables) / seconds, static_cast<double>(now_bytes - bytes) / seconds};
    }
    at = now;
    tables = now_tables;
    bytes = now_bytes;
    return rate;
  }
};

std::string Fixed(double value, int digits = 1) {
  char text[64];
  std::snprintf(text, sizeof text, "%.*f", digits, value);
  return text;
}

// Counters of one pull or push, for progress and the final line.
struct Counters {
  uint64_t tables, bytes, gaps, duplicates, dropped, reconnects;
  int64_t last_sequence;
  uint64_t resent = 0;  ///< push: tables sent again after a reconnect (the server skips them)
};

void PrintProgress(const std::string& command, const std::string& event, bool json, const Counters& c, Rate& rate) {
  auto [tables_per_second, bytes_per_second] = rate.Update(c.tables, c.bytes);
  if (json) {
    Line(std::cout,
         "{\"event\":\"" + event + "\",\"command\":\"" + command + "\",\"tables\":" + std::to_string(c.tables) +
             ",\"bytes\":" + std::to_string(c.bytes) + ",\"tables_per_second\":" + Fixed(tables_per_second) +
             ",\"bytes_per_second\":" + Fixed(bytes_per_second, 0) + ",\"gaps\":" + std::to_string(c.gaps) +
             ",\"duplicates\":" + std::to_string(c.duplicates) + ",\"dropped\":" + std::to_string(c.dropped) +
             ",\"reconnects\":" + std::to_string(c.reconnects) + ",\"resent\":" + std::to_string(c.resent) +
             ",\"last_sequence\":" + std::to_string(c.last_sequence) + "}");
    return;
  }
  Line(std::cout, "arrowring " + command + ": " + (event == "stopped" ? "stopped: " : "") + std::to_string(c.tables) +
                      " tables, " + HumanBytes(c.bytes) + ", " + HumanBytes(bytes_per_second) + "/s, " +
                      Fixed(tables_per_second) + " tables/s; gaps " + std::to_string(c.gaps) + ", duplicates " +
                      std::to_string(c.duplicates) + ", dropped at source " + std::to_string(c.dropped) +
                      ", reconnects " + std::to_string(c.reconnects) +
                      (command == "bridge push" ? ", resent " + std::to_string(c.resent) : ""));
}

// Runs `client` (a Puller or Pusher) on a worker thread; the main thread prints progress,
// stops it on SIGINT/SIGTERM, and returns its final status.
template <typename Client, typename Snapshot>
arrow::Status RunClient(const std::string& command, Client& client, double interval, bool json, Signals& signals,
                        Snapshot snapshot) {
  arrow::Status status;
  std::atomic<bool> done{false};
  std::thread worker([&] {
    status = client.Run();
    done = true;
    signals.Wake();
  });
  Rate rate;
  bool stopping = false;
  while (!done) {
    auto event = signals.Wait(std::chrono::duration<double>(interval));
    if (event == Signals::Event::kStop) {
      if (stopping) {
        // The user asked twice: do not wait for the server any longer.
        Line(std::cerr, "arrowring " + command + ": second signal, exiting without waiting");
        std::fflush(nullptr);
        _exit(130);
      }
      stopping = true;
      Line(std::cerr, "arrowring " + command + ": stopping (again to exit at once)");
      client.Stop();
    } else if (event == Signals::Event::kTimeout && !done) {
      PrintProgress(command, "progress", json, snapshot(), rate);
    }
  }
  worker.join();
  PrintProgress(command, "stopped", json, snapshot(), rate);
  return status;
}

// "bridge-<LOCAL>": one durable subscriber per destination, so that two hosts pulling the
// same ring into rings of different names do not take each other's stream over. Ring names
// may hold characters a subscriber name may not ('=' and '+' in the seed framework's names):
// those become '_', and the name is cut to the 80 characters a subscriber name may have.
std::string DefaultSubscriber(const std::string& local) {
  std::string name = "bridge-" + local;
  for (char& c : name) {
    bool portable =
        (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!portable) c = '_';
  }
  if (name.size() > 80) name.resize(80);
  return name;
}

std::string DefaultCursorPath(const std::string& remote_ring, const std::string& local) {
  const char* state = std::getenv("XDG_STATE_HOME");
  const char* home = std::getenv("HOME");
  std::string folder = state && *state ? std::string(state) + "/arrowring"
                       : home && *home ? std::string(home) + "/.local/state/arrowring"
                                       : std::string();
  if (folder.empty()) return {};
  return folder + "/pull-" + remote_ring + "-into-" + local + ".cursor";
}

arrow::Status MakeFolders(const std::string& file) {
  auto slash = file.rfind('/');
  if (slash == std::string::npos || slash == 0) return arrow::Status::OK();
  std::string folder = file.substr(0, slash);
  for (size_t at = 1; at <= folder.size(); ++at) {
    if (at == folder.size() || folder[at] == '/') {
      std::string prefix = folder.substr(0, at);
      if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
        return arrow::Status::IOError("cannot create folder '", prefix, "' for the cursor file");
      }
    }
  }
  return arrow::Status::OK();
}

// The client options both bridge commands share.
arrow::Result<bridge::ClientOptions> ClientOptionsFrom(const BridgeClientArgs& args, const std::string& command) {
  bridge::ClientOptions options;
  if (!args.token_file.empty()) {
    ARROW_ASSIGN_OR_RAISE(options.token, ReadToken(args.token_file, command));
  }
  if (!args.tls_roots.empty()) {
    ARROW_ASSIGN_OR_RAISE(options.tls_roots, ReadSmallFile(args.tls_roots, "--tls-roots"));
  }
  options.log = [command](const std::string& line) { Line(std::cerr, "arrowring " + command + ": " + line); };
  return options;
}

}  // namespace

int RunServe(const ServeArgs& args) {
  const std::string command = "serve";
  Signals signals;
  bridge::ServerOptions options;
  if (auto st = ParseListen(args.listen, &options.host, &options.port); !st.ok()) {
    return Usage(command, st.message());
  }
  if (args.tls_cert.empty() != args.tls_key.empty()) {
    return Usage(command, "TLS needs both --tls-cert and --tls-key");
  }
  if (args.interval <= 0) return Usage(command, "--interval must be positive");
  std::string tls_cert = args.tls_cert, tls_key = args.tls_key;
  if (args.tls_self_signed) {
    if (!tls_cert.empty()) return Usage(command, "give either --tls-self-signed or --tls-cert/--tls-key, not both");
    if (!IsLoopbackHost(options.host)) {
      return Usage(command,
                   "--tls-self-signed makes a certificate for localhost, 127.0.0.1 and ::1 only, which "
                   "clients of " +
                       options.host +
                       " would refuse; make one that names the address they "
                       "dial and pass --tls-cert/--tls-key (docs/bridge.md)");
    }
    auto made = EnsureSelfSignedTls();
    if (!made.ok()) {
      Line(std::cerr, "arrowring serve: " + made.status().message());
      return made.status().IsInvalid() ? kExitUsage : kExitFailure;
    }
    Line(std::cerr, "arrowring serve: " + std::string(made->made ? "made" : "using") +
                        " a self-signed certificate for localhost, 127.0.0.1 and ::1: " + made->cert_path + " (key " +
                        made->key_path + ", mode 0600); clients pass --tls-roots " + made->cert_path);
    tls_cert = made->cert_path;
    tls_key = made->key_path;
  }
  if (!tls_cert.empty()) {
    auto cert = ReadSmallFile(tls_cert, "--tls-cert");
    auto key = ReadSmallFile(tls_key, "--tls-key");
    if (!cert.ok()) return Usage(command, cert.status().message());
    if (!key.ok()) return Usage(command, key.status().message());
    options.tls_cert = *cert;
    options.tls_key = *key;
  }
  if (!args.token_file.empty()) {
    auto token = ReadToken(args.token_file, command);
    if (!token.ok()) return Usage(command, token.status().message());
    options.token = *token;
  }
  options.rings = args.rings;
  options.insecure = args.insecure;
  options.window = args.window;
  options.log = [command](const std::string& line) { Line(std::cerr, "arrowring " + command + ": " + line); };
  for (const auto& ring : args.rings) {
    if (!Ring::Attach(ring).ok()) {
      Line(std::cerr, "arrowring serve: note: ring '" + ring +
                          "' does not exist yet; clients get 'unknown ring' until it is created");
    }
  }
  auto server = bridge::RingServer::Start(options);
  if (!server.ok()) {
    // Options we refuse (non-loopback without TLS and token, a bad certificate) are usage
    // errors; failing to bind is not.
    const auto& status = server.status();
    Line(std::cerr, "arrowring serve: " + status.message());
    return status.IsInvalid() ? kExitUsage : kExitFailure;
  }
  const bool tls = !options.tls_cert.empty();
  std::string host = options.host.find(':') != std::string::npos ? "[" + options.host + "]" : options.host;
  std::string location = std::string(tls ? "grpc+tls://" : "grpc://") + host + ":" + std::to_string((*server)->port());
  std::string rings;
  for (const auto& ring : args.rings) rings += (rings.empty() ? "" : ",") + ring;
  if (args.json) {
    std::string list;
    for (const auto& ring : args.rings) list += (list.empty() ? "" : ",") + JsonString(ring);
    Line(std::cout, "{\"event\":\"listening\",\"location\":" + JsonString(location) +
                        ",\"port\":" + std::to_string((*server)->port()) + ",\"tls\":" + (tls ? "true" : "false") +
                        ",\"token\":" + (options.token.empty() ? "false" : "true") + ",\"rings\":[" + list + "]" +
                        (args.tls_self_signed ? ",\"tls_roots\":" + JsonString(tls_cert) : std::string()) + "}");
  } else {
    Line(std::cout, "arrowring serve: listening on " + location +
                        " (rings: " + (rings.empty() ? "every ring of this host" : rings) +
                        "; token: " + (options.token.empty() ? "none" : "required") + ")");
  }
  if (!tls || options.token.empty()) {
    Line(std::cerr, std::string("arrowring serve: warning: ") +
                        (tls ? "no token: anyone who reaches this port may read and write the rings"
                             : "no TLS: data and tokens cross the network in clear") +
                        " (fine on 127.0.0.1; see docs/bridge.md)");
  }
  Rate rate;
  auto print = [&](const std::string& event) {
    auto stats = (*server)->stats();
    // Totals over the server's whole life: streams that ended, or were released at stop, count.
    const uint64_t sent = stats.tables_sent, bytes = stats.bytes_sent, missed = stats.missed;
    uint64_t active = 0;
    for (const auto& stream : stats.streams) active += stream.active;
    auto [tables_per_second, bytes_per_second] =
        rate.Update(sent + stats.tables_received, bytes + stats.bytes_received);
    if (args.json) {
      Line(std::cout,
           "{\"event\":\"" + event + "\",\"command\":\"serve\",\"streams\":" + std::to_string(stats.streams.size()) +
               ",\"active_streams\":" + std::to_string(active) + ",\"tables_sent\":" + std::to_string(sent) +
               ",\"bytes_sent\":" + std::to_string(bytes) + ",\"tables_received\":" +
               std::to_string(stats.tables_received) + ",\"bytes_received\":" + std::to_string(stats.bytes_received) +
               ",\"tables_per_second\":" + Fixed(tables_per_second) + ",\"bytes_per_second\":" +
               Fixed(bytes_per_second, 0) + ",\"duplicates\":" + std::to_string(stats.duplicates_received) +
               ",\"dropped\":" + std::to_string(missed) + ",\"rejected\":" + std::to_string(stats.rejected) + "}");
    } else {
      Line(std::cout, "arrowring serve: " + std::string(event == "stopped" ? "stopped: " : "") +
                          std::to_string(active) + " active stream(s); sent " + std::to_string(sent) + " tables, " +
                          HumanBytes(bytes) + "; received " + std::to_string(stats.tables_received) + " tables, " +
                          HumanBytes(stats.bytes_received) + "; " + HumanBytes(bytes_per_second) + "/s, " +
                          Fixed(tables_per_second) + " tables/s; duplicates " +
                          std::to_string(stats.duplicates_received) + ", dropped at source " + std::to_string(missed) +
                          ", rejected calls " + std::to_string(stats.rejected));
    }
  };
  while (true) {
    auto event = signals.Wait(std::chrono::duration<double>(args.interval));
    if (event == Signals::Event::kStop) break;
    if (event == Signals::Event::kTimeout) print("progress");
  }
  Line(std::cerr, "arrowring serve: stopping");
  auto status = (*server)->Stop();
  print("stopped");
  server->reset();
  if (!status.ok()) return FailRemote(command, status);
  return kExitOk;
}

int RunBridgePull(const BridgePullArgs& args) {
  const std::string command = "bridge pull";
  Signals signals;
  if (args.client.interval <= 0) return Usage(command, "--interval must be positive");
  auto remote = bridge::RemoteRing::Parse(args.from);
  if (!remote.ok()) return Usage(command, remote.status().message());
  auto options = ClientOptionsFrom(args.client, command);
  if (!options.ok()) return Usage(command, options.status().message());
  auto local = AttachRing(args.into);
  if (!local.ok()) {
    return Fail(command, local.error().code,
                local.error().message + " (--into: create it first with `arrowring create`)");
  }
  bridge::PullOptions pull;
  pull.client = std::move(*options);
  pull.subscriber = args.client.subscriber.empty() ? DefaultSubscriber(args.into) : args.client.subscriber;
  pull.cursor_path = args.cursor.empty() ? DefaultCursorPath(remote->ring, args.into) : args.cursor;
  if (!pull.cursor_path.empty()) {
    if (auto st = MakeFolders(pull.cursor_path); !st.ok()) return FailRemote(command, st);
  }
  auto puller = bridge::Puller::Make(*remote, std::move(*local), pull);
  if (!puller.ok()) return FailRemote(command, puller.status());
  Line(std::cerr, "arrowring " + command + ": " + remote->location + "/" + remote->ring + " -> " + args.into +
                      " (cursor " + (pull.cursor_path.empty() ? std::string("in memory") : pull.cursor_path) + ")");
  auto& client = **puller;
  auto status = RunClient(command, client, args.client.interval, args.client.json, signals, [&] {
    const auto& s = client.stats();
    return Counters{s.tables, s.bytes, s.gap, s.duplicates, s.source_missed, s.reconnects, s.last_sequence};
  });
  if (!status.ok()) return FailRemote(command, status);
  return kExitOk;
}

int RunBridgePush(const BridgePushArgs& args) {
  const std::string command = "bridge push";
  Signals signals;
  if (args.client.interval <= 0) return Usage(command, "--interval must be positive");
  auto remote = bridge::RemoteRing::Parse(args.to);
  if (!remote.ok()) return Usage(command, remote.status().message());
  auto options = ClientOptionsFrom(args.client, command);
  if (!options.ok()) return Usage(command, options.status().message());
  auto local = AttachRing(args.from);
  if (!local.ok()) return Fail(command, local.error());
  bridge::PushOptions push;
  push.client = std::move(*options);
  push.subscriber = args.client.subscriber.empty() ? "bridge-push" : args.client.subscriber;
  auto pusher = bridge::Pusher::Make(std::move(*local), *remote, push);
  if (!pusher.ok()) return FailRemote(command, pusher.status());
  auto& client = **pusher;
  auto status = RunClient(command, client, args.client.interval, args.client.json, signals, [&] {
    const auto& s = client.stats();
    return Counters{s.tables, s.bytes, 0, 0, s.missed, s.reconnects, s.last_sequence, s.resent};
  });
  if (!status.ok()) return FailRemote(command, status);
  return kExitOk;
}

}  // namespace arrowring::cli
