"""`arrowring serve` and `arrowring bridge pull` driven through the CLI alone (no Python
package): what their summaries and messages say, and docs/bridge.md's TLS recipe for localhost.

As in test_bridge.py, nothing waits on a clock for synchronisation: each step waits for a line
a process prints once the state it names holds, bounded by WATCHDOG. Servers listen on
127.0.0.1 on a port the kernel picks; rings have unique names and are removed; certificates,
tokens and cursors live under tmp_path.
"""
import itertools
import os
import pathlib
import re
import shlex
import signal
import subprocess
import sys

import pyarrow as pa
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "support"))
from cli_process import WATCHDOG  # noqa: E402

DOCS = pathlib.Path(__file__).resolve().parents[2] / "docs"
_names = itertools.count()


pytestmark = pytest.mark.usefixtures("needs_bridge")


@pytest.fixture
def rings(run):
    """Creates rings with `arrowring create` under names unique to this test; removes them."""
    made = []

    def make(capacity="16MiB"):
        name = f"test-cli-{os.getpid()}-bridgecli-{next(_names)}"
        result = run("create", name, "--capacity", capacity)
        assert result.returncode == 0, result.stderr
        made.append(name)
        return name

    yield make
    for name in made:
        run("rm", name, "--force")


def table_file(path, rows):
    table = pa.table({"seq": pa.array(range(rows), pa.int64()), "label": [f"row-{i}" for i in range(rows)]})
    with pa.ipc.new_stream(path, table.schema) as writer:
        writer.write_table(table)
    return path


def listening_port(serve):
    return int(serve.wait_for(r"listening on grpc(?:\+tls)?://127\.0\.0\.1:(\d+)", "out").group(1))


def test_serve_summary_counts_what_it_sent_over_its_whole_life(start, run, rings, tmp_path):
    source, destination = rings(), rings()
    serve = start("serve", "--listen", "127.0.0.1:0", "--ring", source, "--interval", "0.2")
    port = listening_port(serve)
    pull = start("bridge", "pull", f"grpc://127.0.0.1:{port}/{source}", "--into", destination,
                 "--cursor", tmp_path / "cursor", "--interval", "0.2")
    pull.wait_for(r"streaming .* as subscriber")  # the server holds the durable subscriber
    assert run("pub", source, table_file(tmp_path / "t.arrows", 5), "--batch-rows", "1").returncode == 0
    pull.wait_for(r"^arrowring bridge pull: 5 tables", "out")
    serve.wait_for(r"sent 5 tables", "out")  # a progress line counted them while the stream lived
    assert pull.finish(signal.SIGINT) == 0, pull.text()
    assert serve.finish(signal.SIGINT) == 0, serve.text()
    last = serve.lines["out"][-1]
    assert last.startswith("arrowring serve: stopped: 0 active stream(s); sent 5 tables, "), serve.text()
    rates = [float(rate) for line in serve.lines["out"] for rate in re.findall(r"([-\d.e+]+) tables/s", line)]
    assert rates and all(0 <= rate < 1e6 for rate in rates), rates  # 5 tables: never 1e19 tables/s


def test_serve_json_stopped_event_keeps_the_totals(start, run, rings, tmp_path):
    import json
    source, destination = rings(), rings()
    serve = start("serve", "--listen", "127.0.0.1:0", "--ring", source, "--interval", "0.2", "--json")
    port = int(serve.wait_for(r'"port":(\d+)', "out").group(1))
    pull = start("bridge", "pull", f"grpc://127.0.0.1:{port}/{source}", "--into", destination,
                 "--cursor", tmp_path / "cursor", "--interval", "0.2")
    pull.wait_for(r"streaming .* as subscriber")
    assert run("pub", source, table_file(tmp_path / "t.arrows", 3), "--batch-rows", "1").returncode == 0
    pull.wait_for(r"^arrowring bridge pull: 3 tables", "out")
    assert pull.finish(signal.SIGINT) == 0, pull.text()
    assert serve.finish(signal.SIGINT) == 0, serve.text()
    events = [json.loads(line) for line in serve.lines["out"]]
    assert events[-1]["event"] == "stopped"
    assert events[-1]["tables_sent"] == 3 and events[-1]["active_streams"] == 0
    assert all(0 <= e.get("tables_per_second", 0) < 1e6 for e in events)


def test_pull_says_where_it_resumes_once(start, run, rings, tmp_path):
    # The source ring is empty when the pull connects, so its first table has another schema
    # than the stream's (empty) one, and the puller reconnects at once: still one line.
    source, destination = rings(), rings()
    serve = start("serve", "--listen", "127.0.0.1:0", "--ring", source)
    port = listening_port(serve)
    pull = start("bridge", "pull", f"grpc://127.0.0.1:{port}/{source}", "--into", destination,
                 "--cursor", tmp_path / "cursor", "--interval", "0.2")
    pull.wait_for(r"resuming from the start")
    assert run("pub", source, table_file(tmp_path / "t.arrows", 4)).returncode == 0
    pull.wait_for(r"^arrowring bridge pull: 1 tables", "out")
    assert pull.finish(signal.SIGINT) == 0, pull.text()
    assert sum("resuming from the start" in line for line in pull.lines["err"]) == 1, pull.text()


def test_pull_keeps_its_cursor_where_the_docs_say(start, run, rings, tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_STATE_HOME", raising=False)
    docs = (DOCS / "bridge.md").read_text()
    assert "~/.local/state/arrowring/pull-<RING>-into-<LOCAL>.cursor" in docs
    source, destination = rings(), rings()
    serve = start("serve", "--listen", "127.0.0.1:0", "--ring", source)
    port = listening_port(serve)
    pull = start("bridge", "pull", f"grpc://127.0.0.1:{port}/{source}", "--into", destination, "--interval", "0.2")
    expected = home / ".local" / "state" / "arrowring" / f"pull-{source}-into-{destination}.cursor"
    pull.wait_for(re.escape(f"(cursor {expected})"))
    pull.wait_for(r"streaming .* as subscriber")
    assert run("pub", source, table_file(tmp_path / "t.arrows", 2)).returncode == 0
    pull.wait_for(r"^arrowring bridge pull: 1 tables", "out")
    assert pull.finish(signal.SIGINT) == 0, pull.text()
    assert expected.is_file()
    assert oct(expected.parent.stat().st_mode & 0o777) == "0o700"


def fenced_blocks(markdown, language):
    return re.findall(rf"^```{language}\n(.*?)^```", markdown, re.S | re.M)


def commands(block):
    """The command lines of a shell block: continuations joined, comments dropped."""
    lines = block.replace("\\\n", " ").splitlines()
    return [shlex.split(line, comments=True) for line in lines if line.strip() and not line.strip().startswith("#")]


def test_the_documented_localhost_tls_recipe_works(binary, start, run, rings, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))  # the default cursor, kept here
    docs = (DOCS / "bridge.md").read_text()
    recipe = next(b for b in fenced_blocks(docs, "sh") if "openssl req" in b and "127.0.0.1" in b)
    work = tmp_path / "recipe"
    work.mkdir()
    made = subprocess.run(["bash", "-euo", "pipefail", "-c", recipe], cwd=work, capture_output=True, text=True,
                          timeout=WATCHDOG, start_new_session=True)
    assert made.returncode == 0, made.stderr
    # The commands that use it, as documented, on this test's rings and a free port.
    usage = next(b for b in fenced_blocks(docs, "sh") if "arrowring serve" in b and "localhost.crt" in b)
    source, destination = rings(), rings()
    names = {"daq": source, "daq-copy": destination}
    made_files = {path.name: str(path) for path in work.iterdir()}  # the recipe's relative paths
    serve_args = pull_args = None
    for words in commands(usage):
        assert words[0] == "arrowring", words
        words = [names.get(word, made_files.get(word, word)) for word in words[1:] if word != "&"]
        if words[0] == "create":
            continue  # the rings: this test's own
        if words[0] == "serve":
            serve_args = [("127.0.0.1:0" if word == "127.0.0.1:8815" else word) for word in words]
        elif words[:2] == ["bridge", "pull"]:
            pull_args = words
    assert serve_args and pull_args, usage
    serve = start(*serve_args)
    port = listening_port(serve)
    url = "grpc+tls://127.0.0.1:8815/daq"
    assert url in pull_args, pull_args
    pull = start(*[f"grpc+tls://127.0.0.1:{port}/{source}" if word == url else word for word in pull_args],
                 "--interval", "0.2")
    pull.wait_for(r"streaming .* as subscriber")
    assert run("pub", source, table_file(tmp_path / "t.arrows", 3)).returncode == 0
    pull.wait_for(r"^arrowring bridge pull: 1 tables", "out")
    assert pull.finish(signal.SIGINT) == 0, pull.text()
    assert serve.finish(signal.SIGINT) == 0, serve.text()
    for proc in (serve, pull):
        assert not any("absl" in line or line.startswith(("E0000", "W0000", "I0000")) for line in proc.lines["err"])


def test_a_tls_failure_prints_only_arrowrings_own_lines(start, tmp_path):
    # A key that is not the certificate's: gRPC refuses it while starting the server, and its
    # own log (absl's "WARNING: All log messages before absl::InitializeLog()...", "E0000 ...
    # Invalid private key") stays off; our message says what to check.
    def make(stem):
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-days", "1", "-keyout", tmp_path / f"{stem}.key", "-out", tmp_path / f"{stem}.crt",
                        "-subj", "/CN=localhost"], check=True, capture_output=True, timeout=WATCHDOG)
    make("one")
    make("other")
    serve = start("serve", "--listen", "127.0.0.1:0", "--tls-cert", tmp_path / "one.crt",
                  "--tls-key", tmp_path / "other.key")
    assert serve.finish() == 1, serve.text()
    assert any("--tls-cert and --tls-key" in line for line in serve.lines["err"]), serve.text()
    assert all(line.startswith("arrowring serve: ") for line in serve.lines["err"]), serve.text()
