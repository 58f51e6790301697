"""throughput.png and latency.png: GB/s against table size, and the latency CDFs."""
from __future__ import annotations

import pathlib

import numpy as np

from harness import RESULTS
from plan import THROUGHPUT_CONTENDERS


def plots(result: dict, samples: dict, results: pathlib.Path = RESULTS) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(10, 5))
    for contender in THROUGHPUT_CONTENDERS:
        rows = sorted((r for r in result["throughput"] if r["contender"] == contender and r["gbps"] is not None),
                      key=lambda r: r["size_bytes"])
        if not rows:
            continue
        axis.plot([r["size_bytes"] for r in rows], [r["gbps"] for r in rows], marker="o", label=contender,
                  linestyle="--" if contender.startswith("memcpy") else "-")  # dashed: the bounds
    axis.set_xscale("log", base=2)
    axis.set_yscale("log")
    axis.set_xlabel("table size (bytes)")
    axis.set_ylabel("GB/s")
    axis.set_title(f"Throughput between two processes ({result['suite']})")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    figure.tight_layout()
    figure.savefig(results / "throughput.png", dpi=110)
    plt.close(figure)

    figure, axis = plt.subplots(figsize=(11, 5))
    colors = plt.get_cmap("tab20").colors
    for index, (name, values) in enumerate(sorted(samples.items())):
        ordered = np.sort(np.asarray(values))
        axis.plot(ordered, np.arange(1, len(ordered) + 1) / len(ordered), label=name, color=colors[index % len(colors)],
                  linestyle="--" if name.startswith("floor") else "-")  # dashed: the floors
    axis.set_xscale("log")
    axis.set_xlabel("one-way latency (µs)")
    axis.set_ylabel("fraction of messages")
    axis.set_title("Latency distribution (CDF)")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    figure.tight_layout()
    figure.savefig(results / "latency.png", dpi=110)
    plt.close(figure)
