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
# Every gold stream whose schema a loan holds (fixed-width columns, and utf8/binary/lists of
# fixed-width values with a capacity), pinned: a regression to "not loanable" fails here by name.
LOANABLE = {
    "1.0.0-littleendian/generated_custom_metadata",
    "1.0.0-littleendian/generated_datetime",
    "1.0.0-littleendian/generated_decimal",
    "1.0.0-littleendian/generated_decimal256",
    "1.0.0-littleendian/generated_interval",
    "1.0.0-littleendian/generated_primitive",
    "1.0.0-littleendian/generated_primitive_large_offsets",
    "1.0.0-littleendian/generated_primitive_no_batches",
    "1.0.0-littleendian/generated_primitive_zerolength",
    "2.0.0-compression/generated_lz4",
    "2.0.0-compression/generated_uncompressible_lz4",
    "2.0.0-compression/generated_uncompressible_zstd",
    "2.0.0-compression/generated_zstd",
}


def gold_name(path):
    return f"{path.parent.name}/{path.stem}"


def test_exactly_the_pinned_gold_streams_are_loaned(tmp_path):
    assert HELPER.exists(), f"{HELPER} missing: run `make build`"
    loaned = set()
    for n, gold in enumerate(STREAMS):
        result = subprocess.run([str(HELPER), str(gold), str(tmp_path / str(n))], capture_output=True, timeout=120)
        assert result.returncode in (0, NOT_LOANABLE), result.stderr
        if result.returncode == 0:
            loaned.add(gold_name(gold))
    assert loaned == LOANABLE, (f"no longer loaned: {sorted(LOANABLE - loaned)}; "
                                f"newly loaned (pin them): {sorted(loaned - LOANABLE)}")


@pytest.mark.parametrize("gold", STREAMS, ids=gold_name)
def test_pyarrow_reads_a_loan_as_the_gold_batch(gold, tmp_path):
    assert HELPER.exists(), f"{HELPER} missing: run `make build`"
    prefix = tmp_path / "loaned"
    result = subprocess.run([str(HELPER), str(gold), str(prefix)], capture_output=True, text=True, timeout=120)
    if result.returncode == NOT_LOANABLE:
        assert gold_name(gold) not in LOANABLE, "a pinned loanable stream was refused: " + result.stderr
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
