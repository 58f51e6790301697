"""Runs the Python examples of README.md and docs/, as a user would paste them.

Every fenced ```python block is either an example — right after the line `<!-- make test runs
this example ... -->`, it runs — or an API summary, right after `<!-- API summary, not run ...
-->`, which names the tests that call what it lists. A block with neither marker fails the
suite, so no example can go unrun. An example runs in a fresh interpreter (.venv's), from a
scratch folder. Ring names it creates
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
SUMMARY = "<!-- API summary, not run"
DOCS = ["README.md"] + sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md"))


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


def test_every_python_block_of_the_docs_is_an_example_that_runs_or_a_marked_api_summary():
    unmarked = []
    for doc in DOCS:
        lines = (ROOT / doc).read_text().splitlines()
        for number, line in enumerate(lines):
            if line == "```python" and not (number and lines[number - 1].startswith((MARKER, SUMMARY))):
                unmarked.append(f"{doc}:{number + 1}")
    assert not unmarked, f"python blocks neither run nor marked as API summaries: {unmarked}"
    assert len(EXAMPLES) >= 5


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

