"""The README's benchmark summary says exactly what the committed results measured."""
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import summary  # noqa: E402


def test_the_readme_summary_is_the_committed_results_rendered():
    result = json.loads((ROOT / "bench" / "results" / "latest.json").read_text())
    assert summary.current(ROOT / "README.md") == summary.render(result), (
        "README.md's benchmark summary differs from bench/results/latest.json: run `make bench` (it rewrites "
        "both), or `python bench/summary.py` to re-render it from the committed results")


def test_a_missing_peer_shows_its_status_and_the_best_mode_of_a_peer_is_shown(tmp_path):
    result = json.loads((ROOT / "bench" / "results" / "latest.json").read_text())
    for row in result["throughput"]:
        if row["contender"] == "ray-object-store":
            row.update(gbps=None, tables_per_s=None, status="not installed")
        if row["contender"] == "iceoryx2-python-event" and row["size_bytes"] == summary.MiB:
            row.update(gbps=999.0, tables_per_s=999.0 * 1e9 / summary.MiB)
    text = summary.render(result)
    ray = next(line for line in text.splitlines() if line.startswith("| Ray"))
    assert ray.count("not installed") == len(summary.SIZES)
    iceoryx2 = next(line for line in text.splitlines() if line.startswith("| iceoryx2"))
    assert "999.00 GB/s" in iceoryx2
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{summary.BEGIN}\nold\n{summary.END}\nafter\n")
    summary.update(readme, result)
    assert readme.read_text() == f"before\n{text}\nafter\n"
