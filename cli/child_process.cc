#include "child_process.h"

#include <poll.h>
#include <spawn.h>
#include <unistd.h>

#include <sstream>

extern char** environ;

namespace arrowring::cli {

bool Spawn(Worker& worker, const std::string& self, const std::vector<std::string>& arguments) {
  int fds[2];
  if (pipe(fds) != 0) return false;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, fds[0]);
  posix_spawn_file_actions_addclose(&actions, fds[1]);
  std::vector<char*> argv;
  argv.reserve(arguments.size() + 1);
  for (const auto& argument : arguments) argv.push_back(const_cast<char*>(argument.c_str()));
  argv.push_back(nullptr);
  const int result = posix_spawn(&worker.pid, self.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  worker.output = fds[0];
  return result == 0;
}

// Reads what is available; returns complete lines.
std::vector<std::string> ReadLines(Worker& worker) {
  std::vector<std::string> lines;
  char chunk[4096];
  const ssize_t got = read(worker.output, chunk, sizeof chunk);
  if (got <= 0) {
    close(worker.output);
    worker.output = -1;
    return lines;
  }
  worker.buffer.append(chunk, static_cast<size_t>(got));
  size_t newline;
  while ((newline = worker.buffer.find('\n')) != std::string::npos) {
    lines.push_back(worker.buffer.substr(0, newline));
    worker.buffer.erase(0, newline + 1);
  }
  return lines;
}

void TakeLine(Worker& worker, const std::string& line) {
  if (line == "ready") return;
  std::istringstream words(line);
  std::string word;
  while (words >> word) {
    const size_t equals = word.find('=');
    if (equals != std::string::npos) worker.report[word.substr(0, equals)] = word.substr(equals + 1);
  }
  worker.reported = true;
}

// Waits (poll, up to `timeout_ms`) for output from any worker and consumes it.
void PumpOutput(const std::vector<Worker*>& workers, int timeout_ms) {
  std::vector<pollfd> fds;
  std::vector<Worker*> owners;
  for (Worker* worker : workers) {
    if (worker->output >= 0) {
      fds.push_back({worker->output, POLLIN, 0});
      owners.push_back(worker);
    }
  }
  if (fds.empty()) return;
  if (poll(fds.data(), fds.size(), timeout_ms) <= 0) return;
  for (size_t i = 0; i < fds.size(); ++i) {
    if (fds[i].revents & (POLLIN | POLLHUP)) {
      for (const std::string& line : ReadLines(*owners[i])) TakeLine(*owners[i], line);
    }
  }
}

int64_t Number(const Worker& worker, const std::string& key) {
  auto it = worker.report.find(key);
  return it == worker.report.end() ? -1 : std::stoll(it->second);
}

}  // namespace arrowring::cli
