#include "self_signed_tls.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace arrowring::cli {
namespace {

bool Exists(const std::string& path) {
  struct stat info;
  return ::stat(path.c_str(), &info) == 0 && S_ISREG(info.st_mode) && info.st_size > 0;
}

arrow::Status MakeFolder(const std::string& folder) {
  for (size_t at = 1; at <= folder.size(); ++at) {
    if (at == folder.size() || folder[at] == '/') {
      const std::string prefix = folder.substr(0, at);
      if (::mkdir(prefix.c_str(), 0700) != 0 && errno != EEXIST) {
        return arrow::Status::IOError("cannot create the folder '", prefix,
                                      "' for the self-signed certificate: ", std::strerror(errno));
      }
    }
  }
  return arrow::Status::OK();
}

// Runs `argv` with umask 077, its stdout and stderr captured; returns (exit status, output).
arrow::Result<std::pair<int, std::string>> Run(const std::vector<std::string>& argv) {
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return arrow::Status::IOError("pipe: ", std::strerror(errno));
  const pid_t child = ::fork();
  if (child < 0) return arrow::Status::IOError("fork: ", std::strerror(errno));
  if (child == 0) {
    ::umask(077);
    ::dup2(pipe_fds[1], STDOUT_FILENO);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    std::vector<char*> args;
    args.reserve(argv.size() + 1);
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::string output;
  char buffer[4096];
  ssize_t got;
  while ((got = ::read(pipe_fds[0], buffer, sizeof buffer)) > 0 || (got < 0 && errno == EINTR)) {
    if (got > 0) output.append(buffer, static_cast<size_t>(got));
  }
  ::close(pipe_fds[0]);
  int status = 0;
  while (::waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  return std::make_pair(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), output);
}

}  // namespace

std::string SelfSignedTlsFolder() {
  const char* state = std::getenv("XDG_STATE_HOME");
  const char* home = std::getenv("HOME");
  if (state && *state) return std::string(state) + "/arrowring/tls";
  if (home && *home) return std::string(home) + "/.local/state/arrowring/tls";
  return {};
}

arrow::Result<SelfSignedTls> EnsureSelfSignedTls() {
  SelfSignedTls tls;
  tls.folder = SelfSignedTlsFolder();
  if (tls.folder.empty()) {
    return arrow::Status::Invalid(
        "--tls-self-signed keeps its certificate under $XDG_STATE_HOME or $HOME, "
        "and neither is set; set one, or give --tls-cert and --tls-key");
  }
  tls.cert_path = tls.folder + "/localhost.crt";
  tls.key_path = tls.folder + "/localhost.key";
  if (!(Exists(tls.cert_path) && Exists(tls.key_path))) {
    ARROW_RETURN_NOT_OK(MakeFolder(tls.folder));
    ARROW_ASSIGN_OR_RAISE(auto result,
                          Run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                               "-nodes", "-days", "365", "-keyout", tls.key_path, "-out", tls.cert_path, "-subj",
                               "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost"}));
    if (result.first != 0) {
      ::unlink(tls.key_path.c_str());
      ::unlink(tls.cert_path.c_str());
      if (result.first == 127) {
        return arrow::Status::IOError(
            "--tls-self-signed runs the openssl command, which was not found; install "
            "it (Debian: apt-get install openssl) or give --tls-cert and --tls-key");
      }
      return arrow::Status::IOError("openssl could not make the self-signed certificate (exit ", result.first,
                                    "): ", result.second);
    }
    tls.made = true;
  }
  // The key must be the user's alone, whoever made it.
  if (::chmod(tls.key_path.c_str(), 0600) != 0) {
    return arrow::Status::IOError("cannot make '", tls.key_path, "' mode 0600: ", std::strerror(errno));
  }
  return tls;
}

bool IsLoopbackHost(const std::string& host) {
  return host == "localhost" || host == "::1" || host.rfind("127.", 0) == 0;
}

}  // namespace arrowring::cli
