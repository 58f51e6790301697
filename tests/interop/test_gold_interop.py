"""pyarrow reads the bytes arrowring's C++ writer produces as the same table Arrow read from
the gold stream (Apache arrow-testing integration files)."""
import os
import pathlib
import subprocess

import pyarrow as pa
import pyarrow.ipc
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("ARROWRING_BUILD_DIR", ROOT / "build"))
HELPER = BUILD / "bin" / "arrowring_gold_rewrite"
GOLD = pathlib.Path(os.environ.get("ARROWRING_TESTING_DATA", ROOT.parent / "shared" / "arrow-testing")) / "integration"
STREAMS = sorted(GOLD.glob("**/*.stream"))


def test_gold_streams_are_present():
    assert len(STREAMS) >= 27, f"looked under {GOLD}"


@pytest.mark.parametrize("codec", ["none", "lz4", "zstd"])
@pytest.mark.parametrize("gold", STREAMS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_pyarrow_reads_our_bytes_as_an_equal_table(gold, codec, tmp_path):
    assert HELPER.exists(), f"{HELPER} missing: run `make build`"
    ours = tmp_path / "ours.stream"
    subprocess.run([str(HELPER), str(gold), str(ours), codec], check=True, timeout=120)
    expected = pa.ipc.open_stream(gold.read_bytes()).read_all()
    actual = pa.ipc.open_stream(ours.read_bytes()).read_all()
    assert actual.schema.equals(expected.schema, check_metadata=True)
    assert actual.equals(expected), f"{gold.name} ({codec}) differs after arrowring's write"
