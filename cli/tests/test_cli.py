"""The `arrowring` command line, driven as users and scripts drive it."""
import json
import os
import pathlib
import pty
import re
import select
import signal
import shutil
import subprocess
import time

import pyarrow as pa
import pyarrow.csv
import pyarrow.ipc
import pyarrow.parquet
import pytest

GOLD = pathlib.Path(os.environ.get("ARROWRING_TESTING_DATA",
                                   pathlib.Path(__file__).resolve().parents[3] / "shared" / "arrow-testing"))
GOLD_STREAMS = sorted((GOLD / "integration").glob("**/*.stream"))
SUBCOMMANDS = ["create", "ls", "stat", "top", "rm", "recover", "pub", "cat", "demo", "help"]
REPO = pathlib.Path(__file__).resolve().parents[2]
STAT_FIELDS = {
    "name": str, "capacity_bytes": int, "policy": str, "mode": str, "free_bytes": int,
    "writing_bytes": int, "committed_bytes": int, "high_water_bytes": int,
    "messages_written": int, "messages_read": int, "messages_dropped": int,
    "messages_aborted": int, "bytes_written": int, "bytes_read": int, "holders": list,
    "subscribers": list,
}


class Cat:
    """`arrowring cat` in the background, started once it has subscribed."""

    def __init__(self, binary, ring, *args):
        # Its own process group; every use passes --timeout, so the first line always comes.
        self.process = subprocess.Popen([binary, "cat", ring, *args], stdout=subprocess.PIPE,
                                        stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
        line = self.process.stderr.readline().decode()
        assert "subscribed" in line, line

    def finish(self, timeout=60):
        try:
            out, err = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.communicate()
            raise
        return self.process.returncode, out, err.decode()


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(run, command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert "Usage" in result.stdout or "usage" in result.stdout.lower()


def test_no_subcommand_or_unknown_option_is_a_usage_error(run):
    assert run().returncode == 2
    assert run("ls", "--bogus").returncode == 2


def test_version_prints_the_projects_version(run):
    version = re.search(r"project\(arrowring VERSION (\S+)", (REPO / "CMakeLists.txt").read_text()).group(1)
    result = run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"arrowring {version}\n"


def test_help_lists_every_command_and_help_cmd_describes_one(run):
    result = run("help")
    assert result.returncode == 0, result.stderr
    assert "Usage: arrowring" in result.stdout
    for command in SUBCOMMANDS:
        assert re.search(rf"^  {command} ", result.stdout, re.M), command
    one = run("help", "create")
    assert one.returncode == 0, one.stderr
    assert "Usage: arrowring create" in one.stdout and "--capacity" in one.stdout
    unknown = run("help", "frobnicate")
    assert unknown.returncode == 2
    assert unknown.stderr.startswith("arrowring help: unknown command 'frobnicate'")


@pytest.mark.parametrize("args,prefix", [(["frobnicate"], "arrowring"), (["frobnicate", "--json"], "arrowring"),
                                         (["bridge", "frobnicate"], "arrowring bridge")])
def test_an_unknown_command_names_itself(run, args, prefix):
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(f"{prefix}: unknown command 'frobnicate'"), result.stderr
    assert "arrowring help" in result.stderr
    assert result.stdout == ""


@pytest.mark.parametrize("args,usage", [([], "Usage: arrowring [OPTIONS]"), (["bridge"], "Usage: arrowring bridge")])
def test_a_missing_command_prints_the_usage(run, args, usage):
    result = run(*args)
    assert result.returncode == 2
    assert usage in result.stderr and "a command is required" in result.stderr, result.stderr


@pytest.mark.parametrize("args,prefix,message", [
    (["top", "--interval", "abc"], "arrowring top: ", "Could not convert: --interval = abc"),
    (["pub", "some-ring", "missing.arrow"], "arrowring pub: ", "File does not exist: missing.arrow"),
    (["create"], "arrowring create: ", "name is required"),
    (["--bogus"], "arrowring: ", "--bogus"),
    (["stat", "--format", "xml"], "arrowring stat: ", "xml"),
])
def test_argument_errors_carry_the_command_prefix(run, args, prefix, message):
    result = run(*args)
    assert result.returncode == 2
    assert message in result.stderr
    lines = result.stderr.splitlines()
    assert lines and all(line.startswith(prefix) for line in lines), result.stderr


def test_a_bridge_warning_carries_the_command_prefix(run, tmp_path):
    if run("serve", "--help").returncode != 0:
        pytest.skip("built without the Flight bridge")
    token = tmp_path / "token"
    token.write_text("secret\n")
    token.chmod(0o644)
    result = run("bridge", "pull", "grpc://127.0.0.1:9/x", "--into", "no-such-ring-here", "--token-file", token)
    assert result.returncode == 3, result.stderr
    lines = result.stderr.splitlines()
    assert any("warning: token file" in line for line in lines), result.stderr
    assert all(line.startswith("arrowring bridge pull: ") for line in lines), result.stderr


def test_create_then_stat_json_has_the_documented_fields(run, ring_name):
    created = run("create", ring_name, "--capacity", "8MiB", "--policy", "drop-oldest", "--mode", "0660")
    assert created.returncode == 0, created.stderr
    result = run("stat", ring_name, "--json")
    assert result.returncode == 0, result.stderr
    stat = json.loads(result.stdout)
    for field, kind in STAT_FIELDS.items():
        assert isinstance(stat[field], kind), field
    assert stat["name"] == ring_name
    assert stat["capacity_bytes"] == 8 * 2**20
    assert stat["policy"] == "drop-oldest"
    assert stat["mode"] == "0660"
    assert stat["free_bytes"] == stat["capacity_bytes"]
    assert stat["holders"] == [] and stat["subscribers"] == []


@pytest.mark.parametrize("size,expected", [("4096", 4096), ("64KiB", 65536), ("1MiB", 2**20), ("2MB", 2_000_000)])
def test_sizes_accept_units(run, ring_name, size, expected):
    assert run("create", ring_name, "--capacity", size).returncode == 0
    capacity = json.loads(run("stat", ring_name, "--json").stdout)["capacity_bytes"]
    assert capacity == (expected + 4095) // 4096 * 4096


@pytest.mark.parametrize("size,rounded", [("1", 4096), ("4097", 8192)])
def test_create_says_when_it_rounds_the_capacity_up(run, ring_name, size, rounded):
    result = run("create", ring_name, "--capacity", size)
    assert result.returncode == 0, result.stderr
    assert result.stderr == (f"arrowring create: note: capacity {size} B rounded up to {rounded} B "
                             f"({rounded // 1024}.0 KiB): a ring holds whole 4 KiB pages\n")
    assert json.loads(run("stat", ring_name, "--json").stdout)["capacity_bytes"] == rounded


def test_create_of_a_whole_number_of_pages_says_nothing_on_stderr(run, ring_name):
    result = run("create", ring_name, "--capacity", "64KiB")
    assert result.returncode == 0 and result.stderr == ""


@pytest.mark.parametrize("args,code,message", [
    (["create", "bad/name", "--capacity", "1MiB"], 2, "contains '/'"),
    (["create", "x" * 201, "--capacity", "1MiB"], 2, "1 to 200 bytes"),
    (["create", "ok-name", "--capacity", "lots"], 2, "invalid size"),
    (["create", "ok-name", "--capacity", "1MiB", "--policy", "maybe"], 2, "block, fail or drop-oldest"),
    (["create", "ok-name", "--capacity", "1MiB", "--mode", "0777"], 2, "0600"),
    (["stat", "no-such-ring-here"], 3, "'arrowring ls' lists rings"),
    (["stat", "daq", "--all", "--format", "json"], 2, "give either NAME (that ring) or --all (every ring), not both"),
    (["stat"], 2, "name one ring, or pass --all"),
    (["rm", "no-such-ring-here"], 3, "no ring named"),
    (["cat", "no-such-ring-here", "--limit", "1"], 3, "no ring named"),
])
def test_errors_say_what_was_wrong_with_documented_exit_codes(run, args, code, message):
    result = run(*args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr


def test_names_the_seed_framework_makes_work_in_every_command(run, ring_name):
    # The framework names its rings ring_<base64 of an md5>: '=' always, '+' often.
    name = ring_name + "_Zm9v+YmFy=="
    try:
        assert run("create", name, "--capacity", "1MiB").returncode == 0
        assert name in run("ls").stdout
        assert json.loads(run("stat", name, "--json").stdout)["capacity_bytes"] == 2**20
    finally:
        assert run("rm", name, "--force").returncode == 0


def test_create_help_states_the_name_rule_the_core_applies(run, ring_name):
    help_text = run("create", "--help").stdout
    assert "[A-Za-z0-9._-]" not in help_text
    assert "1-200 bytes, any character but '/' and control characters" in help_text
    # What it allows works, and what it forbids is refused.
    for name in (ring_name + "_a+b= é", ring_name + "x" * (200 - len(ring_name) - 1)):
        try:
            assert run("create", name, "--capacity", "1MiB").returncode == 0, name
        finally:
            run("rm", name, "--force")
    for name in ("a/b", "tab\there", "x" * 201, ""):
        assert run("create", name, "--capacity", "1MiB").returncode == 2, repr(name)


def test_create_of_an_existing_name_fails(run, ring_name):
    assert run("create", ring_name, "--capacity", "1MiB").returncode == 0
    result = run("create", ring_name, "--capacity", "1MiB")
    assert result.returncode == 6
    assert "already exists" in result.stderr


@pytest.fixture
def reachable_copy(binary, shared_folder):
    """A copy of the binary and the libraries it loads outside the system's, in a folder other
    users can reach (another user cannot enter a checkout under /root or a mode-0700 folder)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")
    copy = shutil.copy(binary, shared_folder)
    for line in subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout.splitlines():
        parts = line.split("=>")
        if len(parts) == 2 and parts[1].split() and not parts[1].split()[0].startswith(("/lib", "/usr/lib")):
            shutil.copy(parts[1].split()[0], shared_folder)
    for name in os.listdir(shared_folder):
        os.chmod(shared_folder / name, 0o755)
    return copy, {"LD_LIBRARY_PATH": str(shared_folder), "PATH": "/usr/bin:/bin"}


def test_another_users_private_ring_is_permission_denied(reachable_copy, run, ring_name):
    copy, env = reachable_copy
    assert run("create", ring_name, "--capacity", "1MiB").returncode == 0

    def as_nobody():
        os.setgid(65534)
        os.setuid(65534)
    result = subprocess.run([copy, "stat", ring_name], capture_output=True, text=True, preexec_fn=as_nobody,
                            env=env, timeout=60)
    assert result.returncode == 4, result.stderr
    assert "permission denied" in result.stderr and "0600" in result.stderr


PROMETHEUS_SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\} (\d+)$')


def parse_prometheus(text):
    """A strict reader of the Prometheus text format: every family has HELP and TYPE before its
    samples, every sample line is well formed. Returns {(name, labels): value}."""
    samples, declared, family = {}, {}, None
    for line in text.splitlines():
        if line.startswith("# HELP "):
            family = line.split()[2]
            assert family not in declared, f"family {family} declared twice"
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name == family and kind in ("gauge", "counter"), line
            declared[name] = kind
        else:
            match = PROMETHEUS_SAMPLE.match(line)
            assert match, f"not a sample line: {line!r}"
            name, labels, value = match.groups()
            assert name == family, f"{name} outside its family"
            samples[(name, labels)] = int(value)
    return samples


def test_stat_exports_every_counter_for_prometheus(binary, run, ring_name, tmp_path):
    assert run("create", ring_name, "--capacity", "1MiB").returncode == 0
    cat = Cat(binary, ring_name, "--limit", "1", "--timeout", "60")
    try:
        live = parse_prometheus(run("stat", ring_name, "--format", "prometheus").stdout)
        subscriber = [labels for name, labels in live if name == "arrowring_subscriber_lag_messages"]
        assert len(subscriber) == 1 and f'ring="{ring_name}"' in subscriber[0] and "subscriber=" in subscriber[0]
        assert any(name == "arrowring_holder_alive" and f'pid="{cat.process.pid}"' in labels for name, labels in live)
        table = pa.table({"x": list(range(100))})
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write(table)
        path = tmp_path / "t.arrows"
        path.write_bytes(sink.getvalue().to_pybytes())
        assert run("pub", ring_name, path).returncode == 0
        code, _, _ = cat.finish()
        assert code == 0
    finally:
        if cat.process.poll() is None:
            cat.process.kill()
    result = run("stat", ring_name, "--format", "prometheus")
    assert result.returncode == 0, result.stderr
    samples = parse_prometheus(result.stdout)
    stats = json.loads(run("stat", ring_name, "--json").stdout)
    ring = f'ring="{ring_name}"'
    for key in ("capacity_bytes", "free_bytes", "committed_bytes", "high_water_bytes", "attachments"):
        assert samples[(f"arrowring_{key}", ring)] == stats[key], key
    for key in ("messages_written", "bytes_written", "messages_read", "bytes_read", "messages_dropped",
                "messages_aborted"):
        assert samples[(f"arrowring_{key}_total", ring)] == stats[key], key
    assert samples[(f"arrowring_messages_written_total", ring)] == 1
    everything = parse_prometheus(run("stat", "--all", "--format", "prometheus").stdout)
    assert (f"arrowring_capacity_bytes", ring) in everything


def test_stat_prometheus_labels_escape_any_ring_name(run, ring_name):
    name = ring_name + '_a"b\\c'
    assert run("create", name, "--capacity", "1MiB").returncode == 0
    try:
        samples = parse_prometheus(run("stat", name, "--format", "prometheus").stdout)
        assert samples[("arrowring_capacity_bytes", 'ring="' + name.replace("\\", "\\\\").replace('"', '\\"') + '"')] == 2**20
    finally:
        run("rm", name, "--force")


def test_ls_lists_rings_as_text_and_json(run, ring_name):
    assert run("create", ring_name, "--capacity", "1MiB").returncode == 0
    assert ring_name in run("ls").stdout
    rings = {ring["name"]: ring for ring in json.loads(run("ls", "--json").stdout)}
    assert rings[ring_name]["capacity_bytes"] == 2**20
    assert rings[ring_name]["error"] is None


def test_rm_refuses_a_ring_in_use_unless_forced(binary, run, ring_name):
    assert run("create", ring_name, "--capacity", "1MiB").returncode == 0
    cat = Cat(binary, ring_name, "--timeout", "60")
    try:
        refused = run("rm", ring_name)
        assert refused.returncode == 5
        assert str(cat.process.pid) in refused.stderr and "--force" in refused.stderr
        stat = json.loads(run("stat", ring_name, "--json").stdout)
        assert [s["name"] for s in stat["subscribers"]] == [f"cat-{cat.process.pid}"]
        assert run("rm", ring_name, "--force").returncode == 0
        assert run("stat", ring_name).returncode == 3
    finally:
        cat.process.kill()
        cat.process.wait()


def test_recover_reclaims_what_a_killed_subscriber_held(binary, run, ring_name):
    assert run("create", ring_name, "--capacity", "1MiB").returncode == 0
    cat = Cat(binary, ring_name, "--subscriber", "doomed", "--timeout", "60")
    cat.process.send_signal(signal.SIGKILL)
    cat.process.wait()
    result = run("recover", ring_name, "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["dead_pids"] == [cat.process.pid]
    assert report["removed_subscribers"] == 1
    assert "nothing to recover" in run("recover", ring_name).stdout


@pytest.mark.parametrize("as_json", [True, False], ids=["json", "text"])
def test_recover_counts_the_bytes_of_aborted_writes_and_released_reads(holder, run, ring_name, tmp_path, as_json):
    assert run("create", ring_name, "--capacity", "1MiB").returncode == 0
    small = write_stream(tmp_path / "small.arrows", pa.table({"x": [1, 2, 3]}))
    process = subprocess.Popen([holder, ring_name, "8400"], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)
    try:
        assert process.stdout.readline() == "subscribed\n"
        assert run("pub", ring_name, small).returncode == 0
        held = process.stdout.readline().split()  # "holding READ_BYTES WRITE_BYTES", then it waits
        assert held[0] == "holding", held
        read_bytes, write_bytes = int(held[1]), int(held[2])
        assert write_bytes >= 8400 and read_bytes > 0
    finally:
        process.kill()
        process.communicate(timeout=60)
    reserved = -(-read_bytes // 64) * 64 + -(-write_bytes // 64) * 64  # the ring reserves 64-byte multiples
    result = run("recover", ring_name, *(["--json"] if as_json else []))
    assert result.returncode == 0, result.stderr
    if as_json:
        report = json.loads(result.stdout)
        assert report["dead_pids"] == [process.pid]
        assert (report["aborted_writes"], report["aborted_bytes"]) == (1, write_bytes)
        assert (report["released_references"], report["released_bytes"]) == (1, read_bytes)
        assert report["removed_subscribers"] == 1
        assert report["reclaimed_bytes"] == reserved
    else:
        kib = lambda n: f"{n / 1024:.1f} KiB" if n >= 1024 else f"{n} B"  # noqa: E731
        assert f"aborted writes        1 ({kib(write_bytes)})" in result.stdout
        assert f"released references   1 ({kib(read_bytes)})" in result.stdout
        assert f"reclaimed             {kib(reserved)}" in result.stdout
    stat = json.loads(run("stat", ring_name, "--json").stdout)
    assert stat["free_bytes"] == stat["capacity_bytes"] and stat["holders"] == []


@pytest.mark.parametrize("gold", GOLD_STREAMS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_pub_then_cat_arrow_round_trips_gold_files(binary, run, ring_name, gold):
    assert run("create", ring_name, "--capacity", "16MiB").returncode == 0
    cat = Cat(binary, ring_name, "--format", "arrow", "--limit", "1", "--timeout", "60")
    published = run("pub", ring_name, gold, "--json")
    assert published.returncode == 0, published.stderr
    code, out, err = cat.finish()
    assert code == 0, err
    expected = pa.ipc.open_stream(gold.read_bytes()).read_all()
    actual = pa.ipc.open_stream(out).read_all()
    assert actual.schema.equals(expected.schema)
    assert actual.equals(expected)


def test_pub_reads_parquet_csv_and_arrow_files_in_batches(binary, run, ring_name, tmp_path):
    table = pa.table({"id": list(range(10)), "name": [f"n{i}" for i in range(10)]})
    pa.parquet.write_table(table, tmp_path / "t.parquet")
    pa.csv.write_csv(table, tmp_path / "t.csv")
    with pa.ipc.new_file(tmp_path / "t.arrow", table.schema) as writer:
        writer.write_table(table)
    assert run("create", ring_name, "--capacity", "4MiB").returncode == 0
    cat = Cat(binary, ring_name, "--format", "jsonl", "--limit", "12", "--timeout", "60")
    result = run("pub", ring_name, tmp_path / "t.parquet", tmp_path / "t.csv", tmp_path / "t.arrow",
                 "--batch-rows", "3", "--json")
    assert result.returncode == 0, result.stderr
    per_file = [json.loads(line) for line in result.stdout.splitlines()]
    assert [f["messages"] for f in per_file] == [4, 4, 4]
    code, out, _ = cat.finish()
    rows = [json.loads(line) for line in out.decode().splitlines()]
    assert code == 0 and len(rows) == 30
    assert rows[:10] == [{"id": i, "name": f"n{i}"} for i in range(10)]


def test_pub_refuses_a_file_that_is_not_arrow_parquet_or_csv(run, ring_name, tmp_path):
    assert run("create", ring_name, "--capacity", "1MiB").returncode == 0
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    result = run("pub", ring_name, junk)
    assert result.returncode == 8
    assert "not an Arrow IPC stream or file, a Parquet file or a .csv file" in result.stderr
    truncated = tmp_path / "bad.stream"
    truncated.write_bytes(b"\xff\xff\xff\xff\x10\x00\x00\x00garbage")
    assert run("pub", ring_name, truncated).returncode == 8


def write_stream(path, table):
    with pa.ipc.new_stream(path, table.schema) as writer:
        writer.write_table(table)
    return path


def test_pub_of_a_table_larger_than_the_ring_advises_batch_rows(run, ring_name, tmp_path):
    big = write_stream(tmp_path / "big.arrows", pa.table({"x": pa.array(range(300_000), pa.int64())}))
    assert run("create", ring_name, "--capacity", "1MiB").returncode == 0
    result = run("pub", ring_name, big)
    assert result.returncode == 11, result.stderr  # docs/cli.md: too large for the ring, not a usage error
    assert result.stderr.startswith(f"arrowring pub: {big}: ")
    assert "copying fallback" not in result.stderr
    rows = re.search(r"--batch-rows (\d+)", result.stderr)
    assert rows, result.stderr
    # The advice works as given.
    advised = run("pub", ring_name, big, "--batch-rows", rows.group(1), "--json")
    assert advised.returncode == 0, advised.stderr
    assert json.loads(advised.stdout)["rows"] == 300_000


def test_cat_arrow_ends_a_complete_stream_with_its_own_code_when_the_schema_changes(binary, run, ring_name,
                                                                                      tmp_path):
    first = write_stream(tmp_path / "a.arrows", pa.table({"id": [1, 2]}))
    second = write_stream(tmp_path / "b.arrows", pa.table({"name": ["x"]}))
    assert run("create", ring_name, "--capacity", "1MiB").returncode == 0
    cat = Cat(binary, ring_name, "--format", "arrow", "--limit", "2", "--timeout", "60")
    assert run("pub", ring_name, first, second).returncode == 0
    code, out, err = cat.finish()
    assert code == 12, err  # docs/cli.md: a schema change, not a usage error
    assert "another schema than the first" in err
    assert pa.ipc.open_stream(out).read_all().equals(pa.table({"id": [1, 2]}))


@pytest.mark.parametrize("fmt,check", [
    ("table", lambda out: "--- message" in out and "id:" in out),
    ("csv", lambda out: out.splitlines()[0] == '"id","name"' and len(out.splitlines()) == 4),
    ("jsonl", lambda out: json.loads(out.splitlines()[2]) == {"id": 2, "name": "c"}),
])
def test_cat_formats(binary, run, ring_name, tmp_path, fmt, check):
    table = pa.table({"id": [0, 1, 2], "name": ["a", "b", "c"]})
    path = tmp_path / "t.stream"
    with pa.ipc.new_stream(path, table.schema) as writer:
        writer.write_table(table)
    assert run("create", ring_name, "--capacity", "1MiB").returncode == 0
    cat = Cat(binary, ring_name, "--format", fmt, "--limit", "1", "--timeout", "60")
    assert run("pub", ring_name, path).returncode == 0
    code, out, err = cat.finish()
    assert code == 0, err
    assert check(out.decode()), out.decode()


def demo_like_table(events=3, samples=1024):
    """The schema `arrowring demo` publishes: a fixed_size_list waveform per event."""
    waveform = pa.FixedSizeListArray.from_arrays(
        pa.array([(e * 31 + k * 7) & 0x3FFF for e in range(events) for k in range(samples)], pa.int16()), samples)
    return pa.table({"event_id": pa.array(range(events), pa.int64()),
                     "timestamp_ns": pa.array([10**18 + e for e in range(events)], pa.int64()),
                     "channel": pa.array([e % 64 for e in range(events)], pa.int16()),
                     "waveform": waveform})


def nested_table():
    return pa.table({
        "id": [0, 1, 2],
        "hits": pa.array([[1, 2], [], None], pa.list_(pa.int64())),
        "xyz": pa.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]], pa.list_(pa.int16(), 3)),
        "energy": pa.array([[0.5, float("nan")], [1e300], [-2.25]], pa.large_list(pa.float64())),
        "track": pa.array([{"a": 1, "b": "x\"y"}, {"a": None, "b": "z"}, None],
                          pa.struct([("a", pa.int32()), ("b", pa.string())])),
        "tags": pa.array([[("k", 1)], [], [("m", 2), ("n", 3)]], pa.map_(pa.string(), pa.int32())),
        "deep": pa.array([[[1], [2, 3]], [], [[]]], pa.list_(pa.list_(pa.uint8()))),
    })


def as_json_value(value):
    """What the CSV cell's JSON holds for a to_pylist value: maps as [key, value] pairs, NaN as null."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, tuple):
        return [as_json_value(v) for v in value]
    if isinstance(value, list):
        return [as_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: as_json_value(v) for k, v in value.items()}
    return value


@pytest.mark.parametrize("table", [nested_table(), demo_like_table()], ids=["nested", "demo"])
def test_cat_csv_writes_nested_columns_as_json_text(binary, run, ring_name, tmp_path, table):
    import csv
    import io
    path = write_stream(tmp_path / "t.arrows", table)
    assert run("create", ring_name, "--capacity", "4MiB").returncode == 0
    cat = Cat(binary, ring_name, "--format", "csv", "--limit", "1", "--timeout", "60")
    assert run("pub", ring_name, path).returncode == 0
    code, out, err = cat.finish()
    assert code == 0, err
    rows = list(csv.reader(io.StringIO(out.decode())))
    assert rows[0] == table.column_names and len(rows) == table.num_rows + 1
    for c, name in enumerate(table.column_names):
        column = table.column(name)
        nested = pa.types.is_nested(column.type)
        for r, value in enumerate(column.to_pylist()):
            cell = rows[r + 1][c]
            if value is None:
                assert cell == "", (name, r, cell)
            elif nested:
                assert json.loads(cell) == as_json_value(value), (name, r, cell)
            else:
                assert cell == str(value), (name, r, cell)


def test_cat_ends_after_its_timeout_on_an_empty_ring(run, ring_name):
    assert run("create", ring_name, "--capacity", "1MiB").returncode == 0
    result = run("cat", ring_name, "--timeout", "0.3")
    assert result.returncode == 0 and result.stdout == ""
    assert run("cat", ring_name, "--format", "xml").returncode == 2


def waitpid_or_kill(pid, timeout):
    """The wait status of child `pid` once it ends; if it has not ended within `timeout`
    seconds (a `top` that ignores q), it is killed (watchdog) and the test fails."""
    pidfd = os.pidfd_open(pid)  # readable once the process has ended
    try:
        ended = select.select([pidfd], [], [], timeout)[0]
    finally:
        os.close(pidfd)
    if not ended:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail(f"watchdog: process {pid} did not end within {timeout} s; killed")
    return os.waitpid(pid, 0)[1]


def test_top_refreshes_under_a_terminal_and_quits_on_q(binary, run, ring_name):
    assert run("create", ring_name, "--capacity", "1MiB").returncode == 0
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(binary, [binary, "top", "--interval", "0.2"])
    status = None
    try:
        screen = b""
        deadline = time.monotonic() + 30
        while screen.count(b"arrowring top") < 3 and time.monotonic() < deadline:
            if select.select([fd], [], [], 1)[0]:
                screen += os.read(fd, 65536)
        os.write(fd, b"q")
        status = waitpid_or_kill(pid, timeout=30)
    finally:
        if status is None:  # failed on the way: no `top` outlives the test
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass  # the watchdog reaped it already
        os.close(fd)
    assert screen.count(b"arrowring top") >= 3, screen[-500:]
    assert ring_name.encode() in screen and b"OCCUPANCY" in screen
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def test_top_without_a_terminal_runs_its_iterations(run, ring_name):
    assert run("create", ring_name, "--capacity", "1MiB").returncode == 0
    result = run("top", "--interval", "0.05", "--iterations", "2", stdin=subprocess.DEVNULL)
    assert result.returncode == 0
    assert result.stdout.count("arrowring top") == 2 and ring_name in result.stdout
    assert "\x1b" not in result.stdout, "no escape sequences into a pipe"


def test_demo_moves_verifies_stores_and_removes_its_ring(run, ring_name, tmp_path):
    output = tmp_path / "demo.arrow"
    name = ring_name  # removed by the fixture with `rm --force` should the demo leave it
    result = run("demo", "--seconds", "1", "--events-per-table", "64", "--capacity", "32MiB",
                 "--ring", name, "--output", output)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "verified" in result.stdout
    moved = int(result.stdout.split("moved")[1].split("tables")[0])
    assert f"verified    {moved} of {moved} tables" in result.stdout
    assert moved > 0
    assert not re.search(r"(?<![\w.])-\d", result.stdout), "no negative value in a summary"
    # What bounds the run: each role's rate and busy share, and the file system's own rate.
    assert re.search(r"roles +producer [\d.]+ GB/s \(\d+% of a core\), verifier [\d.]+ GB/s \(\d+% of a core\), "
                     r"storage [\d.]+ GB/s \(\d+% of a core\)", result.stdout), result.stdout
    assert re.search(r"file system [\d.]+ GB/s", result.stdout) and "bound       " in result.stdout, result.stdout
    assert not list(tmp_path.glob("*.speed")), "the file system's measurement leaves nothing"
    with pa.ipc.open_file(output) as reader:
        assert reader.num_record_batches == moved
        stored = reader.read_all()
    assert stored.num_rows == moved * 64
    assert stored.column("event_id").to_pylist() == list(range(moved * 64))
    assert run("stat", name).returncode == 3, "the demo removes its ring"


def test_demo_removes_its_storage_file_unless_asked_to_keep_it(run, ring_name, tmp_path):
    name = ring_name
    result = run("demo", "--seconds", "1", "--events-per-table", "64", "--capacity", "32MiB", "--ring", name,
                 env={**os.environ, "TMPDIR": str(tmp_path)})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "file removed; pass --output PATH to keep it" in result.stdout
    assert list(tmp_path.iterdir()) == []


def test_demo_refuses_to_start_when_the_output_filesystem_cannot_hold_the_run(run, ring_name, tmp_path):
    name = ring_name
    result = run("demo", "--seconds", str(10**12), "--ring", name, "--output", tmp_path / "huge.arrow")
    assert result.returncode == 10, result.stderr
    assert "free, but a" in result.stderr and "--output on a larger filesystem" in result.stderr
    assert list(tmp_path.iterdir()) == [] and run("stat", name).returncode == 3, "nothing was started"


def test_a_demo_whose_producer_failed_says_so_and_invents_no_statistics(run, ring_name, tmp_path):
    # The default table (4096 events of 1024 samples, 8 MiB) cannot fit a 4 MiB ring.
    name = ring_name
    result = run("demo", "--seconds", "1", "--capacity", "4MiB", "--ring", name,
                 env={**os.environ, "TMPDIR": str(tmp_path)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "arrowring demo: producer: " in result.stderr  # its own error
    assert all(line.startswith("arrowring demo: ") for line in result.stderr.splitlines()), result.stderr
    assert "the producer failed" in result.stderr and "no summary" in result.stderr
    for statistic in ("moved", "latency", "verified", "stored", "throughput"):
        assert statistic not in result.stdout, statistic
    assert not re.search(r"(?<![\w.])-\d", result.stdout), "no negative value"
    assert list(tmp_path.iterdir()) == [] and run("stat", name).returncode == 3, "nothing left behind"


def test_demo_refuses_bad_arguments(run):
    assert run("demo", "--seconds", "0").returncode == 2
    assert run("demo", "--capacity", "huge").returncode == 2




def test_a_retaining_ring_gives_cat_from_oldest_its_history_in_order(run, ring_name, tmp_path):
    assert "retaining" in run("create", ring_name, "--capacity", "1MiB", "--retain").stdout
    for value in range(5):
        pa.csv.write_csv(pa.table({"v": [value]}), tmp_path / f"{value}.csv")
        assert run("pub", ring_name, tmp_path / f"{value}.csv").returncode == 0
    history = run("cat", ring_name, "--from", "oldest", "--format", "jsonl", "--limit", "5", "--timeout", "30")
    assert history.returncode == 0, history.stderr
    assert [json.loads(line)["v"] for line in history.stdout.splitlines()] == [0, 1, 2, 3, 4]
    fresh = run("cat", ring_name, "--format", "jsonl", "--timeout", "0.2")
    assert fresh.returncode == 0 and fresh.stdout == "", "the default start is new messages only"
    stats = json.loads(run("stat", ring_name, "--json").stdout)
    assert stats["retain"] is True and stats["committed_messages"] == 5
    assert {"kept_messages", "kept_bytes", "max_kept", "kept_full", "messages_given_way"} <= stats.keys()
    assert run("cat", ring_name, "--from", "yesterday").returncode == 2


def test_a_prefaulting_ring_says_so_in_create_stat_and_json(run, ring_name):
    assert "prefaulting" in run("create", ring_name, "--capacity", "1MiB", "--prefault").stdout
    assert "prefaulting" in run("stat", ring_name).stdout
    assert json.loads(run("stat", ring_name, "--json").stdout)["prefault"] is True


def test_create_max_messages_is_the_exact_number_a_ring_holds_at_once(run, ring_name, tmp_path):
    # A retaining ring keeps every message until it needs the room: with --max-messages 3 the
    # fourth and fifth table each make the oldest give way, whatever the free bytes.
    assert run("create", ring_name, "--capacity", "1MiB", "--max-messages", "3", "--retain").returncode == 0
    pa.csv.write_csv(pa.table({"v": list(range(5))}), tmp_path / "five.csv")
    assert run("pub", ring_name, tmp_path / "five.csv", "--batch-rows", "1").returncode == 0
    stat = json.loads(run("stat", ring_name, "--json").stdout)
    assert stat["max_messages"] == 3
    assert (stat["committed_messages"], stat["messages_given_way"], stat["messages_written"]) == (3, 2, 5)
    result = run("cat", ring_name, "--from", "oldest", "--format", "jsonl", "--limit", "3", "--timeout", "60")
    assert result.returncode == 0, result.stderr
    assert [json.loads(line)["v"] for line in result.stdout.splitlines()] == [2, 3, 4]
