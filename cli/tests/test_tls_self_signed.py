"""`arrowring serve --tls-self-signed`: TLS on localhost without making a certificate by hand.
The server makes (once) a certificate for localhost, 127.0.0.1 and ::1 and its key (mode 0600)
under $XDG_STATE_HOME/arrowring/tls, says where, and a pull that trusts that certificate reads
a ring end to end over grpc+tls://127.0.0.1 on a port the kernel picks.

As in test_bridge_cli.py, every step waits for a line that a process prints once the state it
names holds (bounded by WATCHDOG), never on a clock."""
import itertools
import os
import pathlib
import re
import signal
import stat
import subprocess

import pyarrow as pa
import pytest
from test_bridge_cli import DOCS, commands, fenced_blocks

pytestmark = pytest.mark.usefixtures("needs_bridge")
_names = itertools.count()


@pytest.fixture
def rings(run):
    made = []

    def make():
        name = f"test-cli-{os.getpid()}-selfsigned-{next(_names)}"
        assert run("create", name, "--capacity", "16MiB").returncode == 0
        made.append(name)
        return name

    yield make
    for name in made:
        run("rm", name, "--force")


@pytest.fixture
def state(tmp_path, monkeypatch):
    folder = tmp_path / "state"
    monkeypatch.setenv("XDG_STATE_HOME", str(folder))  # the certificate and the pull's cursor, kept here
    return folder


ANNOUNCED = (r"(made|using) a self-signed certificate for localhost, 127\.0\.0\.1 and ::1: (\S+) "
             r"\(key (\S+), mode 0600\); clients pass --tls-roots (\S+)")


def serve_self_signed(start, *rings):
    serve = start("serve", "--listen", "127.0.0.1:0", "--tls-self-signed",
                  *[word for ring in rings for word in ("--ring", ring)])
    said = serve.wait_for(ANNOUNCED)
    port = int(serve.wait_for(r"listening on grpc\+tls://127\.0\.0\.1:(\d+)", "out").group(1))
    return serve, said, port


def test_the_documented_commands_pull_over_tls_on_localhost(start, run, rings, tmp_path, monkeypatch):
    """docs/bridge.md's lines, as they stand, with HOME and XDG_STATE_HOME as a new user has them
    (the certificate's documented default place, ~/.local/state/arrowring/tls/), on this test's
    rings and a free port."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    block = next(b for b in fenced_blocks((DOCS / "bridge.md").read_text(), "sh") if "--tls-self-signed" in b)
    source, destination = rings(), rings()
    replace = {"daq": source, "daq-copy": destination, "127.0.0.1:8815": "127.0.0.1:0"}
    documented = {}
    for words in commands(block):
        assert words[0] == "arrowring", words
        words = [os.path.expanduser(replace.get(word, word)) for word in words[1:] if word != "&"]
        documented[words[0]] = words
    serve = start(*documented["serve"])
    said = serve.wait_for(ANNOUNCED)
    port = int(serve.wait_for(r"listening on grpc\+tls://127\.0\.0\.1:(\d+)", "out").group(1))
    made, cert, key, roots = said.groups()
    folder = home / ".local" / "state" / "arrowring" / "tls"
    assert made == "made" and roots == cert
    assert (cert, key) == (str(folder / "localhost.crt"), str(folder / "localhost.key"))
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    names = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-ext", "subjectAltName"],
                           capture_output=True, text=True, check=True).stdout
    assert "IP Address:127.0.0.1" in names and "DNS:localhost" in names

    pull_args = documented["bridge"]
    assert cert in pull_args, pull_args  # the documented --tls-roots is where the server put it
    url = "grpc+tls://127.0.0.1:8815/daq"
    assert url in pull_args, pull_args
    pull = start(*[f"grpc+tls://127.0.0.1:{port}/{source}" if word == url else word for word in pull_args],
                 "--interval", "0.2")
    pull.wait_for(r"streaming .* as subscriber")
    table = pa.table({"seq": pa.array(range(3), pa.int64())})
    path = tmp_path / "t.arrows"
    with pa.ipc.new_stream(path, table.schema) as writer:
        writer.write_table(table)
    assert run("pub", source, path).returncode == 0
    pull.wait_for(r"^arrowring bridge pull: 1 tables", "out")
    assert pull.finish(signal.SIGINT) == 0, pull.text()
    assert serve.finish(signal.SIGINT) == 0, serve.text()

    # A second server reuses the same files, so clients keep trusting the same certificate.
    before = pathlib.Path(cert).read_bytes()
    again, said, _ = serve_self_signed(start, source)
    assert said.group(1) == "using" and pathlib.Path(cert).read_bytes() == before
    assert again.finish(signal.SIGINT) == 0, again.text()


def test_a_client_that_does_not_trust_it_is_refused_with_advice(start, run, rings, state):
    source, destination = rings(), rings()
    serve, _, port = serve_self_signed(start, source)
    pull = run("bridge", "pull", f"grpc+tls://127.0.0.1:{port}/{source}", "--into", destination, timeout=120)
    assert pull.returncode != 0
    assert "arrowring bridge pull:" in pull.stderr
    assert serve.finish(signal.SIGINT) == 0, serve.text()


@pytest.mark.parametrize("args,says", [
    (["--listen", "0.0.0.0:0", "--tls-self-signed"], r"localhost, 127\.0\.0\.1 and ::1 only"),
    (["--listen", "127.0.0.1:0", "--tls-self-signed", "--tls-cert", "c", "--tls-key", "k"], r"not both"),
])
def test_misuse_is_a_usage_error_that_says_why(run, state, args, says):
    result = run("serve", *args)
    assert result.returncode == 2, result.stderr
    assert re.search(says, result.stderr), result.stderr
    assert not (state / "arrowring" / "tls").exists()
