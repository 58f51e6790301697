"""arrowring.flight: Python reads rings through the real `arrowring serve` binary.

Servers listen on 127.0.0.1 on a port the kernel picks (--listen 127.0.0.1:0), read from the
server's first line. No wait is a sleep: each step waits for a line the server prints or for a
table, bounded by WATCHDOG so a hang fails the test. Certificates and tokens are made with the
openssl CLI in a private (0700) temporary folder removed afterwards; rings are unlinked.
"""
import itertools
import os
import pathlib
import re
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading

import pyarrow as pa
import pytest

import arrowring as ar

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "support"))
from cli_process import WATCHDOG, CliProcess, make_tls  # noqa: E402

import arrowring.flight as flight_mod  # noqa: E402  (pyarrow 26 wheels ship Flight)

ROWS = 256
_names = itertools.count()


@pytest.fixture(scope="module", autouse=True)
def needs_bridge(cli):
    if subprocess.run([cli, "serve", "--help"], capture_output=True).returncode != 0:
        pytest.skip("arrowring built without the Flight bridge (ARROWRING_BUILD_BRIDGE=OFF)")


class Server(CliProcess):
    """`arrowring serve` on 127.0.0.1 and a free port, read from its first line."""

    def __init__(self, cli, *args):
        super().__init__(cli, "serve", "--listen", "127.0.0.1:0", *args)
        match = self.wait_for(r"listening on (grpc(?:\+tls)?://127\.0\.0\.1:(\d+))", "out")
        self.location, self.port = match.group(1), int(match.group(2))

    def stop(self):
        """SIGINT, then its exit code (it must end on its own within WATCHDOG)."""
        return self.finish(signal.SIGINT)


@pytest.fixture
def serve(cli):
    started = []

    def serve(*args):
        server = Server(cli, *args)
        started.append(server)
        return server

    yield serve
    for server in started:
        server.kill()


@pytest.fixture
def rings():
    """Rings with names unique to this test (conftest checks none is left in /dev/shm)."""
    made = []

    def make(capacity=16 * 2**20, policy="block"):
        ring = ar.Ring.create(f"test-py-{os.getpid()}-flight-{next(_names)}", capacity=capacity, policy=policy)
        made.append(ring)
        return ring

    yield make
    for ring in made:
        ring.unlink()


@pytest.fixture
def tls(tmp_path):
    """A certificate for 127.0.0.1 made by the openssl CLI, its key and tokens, in a private
    folder removed afterwards."""
    folder = tempfile.mkdtemp(prefix="flight-", dir=tmp_path)  # mode 0700
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    made = make_tls(folder)
    yield {"cert": made["cert"], "key": made["key"], "token": made["token_value"], "token_file": made["token"]}
    shutil.rmtree(folder)


def event_table(i, rows=ROWS):
    """Table i: every value derived from i, so each can be checked."""
    seq = pa.array(range(i * rows, (i + 1) * rows), pa.int64())
    return pa.table({
        "seq": seq,
        "adc": pa.array([(s * 2654435761) % 65521 - 32760 for s in range(i * rows, (i + 1) * rows)], pa.int16()),
        "label": pa.array([f"event-{s}" for s in range(i * rows, (i + 1) * rows)]),
    })


def tls_server(serve, tls, *rings):
    args = ["--tls-cert", tls["cert"], "--tls-key", tls["key"], "--token-file", tls["token_file"]]
    for ring in rings:
        args += ["--ring", ring]
    return serve(*args)


def test_tables_cross_tls_with_a_token_equal_and_in_order(serve, rings, tls):
    """Every kind of table: multi-batch, empty, a schema change mid-stream (the server starts
    a new Flight stream, the client follows without losing or repeating anything)."""
    source = rings()
    server = tls_server(serve, tls, source.name)
    other_schema = pa.table({"energy": pa.array([1.5, 2.5], pa.float64())})
    tables = [event_table(i) for i in range(8)]
    tables.append(pa.concat_tables([event_table(8, 10), event_table(9, 10)]))  # two batches
    tables.append(event_table(10).slice(0, 0))                                  # no rows
    tables += [other_schema, other_schema.slice(1), event_table(11)]            # schema changes
    with flight_mod.connect(server.location, token=tls["token"], tls_roots=tls["cert"]) as client:
        with client.subscribe(source.name, "analysis") as sub:
            publisher = source.publisher(timeout=WATCHDOG)
            for table in tables:
                publisher.publish(table)
            first = None
            for i, expected in enumerate(tables):
                message = sub.next_message(timeout=WATCHDOG)
                assert message is not None, f"watchdog: table {i} did not arrive:\n{server.text()}"
                assert message.table.equals(expected), f"table {i} differs"
                first = message.sequence if first is None else first
                assert message.sequence == first + i and message.missed == 0
                assert message.ring_id == source.stats()["ring_id"]
            assert sub.next(timeout=0) is None
            assert sub.gaps == 0 and sub.missed == 0
            # Exactly: the server's subscriber took each table from the ring once, the client
            # handed over each once, in order (sequences above), and nothing more is due.
            (served,) = [s for s in source.stats()["subscribers"] if s["name"] == "analysis"]
            assert (served["received"], served["lag"], served["missed"]) == (len(tables), 0, 0)
        assert sub.last_sequence == first + len(tables) - 1  # close() acknowledged the last
    assert server.stop() == 0, server.text()


def test_resume_after_closing_mid_stream_loses_and_repeats_nothing(serve, rings):
    count = 30
    source = rings()
    server = serve("--ring", source.name)
    seen = []

    def read(sub, n):
        for _ in range(n):
            message = sub.next_message(timeout=WATCHDOG)
            assert message is not None, f"watchdog:\n{server.text()}"
            seen.append((message.sequence, message.table))

    with flight_mod.connect(server.location) as client:
        sub = client.subscribe(source.name, "job")
        publisher = source.publisher(timeout=WATCHDOG)
        for i in range(count):
            publisher.publish(event_table(i))
        read(sub, 10)
        sub.close()  # mid-stream: the server has sent more than it was acknowledged
        stored = sub.last_sequence
        assert stored == seen[-1][0]
        with pytest.raises(ar.BadStateError):
            sub.next()
    # A new connection that carries on from the sequence the job stored, explicitly.
    with flight_mod.connect(server.location) as client:
        with client.subscribe(source.name, "job", resume_after=stored) as sub:
            read(sub, 10)
        # The same name without resume_after: the server kept the place.
        with client.subscribe(source.name, "job") as sub:
            read(sub, count - 20)
            assert sub.next(timeout=0) is None
    sequences = [s for s, _ in seen]
    assert sequences == list(range(sequences[0], sequences[0] + count)), sequences
    for i, (_, table) in enumerate(seen):
        assert table.equals(event_table(i)), f"table {i} differs"
    assert server.stop() == 0, server.text()


def test_lists_the_rings_with_schema_and_counters(serve, rings):
    source, listed_absent = rings(), f"test-py-{os.getpid()}-flight-absent"
    source.publisher().publish(event_table(0))
    server = serve("--ring", source.name, "--ring", listed_absent)
    with flight_mod.connect(server.location) as client:
        infos = client.list_rings()
        assert [info.name for info in infos] == [source.name]  # the absent one is skipped
        info = infos[0]
        assert info.messages_written == 1 and info.bytes_written > 0
        assert info.stats["policy"] == "block" and info.stats["ring_id"] == source.stats()["ring_id"]
        assert client.ring_info(source.name).name == source.name
    assert server.stop() == 0
    # Without --ring the server serves, and lists, every ring of the machine.
    server = serve()
    with flight_mod.connect(server.location) as client:
        assert source.name in [info.name for info in client.list_rings()]
    assert server.stop() == 0


def _free_port():
    """A port nothing listens on: one the kernel gave us, closed again."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("case", ["wrong token", "no token", "plain client to a TLS server",
                                  "TLS client to a plain server", "untrusted certificate",
                                  "unreachable server", "unknown ring", "ring not served"])
def test_every_refusal_is_our_error_with_the_servers_words(serve, rings, tls, case):
    source, other = rings(), rings()
    absent = f"test-py-{os.getpid()}-flight-absent"
    server = tls_server(serve, tls, source.name, absent)
    location, token, roots, ring = server.location, tls["token"], tls["cert"], source.name
    expect_class, expect_words, at_connect, logged = None, None, True, None
    if case == "wrong token":
        token, expect_class, expect_words = "not-the-token", ar.AuthenticationError, "wrong bearer token"
        logged = "wrong bearer token"
    elif case == "no token":
        token, expect_class, expect_words = None, ar.AuthenticationError, "needs a bearer token"
        logged = "no bearer token"
    elif case == "plain client to a TLS server":
        location, roots = location.replace("grpc+tls://", "grpc://"), None
        expect_class, expect_words = ar.ConnectionFailedError, "this client uses plain gRPC"
    elif case == "TLS client to a plain server":
        plain = serve()
        location = plain.location.replace("grpc://", "grpc+tls://")
        expect_class, expect_words = ar.ConnectionFailedError, "this client uses TLS"
    elif case == "untrusted certificate":
        roots, expect_class, expect_words = None, ar.ConnectionFailedError, "must be signed by tls_roots"
    elif case == "unreachable server":
        location = f"grpc+tls://127.0.0.1:{_free_port()}"
        expect_class, expect_words = ar.ConnectionFailedError, "cannot reach"
    elif case == "unknown ring":
        ring, at_connect = absent, False
        expect_class, expect_words = ar.NoSuchRingError, f'unknown ring "{absent}"'
    elif case == "ring not served":
        ring, at_connect = other.name, False
        expect_class, expect_words = ar.NotServedError, "is not served here"
    with pytest.raises(expect_class) as raised:
        client = flight_mod.connect(location, token=token, tls_roots=roots)
        assert not at_connect, "connect() must check the connection"
        try:
            client.subscribe(ring, "analysis")
        finally:
            client.close()
    error = raised.value
    assert isinstance(error, ar.Error)
    assert expect_words in str(error), str(error)
    assert "Detail:" not in str(error) and "debug context" not in str(error), str(error)
    # Nothing subscribed anywhere, and the server carries on.
    assert source.stats()["subscribers"] == [] and other.stats()["subscribers"] == []
    assert server.process.poll() is None
    if logged:
        server.wait_for(logged)  # the server logged the refusal
    with flight_mod.connect(server.location, token=tls["token"], tls_roots=tls["cert"]) as client:
        assert [info.name for info in client.list_rings()] == [source.name]
    assert server.stop() == 0, server.text()


@pytest.mark.parametrize("location,kwargs,words", [
    ("http://127.0.0.1:1", {}, "unsupported scheme"),
    ("127.0.0.1:1", {}, "expected grpc://host:port"),
    ("grpc://127.0.0.1:1/ring", {}, "the ring is an argument of subscribe()"),
    ("grpc://127.0.0.1:1", {"tls_roots": "/nonexistent.pem"}, "use grpc+tls://"),
    ("grpc+tls://127.0.0.1:1", {"tls_roots": "/nonexistent.pem"}, "cannot read tls_roots"),
    ("grpc://127.0.0.1:1", {"token": " "}, "token must be a non-empty string"),
])
def test_bad_arguments_say_what_is_wrong(location, kwargs, words):
    with pytest.raises(ar.InvalidArgumentError, match=re.escape(words)):
        flight_mod.connect(location, **kwargs)


def test_bad_subscription_names_are_refused_before_any_call(serve, rings):
    source = rings()
    server = serve("--ring", source.name)
    with flight_mod.connect(server.location) as client:
        with pytest.raises(ar.InvalidArgumentError, match="without newlines"):
            client.subscribe(source.name, "a\nb")
        with pytest.raises(ar.InvalidArgumentError, match="resume_after"):
            client.subscribe(source.name, "a", resume_after=-1)
        with pytest.raises(ar.InvalidArgumentError, match="rejected the request"):
            client.subscribe(source.name, "bad name")  # the server's rule for names
    assert source.stats()["subscribers"] == []
    assert server.stop() == 0


def test_a_server_that_stops_mid_stream_is_a_clear_error(serve, rings):
    source = rings()
    server = serve("--ring", source.name)
    with flight_mod.connect(server.location) as client:
        sub = client.subscribe(source.name, "job")
        source.publisher().publish(event_table(0))
        assert sub.next(timeout=WATCHDOG).equals(event_table(0))
        assert server.stop() == 0
        with pytest.raises(ar.ConnectionFailedError, match="Subscribe again under the same name"):
            sub.next(timeout=WATCHDOG)
        with pytest.raises(ar.ConnectionFailedError):  # and stays failed
            sub.next(timeout=0)
        sub.close()


def test_close_from_another_thread_ends_a_waiting_read(serve, rings):
    source = rings()
    server = serve("--ring", source.name)
    with flight_mod.connect(server.location) as client:
        sub = client.subscribe(source.name, "job")
        outcome = []
        waiting = threading.Thread(target=lambda: outcome.append(list(sub)))  # an analysis loop
        waiting.start()
        sub.close()  # nothing was published: the loop waits for a table when this runs
        waiting.join(WATCHDOG)
        assert not waiting.is_alive() and outcome == [[]]  # the loop ended cleanly
    assert server.stop() == 0


def test_one_libarrow_in_the_process():
    """pyarrow.flight comes from the pyarrow arrowring uses: one libarrow, one Flight."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "libarrow" in line and "/" in line}
    arrow = {p for p in paths if os.path.basename(p).startswith("libarrow.so")}
    flight_libs = {p for p in paths if os.path.basename(p).startswith("libarrow_flight.so")}
    assert len(arrow) == 1 and len(flight_libs) == 1, paths
    assert os.path.dirname(arrow.pop()) == os.path.dirname(flight_libs.pop()) == os.path.dirname(pa.__file__)


def test_messages_yields_each_table_with_its_sequence_until_closed(serve, rings):
    source = rings()
    server = serve("--ring", source.name)
    with flight_mod.connect(server.location) as client:
        sub = client.subscribe(source.name, "iterating")
        publisher = source.publisher(timeout=WATCHDOG)
        for i in range(3):
            publisher.publish(event_table(i))
        got = []
        for message in sub.messages():
            got.append(message)
            if len(got) == 3:
                sub.close()  # ends the iteration
        first = got[0].sequence
        assert [m.sequence for m in got] == [first, first + 1, first + 2]
        assert all(m.table.equals(event_table(i)) and m.missed == 0 for i, m in enumerate(got))
        assert list(sub.messages()) == []
    assert server.stop() == 0, server.text()


def test_a_schema_change_while_a_table_is_held_reopens_once_and_repeats_nothing(serve, rings):
    """The server ends a stream at a schema change; the client opens the next one once the
    tables it handed over are acknowledged, so nothing is sent twice, however long the job
    holds its table (it used to reopen at once, and again, thousands of times a second, each
    time getting the held table again)."""
    source = rings()
    server = serve("--ring", source.name, "--interval", "0.05")
    other = pa.table({"energy": pa.array([1.5], pa.float64())})
    with flight_mod.connect(server.location) as client:
        with client.subscribe(source.name, "job") as sub:
            publisher = source.publisher(timeout=WATCHDOG)
            for table in (event_table(0), event_table(1), other):
                publisher.publish(table)
            first = sub.next_message(timeout=WATCHDOG)
            second = sub.next_message(timeout=WATCHDOG)  # acknowledges the first, holds this one
            assert first is not None and second is not None, f"watchdog:\n{server.text()}"
            assert first.table.equals(event_table(0)) and second.table.equals(event_table(1))
            # The server sent both, took the table of the other schema and ended the stream;
            # a progress line with no stream open says so, and what it sent in all.
            idle = re.compile(r"^arrowring serve: 0 active stream\(s\); sent (\d+) tables")
            with server.changed:
                assert server.changed.wait_for(
                    lambda: any((m := idle.search(line)) and int(m.group(1)) >= 2 for line in server.lines["out"]),
                    timeout=WATCHDOG), f"watchdog: the stream did not end:\n{server.text()}"
                sent = next(int(m.group(1)) for line in server.lines["out"]
                            if (m := idle.search(line)) and int(m.group(1)) >= 2)
            assert sent == 2, f"tables sent again while the job held one:\n{server.text()}"
            third = sub.next_message(timeout=WATCHDOG)  # acknowledges the second: the next stream
            assert third is not None and third.table.equals(other)
            assert third.sequence == second.sequence + 1 == first.sequence + 2
            assert sub.duplicates == 0 and sub.gaps == 0
    assert server.stop() == 0, server.text()
    opened = [line for line in server.lines["err"] if f"stream {source.name}/job " in line]
    # subscribe() (its schema still empty), its first table (another schema), the schema change
    assert len(opened) == 3, server.text()

class ReplayingServer:
    """A Flight server on 127.0.0.1 (a port the kernel picks) that speaks arrowring's protocol
    and sends tables again: its first stream sends sequences 10 and 11, then ends (as `arrowring
    serve` ends a stream when the schema changes, and the client reopens it); every later
    stream sends 10 and 11 again, as a server that lost their acknowledgements would, then 12,
    and stays open until the test ends."""

    RING_ID = 0x1234

    def __init__(self):
        import pyarrow.flight as flight
        self.acks = []
        self.streams = 0
        self.done = threading.Event()
        outer = self

        class Server(flight.FlightServerBase):
            def list_flights(self, context, criteria):
                return iter(())

            def do_action(self, context, action):
                outer.acks.append(int(action.body.to_pybytes().split(b"\n")[-1]))
                return iter(())

            def do_get(self, context, ticket):
                outer.streams += 1
                sequences = [10, 11] if outer.streams == 1 else [10, 11, 12]

                def batches():
                    for sequence in sequences:
                        tag = flight_mod._TAG.pack(b"ARB1", 1, outer.RING_ID, sequence, 0, 1, 0, 0)
                        yield event_table(sequence).to_batches()[0], pa.py_buffer(tag)
                    if outer.streams > 1:
                        outer.done.wait(WATCHDOG)  # open until the test ends (bounded)

                return flight.GeneratorStream(event_table(0).schema, batches())

        self.server = Server("grpc://127.0.0.1:0")
        self.location = f"grpc://127.0.0.1:{self.server.port}"

    def stop(self):
        self.done.set()
        self.server.shutdown()


def test_tables_sent_again_after_a_reopen_are_counted_as_duplicates_and_handed_over_once():
    server = ReplayingServer()
    try:
        with flight_mod.connect(server.location) as client:
            with client.subscribe("replayed", "job") as sub:
                got = [sub.next_message(timeout=WATCHDOG) for _ in range(3)]
                assert None not in got, f"watchdog: got {got}"
                assert [m.sequence for m in got] == [10, 11, 12]
                assert all(m.table.equals(event_table(m.sequence)) for m in got)
                assert server.streams == 2, "the client reopened the stream once"
                assert sub.duplicates == 2, "10 and 11 came again on the second stream"
                assert sub.gaps == 0 and sub.missed == 0
                assert sub.next(timeout=0) is None
    finally:
        server.stop()
