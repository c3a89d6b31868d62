"""PNG plots of a result document: latency vs throughput, and latency distributions."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only; no display is assumed
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def _measured(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """One run per target, mode and level: with several rounds, the one of median throughput."""
    runs: dict[tuple[str, str, str, float], list[dict[str, Any]]] = defaultdict(list)
    for row in doc["runs"]:
        if "reused_from_mode" not in row:  # results written before every mode was measured
            runs[row["target"], row["mode"], row["load"], row["level"]].append(row)
    chosen = []
    for rounds in runs.values():
        rounds.sort(key=lambda row: row["throughput_rows"])
        chosen.append(rounds[(len(rounds) - 1) // 2])
    return chosen


def _series(doc: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in _measured(doc):
        series[f"{row['target']} ({row['mode']})"].append(row)
    return series


def latency_throughput(doc: dict[str, Any], path: Path) -> Path:
    """p50 (solid) and p99 (dashed) latency against rows/s, one line per target and mode."""
    fig, ax = plt.subplots(figsize=(8, 5))
    for i, (name, rows) in enumerate(_series(doc).items()):
        rows = sorted(rows, key=lambda r: r["throughput_rows"])
        x = [r["throughput_rows"] for r in rows]
        color = f"C{i % 10}"
        for key, style in (("p50", "-o"), ("p99", "--x")):
            y = [r["latency_ms"][key] or math.nan for r in rows]
            ax.plot(x, y, style, color=color, label=f"{name} {key}")
    rates = [r["throughput_rows"] for r in _measured(doc) if r["throughput_rows"] > 0]
    if rates and max(rates) > 20 * min(rates):
        ax.set_xscale("log")
    ax.set_xlabel("throughput (rows/s)")
    ax.set_ylabel("latency (ms)")
    ax.set_yscale("log")
    ax.set_title(f"{doc['scenario']['name']}: latency vs throughput")
    ax.grid(True, which="both", alpha=0.3)
    if ax.get_lines():
        ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def latency_distribution(doc: dict[str, Any], path: Path) -> Path:
    """Cumulative latency distribution per load level, one line per target and mode."""
    levels = sorted({(r["load"], r["level"]) for r in _measured(doc)}, key=lambda lv: lv[1])
    cols = min(len(levels), 3) or 1
    grid_rows = math.ceil(len(levels) / cols) or 1
    fig, axes = plt.subplots(grid_rows, cols, figsize=(5 * cols, 3.6 * grid_rows), squeeze=False)
    names = list(_series(doc))
    for ax, (load, level) in zip(axes.flat, levels, strict=False):
        for row in _measured(doc):
            if (row["load"], row["level"]) != (load, level) or not row["histogram"]["counts"]:
                continue
            edges = np.array(row["histogram"]["edges_ms"])
            counts = np.array(row["histogram"]["counts"], dtype=float)
            cumulative = np.concatenate([[0.0], np.cumsum(counts) / counts.sum()])
            name = f"{row['target']} ({row['mode']})"
            ax.plot(edges, cumulative, color=f"C{names.index(name) % 10}", label=name)
        ax.set_xscale("log")
        ax.set_title(f"{load} = {level:g}")
        ax.set_xlabel("latency (ms)")
        ax.set_ylabel("fraction of requests")
        ax.grid(True, which="both", alpha=0.3)
        if ax.get_lines():
            ax.legend(fontsize="x-small")
    for ax in list(axes.flat)[len(levels) :]:
        ax.axis("off")
    fig.suptitle(f"{doc['scenario']['name']}: latency distribution")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def write(doc: dict[str, Any], out_dir: Path) -> list[Path]:
    """Both plots into ``out_dir``; returns their paths."""
    if not doc["runs"]:
        return []
    return [
        latency_throughput(doc, out_dir / "latency_throughput.png"),
        latency_distribution(doc, out_dir / "latency_distribution.png"),
    ]
