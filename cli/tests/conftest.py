import itertools
import os
import pathlib
import signal
import stat
import subprocess
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "tests" / "support"))


def pytest_addoption(parser):
    parser.addoption("--arrowring-binary", default=None, help="path to build/bin/arrowring")
    parser.addoption("--arrowring-holder", default=None,
                     help="path to build/bin/arrowring_test_holder (default: beside the binary)")


def build_dir():
    """$ARROWRING_BUILD_DIR, else the checkout's build/."""
    return pathlib.Path(os.environ.get("ARROWRING_BUILD_DIR") or pathlib.Path(__file__).resolve().parents[2] / "build")


def binary_path(config):
    """--arrowring-binary, else the build directory's bin/arrowring."""
    return config.getoption("--arrowring-binary") or str(build_dir() / "bin" / "arrowring")


def pytest_configure(config):
    # Temporary files under the build directory (pytest-cli, as ctest passes), not /tmp,
    # unless --basetemp says otherwise.
    if config.option.basetemp is None and build_dir().is_dir():
        config.option.basetemp = str(build_dir() / "pytest-cli")


@pytest.fixture(scope="session")
def binary(request):
    path = binary_path(request.config)
    assert os.access(path, os.X_OK), f"{path} missing: run `make build`"
    return path


@pytest.fixture(scope="session")
def holder(request, binary):
    """cli/tests/holder.cc: a process that dies holding ring space, for `recover`."""
    path = request.config.getoption("--arrowring-holder") or os.path.join(os.path.dirname(binary),
                                                                          "arrowring_test_holder")
    assert os.access(path, os.X_OK), f"{path} missing: build with ARROWRING_BUILD_TESTS=ON"
    return path


_names = itertools.count()


@pytest.fixture
def ring_name(binary):
    """A ring name unique to this test; whatever is left under it is removed afterwards."""
    name = f"test-cli-{os.getpid()}-{next(_names)}"
    yield name
    subprocess.run([binary, "rm", name, "--force"], capture_output=True, timeout=60)


def run_in_group(argv, timeout=120, **kwargs):
    """Runs `argv` in its own process group and returns the CompletedProcess (text mode, never
    raises on exit code). On timeout the whole group is killed (the demo's workers too), then
    TimeoutExpired is raised."""
    kwargs.setdefault("stdin", subprocess.DEVNULL)
    with subprocess.Popen([*map(str, argv)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          start_new_session=True, **kwargs) as process:
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
            raise
        return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture
def shared_folder(tmp_path, request):
    """A folder under tmp_path that other users can enter and read (for tests that run as
    another user). The folders from tmp_path up to --basetemp are 0700: they are opened for
    traversal only (no listing) to the group and others; skips when a folder above them keeps
    other users out (a checkout under /root, say)."""
    basetemp = pathlib.Path(request.config.option.basetemp or tmp_path.parent.parent).resolve()
    for folder in basetemp.parents:
        if not os.stat(folder).st_mode & stat.S_IXOTH:
            pytest.skip(f"other users cannot enter {folder}, above the test's temporary folder")
    for folder in [tmp_path, *tmp_path.parents]:
        os.chmod(folder, os.stat(folder).st_mode | stat.S_IXGRP | stat.S_IXOTH)
        if folder.resolve() == basetemp:
            break
    else:
        pytest.skip("tmp_path is not under --basetemp")
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o755)
    return shared


@pytest.fixture
def run(binary):
    """Runs the CLI (see run_in_group)."""
    def run(*args, timeout=120, **kwargs):
        return run_in_group([binary, *args], timeout=timeout, **kwargs)
    return run


@pytest.fixture(scope="module")
def needs_bridge(binary):
    """Skips a module of bridge tests when the binary was built without the Flight bridge."""
    if subprocess.run([binary, "serve", "--help"], capture_output=True, timeout=60).returncode != 0:
        pytest.skip("arrowring built without the Flight bridge (ARROWRING_BUILD_BRIDGE=OFF)")


@pytest.fixture
def start(binary):
    """Starts `arrowring ...` processes (tests/support/cli_process.py); any still running when
    the test ends is killed, with its process group."""
    from cli_process import CliProcess
    started = []

    def start(*args):
        proc = CliProcess(binary, *args)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.kill()


def pytest_sessionfinish(session, exitstatus):
    leftovers = [f for f in os.listdir("/dev/shm") if f.startswith(f"arrowring.test-cli-{os.getpid()}-")]
    assert not leftovers, f"test segments left in /dev/shm: {leftovers}"
