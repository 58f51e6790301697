import itertools
import os
import pathlib
import subprocess

import pytest


def pytest_addoption(parser):
    parser.addoption("--arrowring-binary", default=None, help="path to build/bin/arrowring")


@pytest.fixture(scope="session")
def binary(request):
    path = request.config.getoption("--arrowring-binary") or str(
        pathlib.Path(__file__).resolve().parents[2] / "build" / "bin" / "arrowring")
    assert os.access(path, os.X_OK), f"{path} missing: run `make build`"
    return path


_names = itertools.count()


@pytest.fixture
def ring_name(binary):
    """A ring name unique to this test; whatever is left under it is removed afterwards."""
    name = f"test-cli-{os.getpid()}-{next(_names)}"
    yield name
    subprocess.run([binary, "rm", name, "--force"], capture_output=True)


@pytest.fixture
def run(binary):
    """Runs the CLI and returns the CompletedProcess (text mode, never raises on exit code)."""
    def run(*args, timeout=120, **kwargs):
        return subprocess.run([binary, *map(str, args)], capture_output=True, text=True, timeout=timeout, **kwargs)
    return run


def pytest_sessionfinish(session, exitstatus):
    leftovers = [f for f in os.listdir("/dev/shm") if f.startswith(f"arrowring.test-cli-{os.getpid()}-")]
    assert not leftovers, f"test segments left in /dev/shm: {leftovers}"
