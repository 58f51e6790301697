// Helpers for tests across real processes: a line pipe from children, spawning with a
// watchdog, reaping.
#pragma once

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <type_traits>

#include <gtest/gtest.h>

namespace arrowring::testing {

// Line-based pipe from child processes to the parent.
struct Pipe {
  Pipe() { EXPECT_EQ(pipe(fds), 0); }
  ~Pipe() {
    close(fds[0]);
    close(fds[1]);
  }
  void Send(const std::string& line) const {
    const std::string data = line + "\n";
    (void)!write(fds[1], data.data(), data.size());
  }
  std::string Receive() const {
    std::string line;
    char c;
    while (read(fds[0], &c, 1) == 1 && c != '\n') line += c;
    return line;
  }
  int fds[2];
};

// Runs `body` in a child process that dies by SIGALRM after `watchdog_seconds` instead of
// hanging the suite. The child exits with what `body` returns (0 for a void body).
template <typename Body>
pid_t Spawn(Body body, unsigned watchdog_seconds = 120) {
  const pid_t pid = fork();
  if (pid == 0) {
    alarm(watchdog_seconds);
    if constexpr (std::is_void_v<decltype(body())>) {
      body();
      _exit(0);
    } else {
      _exit(body());
    }
  }
  return pid;
}

// Waits for `pid`; its exit code, or 128 + the signal that ended it.
inline int Reap(pid_t pid) {
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

inline void KillAndReap(pid_t pid) {
  kill(pid, SIGKILL);
  Reap(pid);
}

}  // namespace arrowring::testing
