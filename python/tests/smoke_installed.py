"""Run by `make test-pip-install` with the interpreter of a fresh venv into which `pip install .`
installed arrowring: the installed package (not the source tree) works end to end."""
import gc
import os
import sys

import pyarrow as pa

import arrowring as ar
from arrowring import compat

assert "site-packages" in ar.__file__, f"imported {ar.__file__}, not the installed package"
name = f"test-pip-{os.getpid()}"
ring = ar.Ring.create(name, capacity=4 * 2**20)
try:
    sub = ring.subscribe("smoke")
    table = pa.table({"x": list(range(1000))})
    handle = ring.publisher().publish(table)
    got = sub.next(timeout=5)
    assert got.equals(table)
    low, high = ring.data_address, ring.data_address + ring.data_size
    assert all(low <= b.address < high for b in got.column(0).chunks[0].buffers() if b is not None)
    del got
    gc.collect()
    assert ring.stats()["committed_bytes"] == 0
    assert compat.get_table_ipc_size(table) == len(compat.table_to_ipc_bytes(table))
    # Loans come with the pyarrow the wheel was built with (pyproject.toml); with another,
    # arrowring must still import and say why there are none.
    built_with_this_pyarrow = pa.__version__.startswith("26.0.")
    assert ar._core.LOANS == built_with_this_pyarrow, ar._core.LOAN_UNAVAILABLE
    # So do the C++ layer's tables: _core_arrow links the wheel's libarrow_python too.
    assert ar._core.NATIVE_TABLES == built_with_this_pyarrow
    if ar._core.LOANS:  # the wheel's _core_arrow finds pyarrow's libarrow from site-packages
        with ring.publisher().loan(pa.schema([pa.field("x", pa.int64(), nullable=False)]), 1000) as batch:
            batch.column("x")[:] = range(1000)
        assert sub.next(timeout=5).column(0).equals(table.column(0))
    print(f"installed arrowring {ar.__version__} with pyarrow {pa.__version__}: ok ({handle})")
finally:
    ring.unlink()
sys.exit(0)
