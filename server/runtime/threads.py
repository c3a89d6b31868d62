"""The CPU budget of this process and the ONNX Runtime thread counts derived from it."""

from __future__ import annotations

import math
import os
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

from naiad.config.settings import ExecutionOptions

CGROUP_ROOT = Path("/sys/fs/cgroup")
PROC_SELF_CGROUP = Path("/proc/self/cgroup")


def cpu_budget(
    cgroup_root: Path = CGROUP_ROOT,
    proc_self_cgroup: Path = PROC_SELF_CGROUP,
    affinity: Collection[int] | None = None,
) -> int:
    """Cores this process may use: the minimum of its CPU affinity and its cgroup CPU quota.

    A fractional quota rounds up (1.5 CPUs -> 2), as the JVM and Go runtimes do. Never below 1.
    `affinity` defaults to os.sched_getaffinity(0); the paths are parameters so tests can point
    them at fake cgroup trees.
    """
    if affinity is None:
        affinity = _affinity()
    cores = max(1, len(affinity))
    quota = cgroup_cpu_limit(cgroup_root, proc_self_cgroup)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return cores


def cgroup_cpu_limit(cgroup_root: Path, proc_self_cgroup: Path) -> float | None:
    """The tightest CPU quota (in CPUs) over this process's cgroup and its ancestors, v1 or v2.

    None when no quota is set or no cgroup file can be read.
    """
    limits: list[float] = []
    for directory in _v2_dirs(cgroup_root, proc_self_cgroup):
        limit = _read_cpu_max(directory / "cpu.max")
        if limit is not None:
            limits.append(limit)
    for directory in _v1_dirs(cgroup_root, proc_self_cgroup):
        limit = _read_cfs(directory)
        if limit is not None:
            limits.append(limit)
    return min(limits) if limits else None


@dataclass(frozen=True)
class SessionThreads:
    """Thread counts for one ONNX Runtime session; 0 leaves ONNX Runtime's default."""

    intra_op: int
    inter_op: int
    spinning: bool
    """Whether the session's pool threads spin for work between parallel sections."""


def session_threads(
    options: ExecutionOptions, cpu_budget: int, num_instances: int
) -> SessionThreads:
    """Threads per session so that all `num_instances` sessions together fit `cpu_budget`.

    Explicit counts in `options` win. inter-op threads only matter in parallel execution mode,
    where ONNX Runtime's default (one per core, per session) would oversubscribe the machine.

    Spinning (ONNX Runtime's default) keeps a pool thread busy-waiting on its core after each
    parallel section. That pays only on a core nobody else needs; when the sessions' threads
    take the whole budget (the default share does), they share every core with the event loop
    that decodes, batches and answers: over HTTP on 2 cores the tiny model's c=16 throughput
    was the same with spinning off, for a third less server CPU (bench/README.md). So the
    default spins only when the sessions leave a core or more to the rest of the process.
    """
    share = max(1, cpu_budget // max(1, num_instances))
    intra = options.intra_op_threads or share
    inter = options.inter_op_threads
    if inter == 0 and options.parallel_execution:
        inter = share
    spinning = options.thread_spinning
    if spinning is None:
        spinning = max(intra, inter) * max(1, num_instances) < cpu_budget
    return SessionThreads(intra_op=intra, inter_op=inter, spinning=spinning)


def _affinity() -> Collection[int]:
    if hasattr(os, "sched_getaffinity"):
        return os.sched_getaffinity(0)
    return range(os.cpu_count() or 1)


def _memberships(proc_self_cgroup: Path) -> list[tuple[str, str]]:
    """(controllers, path) pairs from /proc/self/cgroup; controllers is "" for cgroup v2."""
    try:
        text = proc_self_cgroup.read_text()
    except OSError:
        return []
    pairs = []
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) == 3:
            pairs.append((parts[1], parts[2]))
    return pairs


def _with_ancestors(mount: Path, cgroup_path: str) -> list[Path]:
    """mount/cgroup_path and each parent up to mount itself.

    Without a cgroup namespace a container sees its host-side path in /proc/self/cgroup while
    the mount already is its own cgroup, so the mount itself is always a candidate.
    """
    dirs = []
    rel = Path(cgroup_path.lstrip("/"))
    while True:
        dirs.append(mount / rel)
        if rel == rel.parent:
            break
        rel = rel.parent
    return [d for d in dict.fromkeys(dirs) if d.is_dir()]


def _v2_dirs(root: Path, proc_self_cgroup: Path) -> list[Path]:
    paths = [path for controllers, path in _memberships(proc_self_cgroup) if controllers == ""]
    if not paths and (root / "cpu.max").exists():
        paths = ["/"]
    return [d for path in paths for d in _with_ancestors(root, path)]


def _v1_dirs(root: Path, proc_self_cgroup: Path) -> list[Path]:
    paths = [
        path
        for controllers, path in _memberships(proc_self_cgroup)
        if "cpu" in controllers.split(",")
    ] or ["/"]
    mounts = [m for m in (root / "cpu", root / "cpu,cpuacct", root / "cpuacct,cpu") if m.is_dir()]
    return [d for mount in mounts for path in paths for d in _with_ancestors(mount, path)]


def _read_cpu_max(path: Path) -> float | None:
    try:
        fields = path.read_text().split()
    except OSError:
        return None
    if len(fields) != 2 or fields[0] == "max":
        return None
    return _ratio(fields[0], fields[1])


def _read_cfs(directory: Path) -> float | None:
    try:
        quota = (directory / "cpu.cfs_quota_us").read_text().strip()
        period = (directory / "cpu.cfs_period_us").read_text().strip()
    except OSError:
        return None
    return _ratio(quota, period)


def _ratio(quota: str, period: str) -> float | None:
    try:
        q, p = int(quota), int(period)
    except ValueError:
        return None
    if q <= 0 or p <= 0:  # v1 writes -1 for "no limit"
        return None
    return q / p
