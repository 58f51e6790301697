"""The README's benchmark summary: a short table against the peers, rendered from one results
file of `make bench`, between the README's markers. `make bench` rewrites it; a test checks that
the committed README says exactly what the committed bench/results/latest.json measured."""
from __future__ import annotations

import pathlib
import re

BEGIN, END = "<!-- bench-summary:begin -->", "<!-- bench-summary:end -->"
KiB, MiB = 1024, 1024 * 1024
SIZES = [KiB, MiB, 128 * MiB]
# Rows: (label, contenders; the best of several is shown, e.g. iceoryx2's spinning and event modes).
ROWS = [("arrowring, C++", ["arrowring-cpp"]),
        ("arrowring, Python", ["arrowring-python"]),
        ("iceoryx2, Python (Arrow IPC bytes in its loans)", ["iceoryx2-python", "iceoryx2-python-event"]),
        ("Ray object store", ["ray-object-store"]),
        ("ZeroMQ ipc://", ["zeromq-ipc"]),
        ("the seed framework's approach", ["seed-python"]),
        ("for scale: memcpy into memory out of cache", ["memcpy-cold"])]


def _size(size: int) -> str:
    return f"{size // MiB} MiB" if size >= MiB else f"{size // KiB} KiB"


def _rate(row: dict | None) -> str:
    if row is None or row.get("gbps") is None:
        return (row or {}).get("status", "—")
    tables = row.get("tables_per_s")
    per_s = "" if tables is None else (f", {tables / 1000:.0f}k tables/s" if tables >= 1000 else f", {tables:.0f} tables/s")
    gbps = row["gbps"]
    return (f"{gbps:.2f}" if gbps >= 1 else f"{gbps:.2g}") + f" GB/s{per_s}"


def render(result: dict) -> str:
    """The summary block (markers included) for one results file."""
    by = {(r["contender"], r["size_bytes"]): r for r in result["throughput"]}

    def best(contenders, size):
        rows = [by.get((c, size)) for c in contenders]
        measured = [r for r in rows if r is not None and r.get("gbps") is not None]
        return max(measured, key=lambda r: r["gbps"]) if measured else next((r for r in rows if r), None)

    machine = result["machine"]
    command = "make bench" + (" QUICK=1" if result["suite"] == "quick" else "")
    lines = [BEGIN,
             f"Tables moved from a producer process to a consumer process, measured by `{command}` on "
             f"{result['date'][:10]} ({machine.get('cpu', '?')}, {machine['cpus']} CPUs, pyarrow "
             f"{machine['pyarrow']}; median of {result['repetitions']} interleaved repetitions; "
             "bench/results/latest.json). Method, every other figure and what bounds each: docs/benchmarks.md.",
             "",
             "| | " + " | ".join(_size(s) for s in SIZES) + " |",
             "|---|" + "---|" * len(SIZES)]
    for label, contenders in ROWS:
        lines.append(f"| {label} | " + " | ".join(_rate(best(contenders, s)) for s in SIZES) + " |")
    lines += ["", "![throughput](bench/results/throughput.png)", END]
    return "\n".join(lines)


def update(readme: pathlib.Path, result: dict) -> None:
    """Replaces the README's summary block with the one for ``result``."""
    text = readme.read_text()
    pattern = re.compile(re.escape(BEGIN) + ".*?" + re.escape(END), re.S)
    if not pattern.search(text):
        raise ValueError(f"{readme} has no {BEGIN} ... {END} block")
    readme.write_text(pattern.sub(lambda _: render(result), text))


def current(readme: pathlib.Path) -> str:
    """The README's summary block as committed."""
    text = readme.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    return text[start:end]


if __name__ == "__main__":  # re-render the README's block from the committed results
    import json
    root = pathlib.Path(__file__).resolve().parents[1]
    update(root / "README.md", json.loads((root / "bench" / "results" / "latest.json").read_text()))
