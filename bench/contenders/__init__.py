"""The Python contenders of the suite, by the name they carry in the results.

Each contender family has a module here. A throughput contender is a function
``case_<name>(size, count) -> dict`` that moves ``count`` tables of ``size`` bytes
(harness.bench_table) from this process to a forked consumer process, usually through
harness.run_pair, and returns harness.throughput(...); PYTHON_CASES maps its name to it. A
contender whose package is benchmark-only (bench/requirements.txt) is listed in PEER_MODULES:
when that package is missing it is reported as "not installed" and the run goes on.
docs/benchmarks.md, "Adding a contender", has the steps.
"""
from __future__ import annotations

import importlib.util

from contenders.arrowring_python import case_arrowring_python
from contenders.framework_path import case_compat_python, case_framework_flow_floor, case_seed_python
from contenders.iceoryx2_python import case_iceoryx2_python
from contenders.pickle_mp_queue import case_pickle_mp_queue
from contenders.ray_object_store import case_ray_object_store
from contenders.zeromq_ipc import case_zeromq_ipc


# The real peers: benchmark-only packages (bench/requirements.txt, installed by `make bench`).
# A peer whose package is missing is reported as "not installed"; the rest of the run goes on.
PEER_MODULES = {"iceoryx2-python": "iceoryx2", "iceoryx2-python-event": "iceoryx2", "ray-object-store": "ray"}
NOT_INSTALLED = "not installed"


def peer_installed(contender: str) -> bool:
    module = PEER_MODULES.get(contender)
    try:
        return module is None or importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # e.g. a module blocked with sys.modules[name] = None
        return False


PYTHON_CASES = {"arrowring-python": case_arrowring_python, "seed-python": case_seed_python,
                "compat-python": case_compat_python,
                "framework-flow-floor": case_framework_flow_floor,
                "pickle-mp-queue": case_pickle_mp_queue, "zeromq-ipc": case_zeromq_ipc,
                "iceoryx2-python": case_iceoryx2_python,
                "iceoryx2-python-event": lambda size, count: case_iceoryx2_python(size, count, wait="event"),
                "ray-object-store": case_ray_object_store}
