"""`arrowring serve` and `arrowring bridge pull/push`: rings joined through Arrow Flight.

Every server listens on 127.0.0.1 on a port the kernel picks (--listen 127.0.0.1:0); the test
reads it from the server's first line. Nothing waits on a clock for synchronisation: each
step waits for a line the process prints once the state it names holds (the server listens,
the puller's stream is open), or for a table to arrive, each bounded by WATCHDOG so a hang
fails the test instead of stopping the suite. Certificates, tokens and cursor files live in a
private temporary folder under the build directory, removed afterwards; rings are unlinked.
"""
import itertools
import json
import os
import pathlib
import re
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import threading

import pyarrow as pa
import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "support"))
from cli_process import WATCHDOG, make_tls  # noqa: E402

ar = pytest.importorskip("arrowring")

_names = itertools.count()


pytestmark = pytest.mark.usefixtures("needs_bridge")


@pytest.fixture
def rings():
    """Makes rings with names unique to this test (conftest checks none is left)."""
    made = []

    def make(capacity=16 * 2**20, policy="block"):
        name = f"test-cli-{os.getpid()}-bridge-{next(_names)}"
        ring = ar.Ring.create(name, capacity=capacity, policy=policy)
        made.append(ring)
        return ring

    yield make
    for ring in made:
        ring.unlink()


@pytest.fixture
def private_dir(tmp_path):
    """A folder only this user can enter, for keys and tokens; removed afterwards."""
    folder = tempfile.mkdtemp(prefix="bridge-", dir=tmp_path)  # mkdtemp makes it mode 0700
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    yield folder
    shutil.rmtree(folder)


@pytest.fixture
def tls(private_dir):
    """A self-signed certificate for 127.0.0.1 made by the openssl CLI, its key, a token."""
    return make_tls(private_dir)


def serve(start, *args):
    """`arrowring serve` on 127.0.0.1 and a free port; returns the process and its port."""
    proc = start("serve", "--listen", "127.0.0.1:0", "--interval", "0.5", *args)
    listening = r'(?:listening on |"location":")grpc(?:\+tls)?://127\.0\.0\.1:(\d+)'  # text or --json
    port = int(proc.wait_for(listening, "out").group(1))
    return proc, port


ROWS = 512


def event_table(i):
    """Table i of the stream: every value derived from its sequence number, so each can be checked."""
    seq = pa.array(range(i * ROWS, (i + 1) * ROWS), pa.int64())
    return pa.table({
        "seq": seq,
        "adc": pa.array([(s * 2654435761) % 65521 - 32760 for s in range(i * ROWS, (i + 1) * ROWS)], pa.int16()),
        "label": pa.array([f"event-{s}" for s in range(i * ROWS, (i + 1) * ROWS)]),
    })


def publish_all(ring, count, errors):
    try:
        publisher = ring.publisher(timeout=WATCHDOG)
        for i in range(count):
            publisher.publish(event_table(i))
    except Exception as error:  # reported by the test thread
        errors.append(error)


@pytest.mark.parametrize("command", [["serve"], ["bridge", "pull"], ["bridge", "push"]])
def test_every_bridge_command_has_help(run, command):
    result = run(*command, "--help")
    assert result.returncode == 0 and "--token-file" in result.stdout


def test_serve_refuses_a_non_loopback_address_without_tls_and_token(run):
    result = run("serve", "--listen", "0.0.0.0:0")
    assert result.returncode == 2
    assert "refusing to listen on non-loopback address 0.0.0.0" in result.stderr
    assert "--insecure" in result.stderr and "--tls-cert" in result.stderr


@pytest.mark.parametrize("args,message", [
    (["--listen", "127.0.0.1:notaport"], "is not HOST:PORT"),
    (["--tls-cert", "/nonexistent.pem"], "needs both --tls-cert and --tls-key"),
    (["--tls-cert", "/nonexistent.pem", "--tls-key", "/nonexistent.key"], "cannot read --tls-cert"),
    (["--token-file", "/nonexistent-token"], "cannot read token file"),
])
def test_serve_says_what_is_wrong_with_its_options(run, args, message):
    result = run("serve", *args)
    assert result.returncode == 2
    assert message in result.stderr


def test_serve_that_cannot_start_says_why_without_crashing(start, run, private_dir):
    garbage = os.path.join(private_dir, "garbage.pem")
    with open(garbage, "w") as f:
        f.write("not a certificate\n")
    result = run("serve", "--listen", "127.0.0.1:0", "--tls-cert", garbage, "--tls-key", garbage)
    assert result.returncode == 1, result.stderr  # not a signal
    assert "cannot serve on grpc+tls://127.0.0.1:0" in result.stderr and "PEM" in result.stderr
    first, port = serve(start)
    result = run("serve", "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 1, result.stderr
    assert "port is free" in result.stderr
    assert first.finish(signal.SIGINT) == 0


def test_pull_over_tls_with_a_token_survives_sigkill_exactly(start, rings, tls, tmp_path):
    """ring -> serve -> TLS + token -> bridge pull -> ring; the bridge is killed with SIGKILL
    twice mid-stream and restarted: under block every table arrives once, in order, equal."""
    # Tables are 12.5 KiB: each 1 MiB ring holds about 80 (measured: 157 in both). The bridge
    # runs only as fast as `check` reads, so when `check` has read table i the producer
    # cannot be past i + 80 (destination) + 80 (source, the server's held window included).
    # Both kills come at i <= 180, when that bound (<= 340) is below `count`: each happens
    # while the producer is still publishing, i.e. mid-stream, however fast the bridge runs.
    count = 360
    source, destination = rings(capacity=2**20), rings(capacity=2**20)
    check = destination.subscribe("check")
    server, port = serve(start, "--ring", source.name, "--tls-cert", tls["cert"], "--tls-key",
                         tls["key"], "--token-file", tls["token"])
    cursor = tmp_path / "cursor"
    pull_args = ["bridge", "pull", f"grpc+tls://127.0.0.1:{port}/{source.name}", "--into",
                 destination.name, "--token-file", tls["token"], "--tls-roots", tls["cert"],
                 "--cursor", cursor, "--interval", "0.5", "--json"]
    bridge = start(*pull_args)
    bridge.wait_for(r"streaming .* as subscriber")  # the server holds our subscriber now
    errors = []
    producer = threading.Thread(target=publish_all, args=(source, count, errors), daemon=True)
    producer.start()
    kills = {count // 4, count // 2}
    for i in range(count):
        if i in kills:
            assert source.stats()["messages_written"] < count, "the kill must come mid-stream"
            bridge.process.kill()  # SIGKILL: no chance to acknowledge or clean up
            bridge.finish()
            bridge = start(*pull_args)
            bridge.wait_for(r"streaming .* resuming after sequence \d+")
        table = check.next(timeout=WATCHDOG)
        assert table is not None, f"watchdog: table {i} did not arrive:\n{bridge.text()}\n{server.text()}"
        assert table.equals(event_table(i)), f"table {i} differs (lost, repeated or changed)"
    producer.join(WATCHDOG)
    assert not producer.is_alive() and not errors, errors
    # A clean stop, then exact accounting: nothing more was published, nothing is pending.
    assert bridge.finish(signal.SIGINT) == 0, bridge.text()
    assert destination.stats()["messages_written"] == count
    assert check.next(timeout=0) is None
    final = bridge.lines["out"][-1]
    assert '"event":"stopped"' in final and '"gaps":0' in final, final
    assert server.finish(signal.SIGTERM) == 0, server.text()
    assert '"event"' not in server.lines["out"][-1]  # text mode: a human line
    assert "stopped:" in server.lines["out"][-1]


def test_pull_into_a_ring_named_like_the_seed_framework_names_its_rings(start, rings, tmp_path):
    # The default server-side subscriber is bridge-<LOCAL>; '=' and '+' may not be in it.
    source = rings()
    name = f"test-cli-{os.getpid()}-bridge-{next(_names)}_Zm9v+YmFy=="
    destination = ar.Ring.create(name, capacity=2**20)
    try:
        check = destination.subscribe("check")
        server, port = serve(start, "--ring", source.name)
        bridge = start("bridge", "pull", f"grpc://127.0.0.1:{port}/{source.name}", "--into", name,
                       "--cursor", tmp_path / "cursor")
        subscriber = bridge.wait_for(r"streaming .* as subscriber (\S+),").group(1)
        assert subscriber == f"bridge-{name}".replace("+", "_").replace("=", "_")
        source.publisher().publish(event_table(0))
        assert check.next(timeout=WATCHDOG).equals(event_table(0))
        assert bridge.finish(signal.SIGTERM) == 0
        assert server.finish(signal.SIGTERM) == 0
    finally:
        destination.unlink()


def test_push_publishes_a_local_ring_into_a_remote_one(start, rings, tmp_path):
    count = 40
    source, destination = rings(), rings()
    check = destination.subscribe("check")
    server, port = serve(start, "--ring", destination.name, "--json")
    pusher = start("bridge", "push", source.name, "--to", f"grpc://127.0.0.1:{port}/{destination.name}",
                   "--interval", "0.5")
    pusher.wait_for(r"pushing to .* as subscriber")  # subscribed to the local ring
    errors = []
    publish_all(source, count, errors)
    assert not errors, errors
    for i in range(count):
        table = check.next(timeout=WATCHDOG)
        assert table is not None, f"watchdog: table {i} did not arrive:\n{pusher.text()}"
        assert table.equals(event_table(i))
    pusher.wait_for(r"^arrowring bridge push: \d+ tables, .*/s, .* tables/s; gaps 0", "out")  # progress
    assert pusher.finish(signal.SIGINT) == 0, pusher.text()
    assert re.search(r"stopped: 40 tables", pusher.lines["out"][-1]), pusher.text()
    assert destination.stats()["messages_written"] == count
    assert server.finish(signal.SIGINT) == 0
    final = server.lines["out"][-1]
    assert '"event":"stopped"' in final and '"tables_received":40' in final, final


@pytest.mark.parametrize("case", ["wrong token", "no token", "plain client to a TLS server",
                                  "unknown ring", "ring not served"])
def test_refused_pulls_say_why_and_publish_nothing(start, run, rings, tls, tmp_path, case):
    source, other, destination = rings(), rings(), rings()
    absent = f"test-cli-{os.getpid()}-absent"  # listed, but no such ring exists
    server, port = serve(start, "--ring", source.name, "--ring", absent, "--tls-cert", tls["cert"],
                         "--tls-key", tls["key"], "--token-file", tls["token"])
    scheme, ring, token = "grpc+tls", source.name, tls["token"]
    expect_code, expect_client, expect_server = 4, "", ""
    if case == "wrong token":
        token = tls["wrong"]
        expect_client, expect_server = "wrong bearer token. Give the server's token with --token-file", "wrong bearer token"
    elif case == "no token":
        token = None
        expect_client, expect_server = "needs a bearer token", "no bearer token"
    elif case == "plain client to a TLS server":
        scheme, expect_code = "grpc", 1
        expect_client = "cannot reach grpc://127.0.0.1"
    elif case == "unknown ring":
        ring, expect_code = absent, 3
        expect_client, expect_server = "unknown ring", "unknown ring"
    elif case == "ring not served":
        ring = other.name
        expect_client, expect_server = "is not served here", "is not served here"
    args = ["bridge", "pull", f"{scheme}://127.0.0.1:{port}/{ring}", "--into", destination.name,
            "--tls-roots", tls["cert"], "--cursor", tmp_path / "cursor"]
    if token:
        args += ["--token-file", token]
    result = run(*args, timeout=WATCHDOG)
    assert result.returncode == expect_code, result.stderr
    assert expect_client in result.stderr, result.stderr
    assert "Traceback" not in result.stderr and "Check failed" not in result.stderr
    assert destination.stats()["messages_written"] == 0
    assert source.stats()["subscribers"] == [] and other.stats()["subscribers"] == []
    assert server.process.poll() is None, "the server must survive a refused client"
    assert server.finish(signal.SIGINT) == 0
    if expect_server:
        assert expect_server in "\n".join(server.lines["err"]), server.text()


def test_a_bad_ticket_is_a_clear_error_and_the_server_carries_on(start, rings, tls):
    flight = pytest.importorskip("pyarrow.flight")
    source = rings()
    server, port = serve(start, "--tls-cert", tls["cert"], "--tls-key", tls["key"],
                         "--token-file", tls["token"])
    with open(tls["cert"], "rb") as f:
        roots = f.read()
    with open(tls["token"]) as f:
        token = f.read().strip()
    client = flight.FlightClient(f"grpc+tls://127.0.0.1:{port}", tls_root_certs=roots)
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    for ticket in (b"nonsense", b"arrowring1\n" + source.name.encode() + b"\nbad name\n-",
                   b"arrowring1\n" + source.name.encode() + b"\nok\nnot-a-number"):
        with pytest.raises(pa.ArrowException) as raised:
            client.do_get(flight.Ticket(ticket), options=options).read_all()
        assert re.search(r"bad ticket|subscriber name", str(raised.value)), raised.value
    for action, message in ((flight.Action("ack", b"garbage"), "bad ack"),
                            (flight.Action("ack", b"arrowring1\n" + source.name.encode() + b"\nnobody\n7"),
                             "no subscriber \"nobody\""),
                            (flight.Action("delete-everything", b""), "knows only \"ack\"")):
        with pytest.raises(pa.ArrowException) as raised:
            list(client.do_action(action, options=options))
        assert message in str(raised.value), raised.value
    # The server still serves: its description of the ring is there.
    info = client.get_flight_info(flight.FlightDescriptor.for_path(source.name), options=options)
    assert info.descriptor.path == [source.name.encode()]
    client.close()
    assert source.stats()["subscribers"] == []
    assert server.finish(signal.SIGINT) == 0
    assert "bad ticket" in "\n".join(server.lines["err"])


TAG = struct.Struct("<4sB3x6Q")  # the tag of every batch (src/arrowring/bridge/wire.h)


def ticket(ring, subscriber, sequence=None):
    """A DoGet ticket, or with `sequence` an ack body (src/arrowring/bridge/wire.h)."""
    return f"arrowring1\n{ring}\n{subscriber}\n{'-' if sequence is None else sequence}".encode()


@pytest.mark.parametrize("window", [1, 3])
def test_serve_window_is_how_many_tables_a_subscriber_has_unacknowledged(start, run, rings, window):
    """`serve --window N`: a remote durable subscriber that acknowledges nothing gets N tables
    and the server takes no more from the ring; each acknowledgement lets one more through."""
    flight = pytest.importorskip("pyarrow.flight")
    count = window + 3
    source = rings()
    server, port = serve(start, "--ring", source.name, "--window", str(window))
    client = flight.FlightClient(f"grpc://127.0.0.1:{port}")
    call = flight.FlightCallOptions(timeout=WATCHDOG)  # the watchdog of every read below
    name = "windowed"
    reader = client.do_get(flight.Ticket(ticket(source.name, name)), options=call)
    _ = reader.schema  # DoGet answered: the server holds the durable subscriber from here on
    publisher = source.publisher(timeout=WATCHDOG)
    for i in range(count):
        publisher.publish(event_table(i))
    got = []

    def receive(n):
        """Reads until `n` tables came, reopening the stream when the server ends it (its
        first table has another schema than the stream's first, empty, one); no acks."""
        nonlocal reader
        while len(got) < n:
            try:
                chunk = reader.read_chunk()
            except StopIteration:
                reader = client.do_get(flight.Ticket(ticket(source.name, name)), options=call)
                continue
            if chunk.data is None:
                continue
            sequence = TAG.unpack(chunk.app_metadata.to_pybytes())[3]
            if got and sequence <= got[-1][0]:
                continue  # replayed on the reopened stream: seen already
            got.append((sequence, chunk.data))

    def taken_by_server():
        """How many tables the server's subscriber took from the ring, as `stat` shows it."""
        stat = run("stat", source.name, "--json")
        assert stat.returncode == 0, stat.stderr
        (held,) = [s for s in json.loads(stat.stdout)["subscribers"] if s["name"] == name]
        return held["received"]

    def ack(sequence):
        list(client.do_action(flight.Action("ack", ticket(source.name, name, sequence)), options=call))

    receive(window)
    # The window is full: the server has taken exactly N tables from the ring and sent them,
    # and cannot take another before an ack (it waits for one, never buffering more).
    assert taken_by_server() == window, server.text()
    assert len(got) == window
    for i in range(window, count):
        ack(got[i - window][0])  # the oldest unacknowledged one: room for exactly one more
        receive(i + 1)
        assert taken_by_server() == i + 1, server.text()
    assert [s for s, _ in got] == list(range(got[0][0], got[0][0] + count))
    for i, (_, batch) in enumerate(got):
        assert pa.Table.from_batches([batch]).equals(event_table(i)), f"table {i} differs"
    reader.cancel()
    client.close()
    assert server.finish(signal.SIGINT) == 0, server.text()


@pytest.mark.parametrize("value", ["0", "-1", "many", "4097", "1.5"])
def test_serve_refuses_a_window_that_is_not_a_count_from_1_to_4096(run, value):
    result = run("serve", "--listen", "127.0.0.1:0", "--window", value, timeout=WATCHDOG)  # a server would run on
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("arrowring serve: --window: ") and "1 to 4096" in result.stderr, result.stderr
    assert "listening" not in result.stdout
