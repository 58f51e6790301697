"""Test support shared by the suites that drive the real `arrowring` binary (cli/tests,
python/tests): a process whose output lines are collected as they come, waits for a line
bounded by a watchdog instead of sleeps, and TLS material made by the openssl CLI."""
import os
import re
import shutil
import signal
import subprocess
import threading
import time

WATCHDOG = 60.0  # seconds any single wait may take before the test fails


class CliProcess:
    """A process whose stdout and stderr lines threads collect (a full pipe never blocks it),
    with waits for a line that fail after `timeout` seconds."""

    def __init__(self, *args):
        self.args = [str(a) for a in args]
        # Its own process group (and session): kill() ends whatever it started too, and a
        # Ctrl-C meant for the test runner does not reach it.
        self.process = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        self.lines = {"out": [], "err": []}
        self.closed = {"out": False, "err": False}
        self.changed = threading.Condition()
        self.threads = [threading.Thread(target=self._drain, args=(pipe, key), daemon=True)
                        for pipe, key in ((self.process.stdout, "out"), (self.process.stderr, "err"))]
        for thread in self.threads:
            thread.start()

    def _drain(self, pipe, key):
        for line in pipe:
            with self.changed:
                self.lines[key].append(line.rstrip("\n"))
                self.changed.notify_all()
        with self.changed:
            self.closed[key] = True
            self.changed.notify_all()

    def text(self, last=20):
        with self.changed:
            return "\n".join(["stdout:", *self.lines["out"][-last:], "stderr:", *self.lines["err"][-last:]])

    def wait_for(self, pattern, stream="err", timeout=WATCHDOG):
        """The first match of `pattern` in a line of `stream`, waiting for it."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line in self.lines[stream]:
                    match = regex.search(line)
                    if match:
                        return match
                if self.closed[stream]:
                    raise AssertionError(f"{self.args} ended without printing {pattern!r}:\n{self.text()}")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"watchdog: no {pattern!r} within {timeout}s:\n{self.text()}")
                self.changed.wait(remaining)

    def finish(self, sig=None, timeout=WATCHDOG):
        """Sends `sig` (if given and still running), then its exit code; it must end within
        `timeout`."""
        if sig is not None and self.process.poll() is None:
            self.process.send_signal(sig)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"watchdog: {self.args} did not end within {timeout}s:\n{self.text()}")
        for thread in self.threads:
            thread.join()
        return code

    def kill(self):
        """Kills its process group if it still runs and reaps it (a fixture's cleanup)."""
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.process.wait()


def make_tls(folder):
    """A self-signed certificate for 127.0.0.1 made by the openssl CLI, its key, a token file
    and a wrong-token file (mode 0600), in `folder` (private: the caller's to remove)."""
    if shutil.which("openssl") is None:
        raise AssertionError("the openssl CLI is missing (make build installs it)")
    cert, key = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", key, "-out", cert, "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
        capture_output=True, text=True, timeout=WATCHDOG)
    assert made.returncode == 0, made.stderr
    token = "s3cret-" + os.urandom(8).hex()
    paths = {"token": os.path.join(folder, "token"), "wrong": os.path.join(folder, "wrong-token")}
    for name, value in (("token", token), ("wrong", "not-the-token")):
        with open(os.open(paths[name], os.O_WRONLY | os.O_CREAT, 0o600), "w") as f:
            f.write(value + "\n")
    return {"cert": cert, "key": key, "token_value": token, **paths}
