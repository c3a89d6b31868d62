"""Warm-up, then measurement windows until stable (or a trial limit), then one merged result."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.recorder import Window
from bench.scenario import MeasureSpec

PERCENTILES = (50.0, 90.0, 99.0, 99.9)


@dataclass
class Stats:
    """Client-side numbers of merged windows."""

    num_ok: int
    errors: dict[str, int]
    throughput_rps: float
    """Successful requests per second, summed over processes."""
    offered_rps: float
    """Requests completed per second, successful or not."""
    latency_ms: dict[str, float | None]
    """p50, p90, p99, p99.9, max, mean of successful requests."""
    histogram: dict[str, list[float]]
    """Latency histogram: ``edges_ms`` (log-spaced) and ``counts``."""
    cpu_per_process: list[float]
    """Each load process's CPU use in cores (1.0 = one core busy)."""
    max_lag_ms: float
    num_capped: int = 0
    """Open loop: sends that waited for the in-flight cap."""


def latency_summary(latencies_ns: np.ndarray) -> dict[str, float | None]:
    keys = ["p50", "p90", "p99", "p99.9", "max", "mean"]
    if latencies_ns.size == 0:
        return dict.fromkeys(keys)
    ms = latencies_ns / 1e6
    values = [*np.percentile(ms, PERCENTILES), ms.max(), ms.mean()]
    return {k: float(v) for k, v in zip(keys, values, strict=True)}


def histogram(latencies_ns: np.ndarray, bins: int = 60) -> dict[str, list[float]]:
    if latencies_ns.size == 0:
        return {"edges_ms": [], "counts": []}
    ms = latencies_ns / 1e6
    low, high = max(ms.min(), 1e-3), max(ms.max(), 1e-3)
    if high <= low * 1.01:
        low, high = low * 0.9, high * 1.1
    counts, edges = np.histogram(ms, bins=np.geomspace(low, high, bins + 1))
    return {"edges_ms": edges.tolist(), "counts": counts.tolist()}


def merge(trials: list[list[Window]]) -> Stats:
    """Merges windows (trials x processes): rates are per process, then summed."""
    num_processes = len(trials[0])
    latencies = np.concatenate([w.latencies() for trial in trials for w in trial])
    errors: Counter[str] = Counter()
    throughput = offered = 0.0
    cpu = []
    for k in range(num_processes):
        windows = [trial[k] for trial in trials]
        wall = sum(w.wall_s for w in windows) or 1e-9
        ok = sum(w.num_ok for w in windows)
        failed = sum(sum(w.errors.values()) for w in windows)
        for w in windows:
            errors.update(w.errors)
        throughput += ok / wall
        offered += (ok + failed) / wall
        cpu.append(sum(w.cpu_s for w in windows) / wall)
    return Stats(
        num_ok=int(latencies.size),
        errors=dict(errors),
        throughput_rps=throughput,
        offered_rps=offered,
        latency_ms=latency_summary(latencies),
        histogram=histogram(latencies),
        cpu_per_process=cpu,
        max_lag_ms=max(w.max_lag_ns for trial in trials for w in trial) / 1e6,
        num_capped=sum(w.num_capped for trial in trials for w in trial),
    )


def is_stable(trials: list[list[Window]], pct: float) -> bool:
    """Throughput and p50 of every trial within ``pct`` % of their means (perf_analyzer's rule,
    with p50 in place of the mean latency, which one outlier can swing)."""
    stats = [merge([trial]) for trial in trials]
    rates = np.array([s.throughput_rps for s in stats])
    p50s = np.array([s.latency_ms["p50"] or 0.0 for s in stats])
    for values in (rates, p50s):
        mean = values.mean()
        if mean <= 0 or np.any(np.abs(values - mean) > mean * pct / 100):
            return False
    return True


@dataclass
class Measured:
    stats: Stats
    num_trials: int
    stable: bool
    probes: tuple[Any, Any] = (None, None)
    """``probe()`` results at the start and end of the merged windows."""


def measure(
    pool: Any,
    spec: MeasureSpec,
    probe: Callable[[], Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> Measured:
    """Runs the warm-up and windows on a running WorkerPool; ``probe`` (server statistics, CPU)
    is sampled at every window boundary so the result can pair with the merged windows."""
    time.sleep(spec.warmup_s)
    pool.collect()
    probes = [probe() if probe else None]
    trials: list[list[Window]] = []
    stable = False
    while len(trials) < spec.max_trials:
        time.sleep(spec.window_s)
        trials.append(pool.collect())
        probes.append(probe() if probe else None)
        if progress:
            last = merge(trials[-1:])
            p50 = last.latency_ms["p50"]
            p50_text = f"{p50:.2f} ms" if p50 is not None else "-"
            progress(
                f"trial {len(trials)}/{spec.max_trials}: {last.throughput_rps:,.0f} req/s "
                f"p50 {p50_text} errors {sum(last.errors.values())}"
            )
        if len(trials) >= spec.min_trials:
            stable = is_stable(trials[-spec.min_trials :], spec.stable_pct)
            if stable:
                break
    used = trials[-spec.min_trials :]
    return Measured(
        stats=merge(used),
        num_trials=len(trials),
        stable=stable,
        probes=(probes[-len(used) - 1], probes[-1]),
    )
