"""Rings shared with another user: a real second user (`tester`), run through setpriv.

A 0660 ring is created by root (owner root, group root). `tester` with root's group among its
groups is a group member; `tester` without it is anyone else.
"""
import json
import os
import pathlib
import pwd
import shutil
import stat
import subprocess

import pyarrow as pa
import pyarrow.ipc
import pytest

from conftest import run_in_group

OTHER_USER = "tester"


@pytest.fixture
def other_user(binary, shared_folder):
    """Runs the CLI as user `tester` through setpriv, as a member of the ring's group (root's)
    or of no group but its own; its files go to `shared_folder`, which it can read. Skips when
    not root, when there is no such user or no setpriv, or when it cannot reach the binary."""
    if os.geteuid() != 0:
        pytest.skip("needs root to run as another user")
    try:
        pwd.getpwnam(OTHER_USER)
    except KeyError:
        pytest.skip(f"no user {OTHER_USER!r}")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("no setpriv")
    for folder in pathlib.Path(binary).resolve().parents:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            pytest.skip(f"{OTHER_USER} cannot enter {folder}, above the binary")
    shared = shared_folder

    def argv(*args, member=True):
        groups = ["--groups=0"] if member else ["--clear-groups"]
        return [setpriv, f"--reuid={OTHER_USER}", f"--regid={OTHER_USER}", *groups, "--", binary, *map(str, args)]

    class OtherUser:
        def run(self, *args, member=True, timeout=60):
            return run_in_group(argv(*args, member=member), timeout=timeout)

        def popen(self, *args, member=True):
            return subprocess.Popen(argv(*args, member=member), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    stdin=subprocess.DEVNULL, start_new_session=True)

        def file(self, name, table):
            path = shared / name
            with pa.ipc.new_stream(path, table.schema) as writer:
                writer.write_table(table)
            os.chmod(path, 0o644)
            return path

    return OtherUser()


def finish(process, timeout=60):
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.communicate()
        raise
    return process.returncode, out, err.decode()


def test_a_group_member_publishes_and_subscribes_to_a_0660_ring_as_another_user(run, ring_name, other_user, binary):
    assert run("create", ring_name, "--capacity", "1MiB", "--mode", "0660").returncode == 0
    mine = other_user.file("mine.arrows", pa.table({"who": ["root"], "n": [1]}))
    theirs = other_user.file("theirs.arrows", pa.table({"who": ["tester"], "n": [2]}))
    # tester subscribes; root publishes one table, tester another; tester reads both.
    cat = other_user.popen("cat", ring_name, "--format", "jsonl", "--limit", "2", "--timeout", "60")
    try:
        line = cat.stderr.readline().decode()
        assert "subscribed" in line, line + cat.stderr.read().decode()
        stats = json.loads(run("stat", ring_name, "--json").stdout)
        uid = pwd.getpwnam(OTHER_USER).pw_uid
        (subscriber,) = stats["subscribers"]
        assert os.stat(f"/proc/{subscriber['pid']}").st_uid == uid, "the subscriber runs as the other user"
        assert run("pub", ring_name, mine).returncode == 0
        published = other_user.run("pub", ring_name, theirs)
        assert published.returncode == 0, published.stderr
        code, out, err = finish(cat)
    finally:
        if cat.poll() is None:
            os.killpg(cat.pid, 9)
            cat.wait()
    assert code == 0, err
    assert [json.loads(line) for line in out.decode().splitlines()] == [{"who": "root", "n": 1},
                                                                         {"who": "tester", "n": 2}]
    stats = json.loads(run("stat", ring_name, "--json").stdout)
    assert stats["messages_written"] == 2 and stats["messages_read"] == 2
    assert stats["mode"] == "0660"


def test_a_user_outside_the_group_is_refused_a_0660_ring(run, ring_name, other_user):
    assert run("create", ring_name, "--capacity", "1MiB", "--mode", "0660").returncode == 0
    result = other_user.run("stat", ring_name, member=False)
    assert result.returncode == 4, result.stderr
    assert "permission denied" in result.stderr
    assert other_user.run("stat", ring_name, member=True).returncode == 0


def test_recovery_by_another_user_leaves_a_live_holder_alone(holder, run, ring_name, other_user, tmp_path):
    """kill(pid, 0) on another user's process fails with EPERM: that process is alive, and
    reclaiming what it holds would hand its message and its write slot to others."""
    assert run("create", ring_name, "--capacity", "1MiB", "--mode", "0660").returncode == 0
    table = pa.table({"x": list(range(1000))})
    small = other_user.file("small.arrows", table)
    process = subprocess.Popen([holder, ring_name, "8400"], stdout=subprocess.PIPE, text=True,
                               start_new_session=True)  # root's, alive, holding
    try:
        assert process.stdout.readline() == "subscribed\n"
        assert run("pub", ring_name, small).returncode == 0
        held = process.stdout.readline().split()
        assert held[0] == "holding", held
        before = json.loads(run("stat", ring_name, "--json").stdout)
        result = other_user.run("recover", ring_name, "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        assert report["dead_pids"] == [], "a live process of another user was taken for dead"
        assert report["released_references"] == 0 and report["aborted_writes"] == 0
        assert report["reclaimed_bytes"] == 0 and report["removed_subscribers"] == 0
        after = json.loads(run("stat", ring_name, "--json").stdout)
        for key in ("writing_bytes", "committed_bytes", "free_bytes"):
            assert after[key] == before[key], key
        assert sorted((h["pid"], h["kind"], h["alive"]) for h in after["holders"]) == [
            (process.pid, "read", True), (process.pid, "write", True)]
        assert [s["name"] for s in after["subscribers"]] == ["holder"]
    finally:
        process.kill()
        process.communicate(timeout=60)
    # Once it is really dead, the same user's recovery reclaims it.
    report = json.loads(other_user.run("recover", ring_name, "--json").stdout)
    assert report["dead_pids"] == [process.pid]
