"""Runs the Python examples of docs/ that are marked to run, as a user would paste them.

A fenced ```python block right after the line `<!-- make test runs this example ... -->` runs
in a fresh interpreter (.venv's), from a scratch folder. Ring names it creates
(`ar.Ring.create("NAME", ...)`) are made unique to this run, so parallel runs never meet, and
the test checks that the example removed them.
"""
import os
import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
MARKER = "<!-- make test runs this example"
DOCS = ["docs/python.md"]


def marked_examples():
    for doc in DOCS:
        lines = (ROOT / doc).read_text().splitlines()
        for number, line in enumerate(lines):
            if not line.startswith(MARKER):
                continue
            assert lines[number + 1] == "```python", f"{doc}:{number + 2}: the marker must precede a ```python block"
            end = lines.index("```", number + 2)
            yield pytest.param(doc, number + 3, "\n".join(lines[number + 2:end]) + "\n", id=f"{doc}:{number + 3}")


EXAMPLES = list(marked_examples())


def test_the_docs_mark_examples_to_run():
    assert len(EXAMPLES) >= 2


@pytest.mark.parametrize("doc,line,code", EXAMPLES)
def test_example_runs(doc, line, code, tmp_path):
    names = set(re.findall(r'Ring\.create\("([^"]+)"', code))
    unique = {name: f"{name}-docs-{os.getpid()}-{line}" for name in names}
    for name, replacement in unique.items():
        code = code.replace(f'"{name}"', f'"{replacement}"')
    script = tmp_path / "example.py"
    script.write_text(code)
    try:
        run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, f"{doc}:{line}: the example failed:\n{run.stdout}\n{run.stderr}"
    finally:
        left = [name for name in unique.values() if os.path.exists(f"/dev/shm/arrowring.{name}")]
        for name in left:
            os.unlink(f"/dev/shm/arrowring.{name}")
    assert not left, f"{doc}:{line}: the example left rings behind: {left}"

