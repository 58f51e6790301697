// The demo's child-process supervisor: starts worker processes with their stdout on a pipe
// (posix_spawn), and collects the one report line of key=value pairs each writes, waiting on
// all pipes at once (poll). `arrowring demo` (demo.cc) runs its producer and subscribers so.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace arrowring::cli {

/// A worker process and what it has reported so far.
struct Worker {
  std::string role;
  pid_t pid = -1;
  int output = -1;  // read end of the worker's stdout
  std::string buffer;
  std::map<std::string, std::string> report;
  bool reported = false;
  int exit_code = -1;
};

/// Starts `self` with `arguments` (argv, the program's name first) as `worker`'s process, its
/// stdout a pipe whose read end becomes `worker.output`. False if the pipe or the process
/// could not be made.
bool Spawn(Worker& worker, const std::string& self, const std::vector<std::string>& arguments);

/// Reads what is available on `worker`'s pipe; returns complete lines. At the end of the
/// output (the worker exited) it closes the pipe and sets `worker.output` to -1.
std::vector<std::string> ReadLines(Worker& worker);

/// Takes one line of a worker's output: "ready", or its report of key=value pairs.
void TakeLine(Worker& worker, const std::string& line);

/// Waits (poll, up to `timeout_ms`) for output from any worker and consumes it.
void PumpOutput(const std::vector<Worker*>& workers, int timeout_ms);

/// The number a worker reported under `key`, or -1 if it reported none.
int64_t Number(const Worker& worker, const std::string& key);

}  // namespace arrowring::cli
