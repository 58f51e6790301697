// The subcommands of `arrowring`. Each returns the process exit code (cli_util.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace arrowring::cli {

struct CreateArgs {
  std::string name, capacity, policy = "block", mode = "0600";
  uint32_t max_messages = 0;
  bool retain = false;
  bool prefault = false;
};
int RunCreate(const CreateArgs& args);
int RunList(bool json);
struct StatArgs {
  std::string name;
  bool all = false;
  bool json = false;
  std::string format = "text";
};
int RunStat(const StatArgs& args);
int RunRemove(const std::string& name, bool force);
int RunRecover(const std::string& name, bool json);

struct PubArgs {
  std::string ring;
  std::vector<std::string> files;
  int64_t batch_rows = 0;
  double timeout_seconds = 10;
  bool json = false;
};
int RunPub(const PubArgs& args);

struct CatArgs {
  std::string ring, subscriber, format = "table", from = "new";
  int64_t limit = 0;                      // 0: no limit
  std::optional<double> timeout_seconds;  // empty: wait forever
};
int RunCat(const CatArgs& args);

struct TopArgs {
  double interval_seconds = 1.0;
  int64_t iterations = 0;  // 0: until q or Ctrl-C
};
int RunTop(const TopArgs& args);

struct DemoArgs {
  double seconds = 10;
  std::string ring;    // empty: a fresh name
  std::string output;  // empty: a file under $TMPDIR
  int64_t events_per_table = 4096;
  std::string capacity = "256MiB";
};
int RunDemo(const DemoArgs& args, const std::string& self_path);

struct DemoWorkerArgs {
  std::string role, ring, output;
  double seconds = 10;
  int64_t events_per_table = 4096;
};
int RunDemoWorker(const DemoWorkerArgs& args);

// The Flight bridge (built with ARROWRING_BUILD_BRIDGE; docs/bridge.md).
struct ServeArgs {
  std::string listen = "127.0.0.1:8815";
  std::vector<std::string> rings;  // empty: every ring of this host
  std::string tls_cert, tls_key, token_file;
  bool tls_self_signed = false;  // make (or reuse) a localhost certificate: self_signed_tls.h
  bool insecure = false;
  bool json = false;
  double interval = 2.0;  // seconds between progress lines
  size_t window = 16;     // tables a stream holds sent but unacknowledged
};
int RunServe(const ServeArgs& args);

struct BridgeClientArgs {
  std::string token_file, tls_roots, subscriber;
  bool json = false;
  double interval = 2.0;
};
struct BridgePullArgs {
  std::string from, into, cursor;
  BridgeClientArgs client;
};
int RunBridgePull(const BridgePullArgs& args);
struct BridgePushArgs {
  std::string from, to;
  BridgeClientArgs client;
};
int RunBridgePush(const BridgePushArgs& args);

}  // namespace arrowring::cli
