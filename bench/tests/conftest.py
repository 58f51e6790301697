import os
import pathlib
import subprocess

import pytest


def pytest_addoption(parser):
    parser.addoption("--bench-case", default=None, help="path to build/bin/arrowring-bench-case")


@pytest.fixture(scope="session")
def bench_case(request):
    """Runs arrowring-bench-case and returns the CompletedProcess (text mode)."""
    path = request.config.getoption("--bench-case") or str(
        pathlib.Path(__file__).resolve().parents[2] / "build" / "bin" / "arrowring-bench-case")
    assert os.access(path, os.X_OK), f"{path} missing: run `make build`"

    def run(*args):
        return subprocess.run([path, *map(str, args)], capture_output=True, text=True, timeout=300)
    return run
