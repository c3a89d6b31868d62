"""The candidate's gates: error rate and p99 over a window, judged after enough outcomes."""

from __future__ import annotations

import pytest

from naiad.errors import (
    DeadlineExceeded,
    ErrorCode,
    InvalidArgument,
    ResourceExhausted,
    RunFailed,
    Unavailable,
)
from naiad.rollout.health import CandidateHealth, is_candidate_fault
from naiad.rollout.plan import HealthGates


def test_an_error_rate_over_the_gate_breaks_it_once_enough_outcomes_are_in() -> None:
    health = CandidateHealth(HealthGates(max_error_rate=0.1), min_requests=20)
    breaches = [health.record(failed=i % 4 == 0, latency_ms=1.0) for i in range(19)]
    assert breaches == [None] * 19  # 5 failures in 19, but too few outcomes to judge
    breach = health.record(failed=False, latency_ms=1.0)
    assert breach is not None and breach.gate == "max_error_rate"
    assert breach.observed == pytest.approx(5 / 20) and breach.num_requests == 20
    assert str(breach) == "max_error_rate 0.1 exceeded: 25 % of the last 20 failed"
    # one breach only; afterwards nothing is watched
    assert health.record(failed=True, latency_ms=1.0) is None and not health.watching


def test_failures_before_a_rollback_are_bounded_by_the_gate() -> None:
    health = CandidateHealth(HealthGates(max_error_rate=0.05), min_requests=20)
    failures = 0
    for _ in range(1000):
        failures += 1
        if health.record(failed=True, latency_ms=1.0) is not None:
            break
    assert failures == 20


def test_an_error_rate_within_the_gate_never_breaks_it() -> None:
    health = CandidateHealth(HealthGates(max_error_rate=0.1), min_requests=20, window=100)
    assert all(health.record(i % 20 == 0, 1.0) is None for i in range(2000))  # 5 %


def test_a_slow_p99_breaks_the_latency_gate() -> None:
    health = CandidateHealth(HealthGates(max_p99_ms=10.0), min_requests=20, window=100)
    for _ in range(99):
        assert health.record(False, 5.0) is None
    assert health.record(False, 50.0) is None  # 1 slow in 100: p99 is still 5 ms
    breach = health.record(False, 50.0)  # 2 in the last 100: p99 is 50 ms
    assert breach is not None and breach.gate == "max_p99_ms" and breach.observed == 50.0


def test_fast_failures_do_not_make_latency_look_good() -> None:
    health = CandidateHealth(HealthGates(max_p99_ms=10.0), min_requests=20)
    for _ in range(100):
        assert health.record(True, 0.1) is None  # no error gate; latencies not counted
    breach = None
    for _ in range(20):
        breach = health.record(False, 30.0)
    assert breach is not None and breach.gate == "max_p99_ms"


def test_without_gates_nothing_is_watched() -> None:
    assert not CandidateHealth(HealthGates()).watching
    assert CandidateHealth(HealthGates(max_p99_ms=1.0)).watching


def test_only_the_versions_own_failures_count_against_it() -> None:
    assert is_candidate_fault(RuntimeError("onnxruntime failed"))
    assert is_candidate_fault(Unavailable("stopping"))
    for callers_fault in (
        InvalidArgument("bad"),
        DeadlineExceeded("late"),
        ResourceExhausted("full"),
    ):
        assert not is_candidate_fault(callers_fault)
    assert not is_candidate_fault(None)


def test_a_failed_run_counts_against_the_version_whatever_code_the_caller_sees() -> None:
    # onnxruntime answers an out-of-range Gather index the model computed INVALID_ARGUMENT
    assert is_candidate_fault(
        RunFailed("onnxruntime: indices out of bounds", ErrorCode.INVALID_ARGUMENT)
    )
    assert is_candidate_fault(RunFailed("model 'm' failed: boom"))


def test_failures_that_left_the_window_no_longer_count() -> None:
    health = CandidateHealth(HealthGates(max_error_rate=0.2), min_requests=50, window=50)
    outcomes = [True] * 10 + [False] * 50 + [True] * 10  # never more than 10 in the last 50
    assert all(health.record(failed, 1.0) is None for failed in outcomes)
    breach = health.record(True, 1.0)  # 11 in the last 50
    assert breach is not None and breach.observed == pytest.approx(11 / 50)


def test_the_p99_follows_the_window_as_slow_outcomes_leave_it() -> None:
    health = CandidateHealth(HealthGates(max_p99_ms=10.0), min_requests=100, window=100)
    assert health.record(False, 50.0) is None  # one slow in 100: p99 is 5 ms
    assert all(health.record(False, 5.0) is None for _ in range(150))  # the 50 ms one left
    assert health.record(False, 50.0) is None  # 1 slow in the last 100: p99 still 5 ms
    assert all(health.record(False, float(ms)) is None for ms in range(1, 9))
    breach = health.record(False, 60.0)  # 2 slow in the last 100
    assert breach is not None and breach.observed == 50.0
