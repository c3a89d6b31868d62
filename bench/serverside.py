"""What the server saw: ModelStatistics deltas (queue vs compute, batch size) and its CPU use."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from bench import http_client
from bench.security import Access
from naiad_client import Client, InferenceServerError

_FIELDS = ("success", "fail", "queue", "compute_input", "compute_infer", "compute_output")


@dataclass
class Probe:
    """Cumulative counters at one instant."""

    at_s: float
    counters: dict[str, int] | None
    """ModelStatistics totals over the model's versions, or None if the server has none."""
    cpu_s: float | None
    """CPU seconds the server has used, when it is a local process: its own and its running
    children's (naiad's front-end processes)."""
    machine_busy_s: float | None = None
    """CPU seconds all processes on this machine have used (to spot outside interference)."""
    own_cpu_s: float | None = None
    """The server process's own part of cpu_s (naiad's engine process, with --frontends)."""


def _zero_totals() -> dict[str, int]:
    totals = dict.fromkeys(["inference_count", "execution_count"], 0)
    for name in _FIELDS:
        totals[f"{name}_count"] = totals[f"{name}_ns"] = 0
    return totals


def statistics_counters(client: Client, model: str) -> dict[str, int] | None:
    """The model's ModelStatistics summed over versions; None when the server does not say."""
    try:
        response = client.statistics(model, timeout_s=5)
    except InferenceServerError:
        return None
    totals = _zero_totals()
    for stats in response.model_stats:
        if stats.name != model:
            continue
        totals["inference_count"] += stats.inference_count
        totals["execution_count"] += stats.execution_count
        for name in _FIELDS:
            duration = getattr(stats.inference_stats, name)
            totals[f"{name}_count"] += duration.count
            totals[f"{name}_ns"] += duration.ns
    return totals


def http_statistics_counters(address: str, model: str, access: Access) -> dict[str, int] | None:
    """The same totals from GET /v2/models/MODEL/stats (Triton's JSON, as naiad writes it)."""
    tls = http_client.client_tls(access.root_certificates)
    try:
        path = f"/v2/models/{quote(model, safe='')}/stats"
        document = http_client.get_json(address, path, tls, access.token)
        totals = _zero_totals()
        for stats in document["model_stats"]:  # type: ignore[index]
            if stats["name"] != model:
                continue
            totals["inference_count"] += int(stats.get("inference_count", 0))
            totals["execution_count"] += int(stats.get("execution_count", 0))
            for name in _FIELDS:
                duration = stats.get("inference_stats", {}).get(name, {})
                totals[f"{name}_count"] += int(duration.get("count", 0))
                totals[f"{name}_ns"] += int(duration.get("ns", 0))
    except (http_client.HttpStatusError, OSError, ValueError, KeyError, TypeError, AttributeError):
        return None
    return totals


def process_cpu_s(pid: int) -> float | None:
    """User+system CPU seconds of a local process (Linux /proc), or None."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    # Fields after the command name start at field 3 (state); utime and stime are 14 and 15.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(pid: int) -> list[int]:
    """The live children of a local process (Linux /proc), any thread's."""
    children: list[int] = []
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/children") as f:
                children += [int(child) for child in f.read().split()]
    except OSError:
        pass
    return children


def tree_cpu_s(pid: int) -> float | None:
    """CPU seconds of a local process and its live children, or None. A child that exits
    between two probes takes its seconds with it, which only undercounts."""
    own = process_cpu_s(pid)
    if own is None:
        return None
    return own + sum(process_cpu_s(child) or 0.0 for child in child_pids(pid))


def machine_busy_s() -> float | None:
    """Busy CPU seconds of the whole machine since boot (Linux /proc/stat), or None."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def wait_idle(pid: int, max_s: float = 60.0, idle_cores: float = 0.1) -> float:
    """Waits until a local server stops working off requests abandoned by the last load (so the
    next target is measured alone); returns the seconds waited, ``max_s`` at most."""
    start = time.perf_counter()
    last = tree_cpu_s(pid)
    while last is not None and time.perf_counter() - start < max_s:
        time.sleep(0.25)
        now = tree_cpu_s(pid)
        if now is None or (now - last) / 0.25 < idle_cores:
            break
        last = now
    return time.perf_counter() - start


def make_probe(
    client: Client | None,
    model: str,
    pid: int | None,
    http_address: str | None = None,
    access: Access | None = None,
) -> Any:
    """A callable sampling the server's counters, for measure(): over gRPC with a ``client``,
    else over HTTP at ``http_address``, else none."""

    def counters_now() -> dict[str, int] | None:
        if client:
            return statistics_counters(client, model)
        if http_address:
            return http_statistics_counters(http_address, model, access or Access())
        return None

    def probe() -> Probe:
        counters = counters_now()
        own = process_cpu_s(pid) if pid else None
        cpu = tree_cpu_s(pid) if pid else None
        return Probe(time.perf_counter(), counters, cpu, machine_busy_s(), own)

    return probe


def split(before: Probe | None, after: Probe | None) -> dict[str, Any] | None:
    """Per-request server time (queue vs compute, µs), mean batch size and server CPU (cores)
    between two probes; None where nothing is known."""
    if before is None or after is None:
        return None
    result: dict[str, Any] = {}
    wall = after.at_s - before.at_s
    if before.cpu_s is not None and after.cpu_s is not None and wall > 0:
        result["cpu_cores"] = (after.cpu_s - before.cpu_s) / wall
    if before.own_cpu_s is not None and after.own_cpu_s is not None and wall > 0:
        result["own_cpu_cores"] = (after.own_cpu_s - before.own_cpu_s) / wall
    if before.machine_busy_s is not None and after.machine_busy_s is not None and wall > 0:
        result["machine_cores"] = (after.machine_busy_s - before.machine_busy_s) / wall
    if before.counters and after.counters:
        d = {k: after.counters[k] - before.counters[k] for k in after.counters}
        compute_ns = d["compute_input_ns"] + d["compute_infer_ns"] + d["compute_output_ns"]
        result.update(
            requests=d["success_count"],
            failed=d["fail_count"],
            request_us=_mean_us(d["success_ns"], d["success_count"]),
            queue_us=_mean_us(d["queue_ns"], d["queue_count"]),
            compute_us=_mean_us(compute_ns, d["compute_infer_count"]),
            mean_batch=d["inference_count"] / d["execution_count"]
            if d["execution_count"]
            else None,
        )
    return result or None


def _mean_us(ns: int, count: int) -> float | None:
    return ns / count / 1e3 if count else None
