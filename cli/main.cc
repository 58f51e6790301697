// arrowring: the command line. Subcommand names, options and --json fields are a contract
// (docs/cli.md).
#include <unistd.h>

#include <climits>
#include <exception>
#include <iostream>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli_util.h"
#include "commands.h"

namespace {

std::string SelfPath(const char* argv0) {
  char path[PATH_MAX];
  const ssize_t length = readlink("/proc/self/exe", path, sizeof path - 1);
  if (length <= 0) return argv0;
  path[length] = '\0';
  return path;
}

// The subcommand of `parent` called `name` (hidden ones included), or null.
CLI::App* FindCommand(CLI::App* parent, std::string_view name) {
  for (CLI::App* command : parent->get_subcommands({})) {
    if (command->check_name(std::string(name))) return command;
  }
  return nullptr;
}

// "create, ls, stat, ...": the visible subcommands of `parent`.
std::string CommandList(CLI::App* parent) {
  std::string list;
  for (CLI::App* command : parent->get_subcommands({})) {
    if (command->get_group().empty()) continue;  // hidden
    list += (list.empty() ? "" : ", ") + command->get_name();
  }
  return list;
}

// What the arguments name before CLI11 parses them: the command (and sub-command) path, e.g.
// {app, bridge, pull}, and the first word that names no command where one was expected.
struct Scan {
  std::vector<CLI::App*> path;
  std::string unknown;
};
Scan ScanCommands(CLI::App* app, int argc, char** argv) {
  Scan scan{{app}, {}};
  for (int i = 1; i < argc; ++i) {
    CLI::App* current = scan.path.back();
    if (current->get_subcommands({}).empty()) break;  // the rest are the command's arguments
    const std::string_view word = argv[i];
    if (word.starts_with('-')) continue;  // --help, --version: flags, they take no value
    CLI::App* command = FindCommand(current, word);
    if (command == nullptr) {
      scan.unknown = word;
      break;
    }
    scan.path.push_back(command);
  }
  return scan;
}

// "arrowring bridge pull": the prefix of every message about this command line.
std::string Prefix(const std::vector<CLI::App*>& path) {
  std::string prefix = "arrowring";
  for (size_t i = 1; i < path.size(); ++i) prefix += " " + path[i]->get_name();
  return prefix;
}

// The command line: parses it and runs the command, which reports its own errors.
int Run(int argc, char** argv) {
  using namespace arrowring::cli;
  CLI::App app{"arrowring: zero-copy Arrow tables between processes through shared-memory rings", "arrowring"};
  app.require_subcommand(0, 1);  // none: usage on stderr, exit 2 (below)
  app.set_help_all_flag("--help-all", "Every subcommand's help");
  app.set_version_flag("--version", std::string("arrowring ") + ARROWRING_VERSION, "Print the version and exit");

  CreateArgs create;
  auto* create_cmd = app.add_subcommand("create", "Create a ring");
  create_cmd->add_option("name", create.name, "Ring name: 1-200 bytes, any character but '/' and control characters")
      ->required();
  create_cmd->add_option("--capacity", create.capacity, "Data bytes, e.g. 256MiB, 1GiB, 4096")->required();
  create_cmd->add_option("--policy", create.policy, "When full: block (lossless), fail, drop-oldest")
      ->capture_default_str();
  create_cmd->add_option("--mode", create.mode, "Permissions: 0600 (owner) or 0660 (owner and group)")
      ->capture_default_str();
  create_cmd->add_option("--max-messages", create.max_messages, "Messages in the ring at once (0: capacity/4KiB)");
  create_cmd->add_flag("--retain", create.retain,
                       "Keep every message loadable until its space is needed (history for cat --from oldest)");
  create_cmd->add_flag("--prefault", create.prefault,
                       "Map the whole ring in at create and at every attach: no page faults on the first lap");

  bool json = false;
  auto* ls_cmd = app.add_subcommand("ls", "List every ring on this machine");
  ls_cmd->add_flag("--json", json, "JSON output (see docs/cli.md)");

  std::string name;
  StatArgs stat;
  auto* stat_cmd = app.add_subcommand("stat", "A ring's geometry, counters, holders and subscribers");
  stat_cmd->add_option("name", stat.name, "Ring name");
  stat_cmd->add_flag("--all", stat.all, "Every ring this user can read (with --format json or prometheus)");
  stat_cmd->add_flag("--json", stat.json, "JSON output (same as --format json; see docs/cli.md)");
  stat_cmd->add_option("--format", stat.format, "text, json or prometheus (Prometheus text for node_exporter)")
      ->check(CLI::IsMember({"text", "json", "prometheus"}));

  TopArgs top;
  auto* top_cmd = app.add_subcommand("top", "Live view of all rings (q or Ctrl-C quits)");
  top_cmd->add_option("--interval", top.interval_seconds, "Seconds between refreshes")->capture_default_str();
  top_cmd->add_option("--iterations", top.iterations, "Stop after N refreshes (0: never)");

  bool force = false;
  auto* rm_cmd = app.add_subcommand("rm", "Remove a ring (refuses one in use unless --force)");
  rm_cmd->add_option("name", name, "Ring name")->required();
  rm_cmd->add_flag("--force", force, "Remove even if processes use it");

  auto* recover_cmd = app.add_subcommand("recover", "Reclaim what dead processes held");
  recover_cmd->add_option("name", name, "Ring name")->required();
  recover_cmd->add_flag("--json", json, "JSON output (see docs/cli.md)");

  PubArgs pub;
  auto* pub_cmd = app.add_subcommand("pub", "Publish tables from Arrow IPC, Parquet or CSV files");
  pub_cmd->add_option("name", pub.ring, "Ring name")->required();
  pub_cmd->add_option("files", pub.files, "Input files")->required()->check(CLI::ExistingFile);
  pub_cmd->add_option("--batch-rows", pub.batch_rows, "Publish in messages of N rows (default: a file a message)");
  pub_cmd->add_option("--timeout", pub.timeout_seconds, "Seconds to wait for room in a full ring")
      ->capture_default_str();
  pub_cmd->add_flag("--json", pub.json, "One JSON object per file");

  CatArgs cat;
  double cat_timeout = -1;
  auto* cat_cmd = app.add_subcommand("cat", "Subscribe and print what arrives");
  cat_cmd->add_option("name", cat.ring, "Ring name")->required();
  cat_cmd->add_option("--subscriber", cat.subscriber, "Subscriber name (default: cat-<pid>)");
  cat_cmd->add_option("--format", cat.format, "table, csv, jsonl, or arrow (one IPC stream on stdout)")
      ->capture_default_str();
  cat_cmd
      ->add_option("--from", cat.from,
                   "new (messages published from now on) or oldest (every message "
                   "still in the ring first)")
      ->check(CLI::IsMember({"new", "oldest"}))
      ->capture_default_str();
  cat_cmd->add_option("--limit", cat.limit, "End after N messages");
  cat_cmd->add_option("--timeout", cat_timeout, "End after SEC seconds without a new message");

  DemoArgs demo;
  auto* demo_cmd = app.add_subcommand("demo", "The main job: producer, verifier and storage processes");
  demo_cmd->add_option("--seconds", demo.seconds, "How long the producer publishes")->capture_default_str();
  demo_cmd->add_option("--ring", demo.ring, "Ring name (default: demo-<pid>); created and removed");
  demo_cmd->add_option("--capacity", demo.capacity, "Ring capacity")->capture_default_str();
  demo_cmd->add_option("--events-per-table", demo.events_per_table, "Events per table")->capture_default_str();
  demo_cmd->add_option("--output", demo.output, "Arrow IPC file the storage subscriber writes");

  DemoWorkerArgs worker;
  auto* worker_cmd = app.add_subcommand("demo-worker", "One process of the demo (internal)");
  worker_cmd->group("");  // Hidden from --help.
  worker_cmd->add_option("--role", worker.role)->required();
  worker_cmd->add_option("--ring", worker.ring)->required();
  worker_cmd->add_option("--seconds", worker.seconds);
  worker_cmd->add_option("--events-per-table", worker.events_per_table);
  worker_cmd->add_option("--output", worker.output);

#ifdef ARROWRING_WITH_BRIDGE
  ServeArgs serve;
  auto* serve_cmd = app.add_subcommand("serve", "Serve this host's rings over Arrow Flight (docs/bridge.md)");
  serve_cmd->add_option("--listen", serve.listen, "HOST:PORT to listen on (port 0: a free one)")->capture_default_str();
  serve_cmd->add_option("--ring", serve.rings, "A ring clients may use (repeat; default: every ring)");
  serve_cmd->add_option("--tls-cert", serve.tls_cert, "PEM certificate (chain) file: serve TLS");
  serve_cmd->add_option("--tls-key", serve.tls_key, "PEM private key file of --tls-cert");
  serve_cmd->add_flag("--tls-self-signed", serve.tls_self_signed,
                      "TLS with a certificate for localhost/127.0.0.1 made (once) under "
                      "~/.local/state/arrowring/tls; clients: --tls-roots <its .crt>");
  serve_cmd->add_option("--token-file", serve.token_file, "File holding the bearer token every call must carry");
  serve_cmd->add_flag("--insecure", serve.insecure, "Allow a non-loopback address without TLS and a token");
  serve_cmd->add_option("--window", serve.window, "Tables a stream may have sent but unacknowledged")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  serve_cmd->add_option("--interval", serve.interval, "Seconds between progress lines")->capture_default_str();
  serve_cmd->add_flag("--json", serve.json, "JSON lines on stdout (see docs/bridge.md)");

  auto* bridge_cmd = app.add_subcommand("bridge", "Connect a local ring to a remote one over Arrow Flight");
  bridge_cmd->require_subcommand(0, 1);  // none: its usage on stderr, exit 2 (below)
  auto add_client_options = [](CLI::App* cmd, BridgeClientArgs& client) {
    cmd->add_option("--token-file", client.token_file, "File holding the server's bearer token");
    cmd->add_option("--tls-roots", client.tls_roots, "PEM file of the roots to verify a grpc+tls:// server with");
    cmd->add_option("--subscriber", client.subscriber, "Subscriber name (pull: on the server; push: local)");
    cmd->add_option("--interval", client.interval, "Seconds between progress lines")->capture_default_str();
    cmd->add_flag("--json", client.json, "JSON lines on stdout (see docs/bridge.md)");
  };
  BridgePullArgs pull;
  auto* pull_cmd = bridge_cmd->add_subcommand("pull", "Republish a remote ring into a local one");
  pull_cmd->add_option("from", pull.from, "grpc://HOST:PORT/RING or grpc+tls://HOST:PORT/RING")->required();
  pull_cmd->add_option("--into", pull.into, "Local ring to publish into")->required();
  pull_cmd->add_option("--cursor", pull.cursor,
                       "File recording the last table committed (default under ~/.local/state/arrowring)");
  add_client_options(pull_cmd, pull.client);
  BridgePushArgs push;
  auto* push_cmd = bridge_cmd->add_subcommand("push", "Publish a local ring's tables into a remote ring");
  push_cmd->add_option("from", push.from, "Local ring to read")->required();
  push_cmd->add_option("--to", push.to, "grpc://HOST:PORT/RING or grpc+tls://HOST:PORT/RING")->required();
  add_client_options(push_cmd, push.client);
#endif

  std::vector<std::string> help_topic;
  auto* help_cmd = app.add_subcommand("help", "Help on arrowring, or on one command: help [COMMAND...]");
  help_cmd->add_option("command", help_topic, "A command, e.g. create, or bridge pull");

  const Scan scan = ScanCommands(&app, argc, argv);
  if (!scan.unknown.empty()) {
    std::cerr << Prefix(scan.path) << ": unknown command '" << scan.unknown << "'; the commands are "
              << CommandList(scan.path.back()) << " ('arrowring help' says what each does)\n";
    return kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    if (error.get_exit_code() == 0) return app.exit(error);  // --help, --help-all, --version
    // CLI11's own message ("Could not convert: --interval = abc"), with the command it is about.
    std::cerr << Prefix(scan.path) << ": " << error.what() << " (see '" << Prefix(scan.path) << " --help')\n";
    return kExitUsage;
  }
  // A command that needs a subcommand and got none: its usage, as an error.
  for (CLI::App* command : scan.path) {
    if (command->get_subcommands({}).empty() || !command->get_subcommands().empty()) {
      continue;
    }
    std::cerr << command->help(command == &app ? "" : "arrowring") << "\n"
              << Prefix(scan.path) << ": a command is required: " << CommandList(command) << "\n";
    return kExitUsage;
  }
  if (*help_cmd) {
    CLI::App* topic = &app;
    for (const std::string& word : help_topic) {
      CLI::App* command = topic->get_subcommands({}).empty() ? nullptr : FindCommand(topic, word);
      if (command == nullptr) {
        std::cerr << "arrowring help: unknown command '" << word << "'; the commands are " << CommandList(topic)
                  << "\n";
        return kExitUsage;
      }
      topic = command;
    }
    std::string name = "arrowring";  // the usage line's: "arrowring bridge pull"
    for (const std::string& word : help_topic) name += " " + word;
    // The formatter itself: App::help() of the app would describe the selected `help`.
    std::cout << topic->get_formatter()->make_help(topic, name, CLI::AppFormatMode::Normal);
    return kExitOk;
  }
  if (cat_timeout >= 0) cat.timeout_seconds = cat_timeout;

  if (*create_cmd) return RunCreate(create);
  if (*ls_cmd) return RunList(json);
  if (*stat_cmd) return RunStat(stat);
  if (*top_cmd) return RunTop(top);
  if (*rm_cmd) return RunRemove(name, force);
  if (*recover_cmd) return RunRecover(name, json);
  if (*pub_cmd) return RunPub(pub);
  if (*cat_cmd) return RunCat(cat);
  if (*demo_cmd) return RunDemo(demo, SelfPath(argv[0]));
  if (*worker_cmd) return RunDemoWorker(worker);
#ifdef ARROWRING_WITH_BRIDGE
  if (*serve_cmd) return RunServe(serve);
  if (*pull_cmd) return RunBridgePull(pull);
  if (*push_cmd) return RunBridgePush(push);
#endif
  return kExitUsage;
}

}  // namespace

// An exception no command caught (a bug, or memory exhausted) ends the process with its
// message and kExitFailure after unwinding the stack, so that destructors still run (a demo's
// ring is removed), rather than through std::terminate.
int main(int argc, char** argv) {
  try {
    return Run(argc, argv);
  } catch (const std::exception& error) {
    std::cerr << "arrowring: unexpected error: " << error.what() << "\n";
  } catch (...) {
    std::cerr << "arrowring: unexpected error (an exception of unknown type)\n";
  }
  return arrowring::cli::kExitFailure;
}
