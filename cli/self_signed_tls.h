// `arrowring serve --tls-self-signed`: a certificate and key for TLS on this host's loopback,
// made once with the openssl command and reused (so clients keep trusting the same file).
#pragma once

#include <string>

#include <arrow/result.h>

namespace arrowring::cli {

struct SelfSignedTls {
  std::string folder;     // $XDG_STATE_HOME/arrowring/tls, else ~/.local/state/arrowring/tls (0700)
  std::string cert_path;  // <folder>/localhost.crt: subjectAltName IP:127.0.0.1, IP:::1, DNS:localhost
  std::string key_path;   // <folder>/localhost.key, mode 0600
  bool made = false;      // false: both files were there and are reused
};

/// The folder --tls-self-signed keeps its files in; empty when neither XDG_STATE_HOME nor
/// HOME is set.
std::string SelfSignedTlsFolder();

/// Makes (or, when both files exist, reuses) the localhost certificate and key in
/// SelfSignedTlsFolder(). The key is written with umask 077 and then checked to be 0600.
/// Fails with a message naming what to do when openssl is missing or fails.
arrow::Result<SelfSignedTls> EnsureSelfSignedTls();

/// Whether `host` (from --listen) is a loopback address the certificate names.
bool IsLoopbackHost(const std::string& host);

}  // namespace arrowring::cli
