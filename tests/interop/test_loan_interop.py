"""pyarrow reads what a C++ loan publishes (Publisher::Loan, values built in ring memory) as
the same batches Arrow read from the gold streams of Apache arrow-testing whose types a loan
holds (fixed-width, and utf8/binary/lists of fixed-width values with a capacity)."""
import os
import pathlib
import subprocess

import pyarrow as pa
import pyarrow.ipc
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
BUILD = pathlib.Path(os.environ.get("ARROWRING_BUILD_DIR", ROOT / "build"))
HELPER = BUILD / "bin" / "arrowring_loan_rewrite"
GOLD = pathlib.Path(os.environ.get("ARROWRING_TESTING_DATA", ROOT.parent / "shared" / "arrow-testing")) / "integration"
STREAMS = sorted(GOLD.glob("**/*.stream"))
NOT_LOANABLE = 3


def test_gold_streams_of_loanable_types_are_loaned(tmp_path):
    assert HELPER.exists(), f"{HELPER} missing: run `make build`"
    loaned = 0
    for n, gold in enumerate(STREAMS):
        result = subprocess.run([str(HELPER), str(gold), str(tmp_path / str(n))], capture_output=True, timeout=120)
        assert result.returncode in (0, NOT_LOANABLE), result.stderr
        loaned += result.returncode == 0
    assert loaned >= 10, "fewer loanable gold streams than expected"


@pytest.mark.parametrize("gold", STREAMS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_pyarrow_reads_a_loan_as_the_gold_batch(gold, tmp_path):
    assert HELPER.exists(), f"{HELPER} missing: run `make build`"
    prefix = tmp_path / "loaned"
    result = subprocess.run([str(HELPER), str(gold), str(prefix)], capture_output=True, text=True, timeout=120)
    if result.returncode == NOT_LOANABLE:
        pytest.skip("not a loanable schema: " + result.stderr.strip())
    assert result.returncode == 0, result.stderr
    expected = list(pa.ipc.open_stream(gold.read_bytes()))  # empty batches too
    assert int(result.stdout) == len(expected)
    for i, batch in enumerate(expected):
        reader = pa.ipc.open_stream(pathlib.Path(f"{prefix}.{i}").read_bytes())
        assert reader.schema.equals(batch.schema, check_metadata=True)
        actual = reader.read_all()
        assert actual.num_rows == batch.num_rows
        actual.validate(full=False)
        assert actual.equals(pa.Table.from_batches([batch])), f"{gold.name} batch {i} differs after a loan"
