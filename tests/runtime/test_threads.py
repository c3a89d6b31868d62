from __future__ import annotations

from pathlib import Path

import pytest

from naiad.config.settings import ExecutionOptions
from naiad.runtime.threads import cgroup_cpu_limit, cpu_budget, session_threads


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    return tmp_path / "proc_self_cgroup"


def test_v2_quota_limits_affinity(tmp_path: Path, proc: Path) -> None:
    root = tmp_path / "cg"
    _write(proc, "0::/kubepods/pod1\n")
    _write(root / "kubepods/pod1/cpu.max", "200000 100000\n")
    assert cgroup_cpu_limit(root, proc) == 2.0
    assert cpu_budget(root, proc, affinity=range(8)) == 2


def test_v2_tightest_ancestor_wins_and_fractions_round_up(tmp_path: Path, proc: Path) -> None:
    root = tmp_path / "cg"
    _write(proc, "0::/a/b\n")
    _write(root / "a/b/cpu.max", "max 100000\n")
    _write(root / "a/cpu.max", "150000 100000\n")
    assert cgroup_cpu_limit(root, proc) == 1.5
    assert cpu_budget(root, proc, affinity=range(8)) == 2


def test_v2_namespaced_root(tmp_path: Path, proc: Path) -> None:
    root = tmp_path / "cg"
    _write(proc, "0::/\n")
    _write(root / "cpu.max", "50000 100000\n")
    assert cpu_budget(root, proc, affinity=range(4)) == 1


def test_v1_cfs_quota(tmp_path: Path, proc: Path) -> None:
    root = tmp_path / "cg"
    _write(proc, "4:memory:/x\n3:cpu,cpuacct:/docker/abc\n0::/\n")
    _write(root / "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "300000\n")
    _write(root / "cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n")
    assert cpu_budget(root, proc, affinity=range(16)) == 3


def test_v1_without_namespace_reads_the_mount_itself(tmp_path: Path, proc: Path) -> None:
    root = tmp_path / "cg"
    _write(proc, "1:cpu:/docker/host-side-id\n")
    _write(root / "cpu/cpu.cfs_quota_us", "100000\n")
    _write(root / "cpu/cpu.cfs_period_us", "100000\n")
    assert cpu_budget(root, proc, affinity=range(16)) == 1


def test_unlimited_quota_leaves_affinity(tmp_path: Path, proc: Path) -> None:
    root = tmp_path / "cg"
    _write(proc, "1:cpu:/\n0::/\n")
    _write(root / "cpu/cpu.cfs_quota_us", "-1\n")
    _write(root / "cpu/cpu.cfs_period_us", "100000\n")
    _write(root / "cpu.max", "max 100000\n")
    assert cgroup_cpu_limit(root, proc) is None
    assert cpu_budget(root, proc, affinity={0, 3, 5}) == 3


def test_no_cgroup_files(tmp_path: Path) -> None:
    assert cpu_budget(tmp_path / "none", tmp_path / "missing", affinity=range(2)) == 2
    assert cpu_budget(tmp_path / "none", tmp_path / "missing", affinity=()) == 1


def test_this_machine() -> None:
    assert cpu_budget() >= 1


@pytest.mark.parametrize("instances,threads", [(1, 2), (2, 1), (4, 1)])
def test_default_threads_fit_budget(instances: int, threads: int) -> None:
    got = session_threads(ExecutionOptions(), cpu_budget=2, num_instances=instances)
    assert got.intra_op == threads
    assert got.inter_op == 0
    # Within the budget, except that every instance needs at least one thread.
    assert instances * got.intra_op <= max(2, instances)


def test_explicit_threads_win() -> None:
    options = ExecutionOptions(intra_op_threads=3, inter_op_threads=2)
    small = session_threads(options, cpu_budget=2, num_instances=4)
    large = session_threads(options, cpu_budget=64, num_instances=1)
    assert (small.intra_op, small.inter_op) == (large.intra_op, large.inter_op)
    assert session_threads(options, 2, 4).intra_op == 3
    assert session_threads(options, 2, 4).inter_op == 2


@pytest.mark.parametrize(
    ("options", "budget", "instances", "spinning"),
    [
        (ExecutionOptions(), 2, 1, False),  # the default share takes every core
        (ExecutionOptions(), 16, 3, True),  # 3 x 5 threads leave a core to the event loop
        (ExecutionOptions(intra_op_threads=2), 8, 2, True),
        (ExecutionOptions(intra_op_threads=4), 8, 2, False),
        (ExecutionOptions(parallel_execution=True), 8, 2, False),
        (ExecutionOptions(thread_spinning=True), 2, 1, True),  # explicit wins either way
        (ExecutionOptions(intra_op_threads=1, thread_spinning=False), 64, 1, False),
    ],
)
def test_threads_spin_only_on_cores_the_rest_of_the_process_does_not_need(
    options: ExecutionOptions, budget: int, instances: int, spinning: bool
) -> None:
    assert session_threads(options, budget, instances).spinning is spinning


def test_parallel_execution_bounds_inter_op_threads() -> None:
    got = session_threads(ExecutionOptions(parallel_execution=True), cpu_budget=8, num_instances=2)
    assert (got.intra_op, got.inter_op) == (4, 4)
