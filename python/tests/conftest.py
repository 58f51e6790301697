import itertools
import os
import pathlib

import pytest

import arrowring as ar

ROOT = pathlib.Path(__file__).resolve().parents[2]
_names = itertools.count()


@pytest.fixture
def ring_name():
    """A ring name unique to this test; removed afterwards."""
    name = f"test-py-{os.getpid()}-{next(_names)}"
    yield name
    try:
        ar.Ring.attach(name).unlink()
    except ar.Error:
        pass


@pytest.fixture
def ring(ring_name):
    return ar.Ring.create(ring_name, capacity=8 * 2**20)


@pytest.fixture(scope="session")
def cli():
    """The C++ command line, for interop tests."""
    path = pathlib.Path(os.environ.get("ARROWRING_BUILD_DIR", ROOT / "build")) / "bin" / "arrowring"
    assert path.exists(), f"{path} missing: run `make build`"
    return str(path)


def pytest_sessionfinish(session, exitstatus):
    leftovers = [f for f in os.listdir("/dev/shm") if f.startswith(f"arrowring.test-py-{os.getpid()}-")]
    assert not leftovers, f"test segments left in /dev/shm: {leftovers}"
