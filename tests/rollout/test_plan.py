"""Reading and validating rollout.toml."""

from __future__ import annotations

from pathlib import Path

import pytest

from naiad.errors import InvalidArgument
from naiad.rollout.plan import (
    HealthGates,
    RolloutMode,
    RolloutPlan,
    Side,
    plan_from_mapping,
    read_plan,
)


def test_a_model_without_a_plan_file_has_no_plan(tmp_path: Path) -> None:
    assert read_plan(tmp_path) is None


def test_a_plan_file_reads_into_a_typed_plan(tmp_path: Path) -> None:
    (tmp_path / "rollout.toml").write_text(
        'stable = 1\ncandidate = 2\nmode = "ab"\ncandidate_percent = 30\nkey = "user_id"\n'
        "[gates]\nmax_error_rate = 0.05\nmax_p99_ms = 20\n"
    )
    plan = read_plan(tmp_path)
    assert plan == RolloutPlan(
        1, 2, RolloutMode.AB, 30.0, "user_id", gates=HealthGates(0.05, 20.0, None)
    )


def test_a_stepping_canary_reads_its_schedule(tmp_path: Path) -> None:
    (tmp_path / "rollout.toml").write_text(
        'stable = 1\ncandidate = 2\nmode = "canary"\ncandidate_percent = 5\n'
        "step_percent = 20\nstep_every_requests = 1000\n"
    )
    plan = read_plan(tmp_path)
    assert plan is not None
    assert (plan.step_percent, plan.step_every_requests, plan.step_every_s) == (20.0, 1000, 0.0)


def test_blue_green_switches_sides_without_touching_the_plan() -> None:
    plan = plan_from_mapping({"stable": 3, "candidate": 4, "mode": "blue-green"})
    assert plan.live is Side.STABLE
    assert plan.switched().live is Side.CANDIDATE
    assert plan.switched().switched() == plan


@pytest.mark.parametrize(
    ("values", "says"),
    [
        ({"stable": 1, "candidate": 2}, "needs 'mode'"),
        ({"stable": 1, "candidate": 1, "mode": "canary"}, "same version"),
        ({"stable": 0, "candidate": 2, "mode": "canary"}, "stable must be"),
        ({"stable": "1", "candidate": 2, "mode": "canary"}, "stable must be"),
        ({"stable": 1, "candidate": 2, "mode": "canary", "candidate_percent": 101}, "0..100"),
        ({"stable": 1, "candidate": 2, "mode": "canary", "candidate_percent": "x"}, "a number"),
        ({"stable": 1, "candidate": 2, "mode": "ab", "candidate_percent": 50}, "'key'"),
        ({"stable": 1, "candidate": 2, "mode": "sideways"}, "bad rollout plan"),
        ({"stable": 1, "candidate": 2, "mode": "blue-green", "live": "red"}, "bad"),
        ({"stable": 1, "candidate": 2, "mode": "canary", "weights": 3}, "unknown"),
        ({"stable": 1, "candidate": 2, "mode": "canary", "gates": 3}, "table"),
        ({"stable": 1, "candidate": 2, "mode": "canary", "gates": {"max_p99_ms": -1}}, ">= 0"),
        ({"stable": 1, "candidate": 2, "mode": "canary", "gates": {"max_error_rate": 2}}, "0..1"),
        ({"stable": 1, "candidate": 2, "mode": "canary", "gates": {"speed": 1}}, "unknown gate"),
        ({"stable": 1, "candidate": 2, "mode": "canary", "gates": {"window": 0}}, ">= 1"),
        (
            {"stable": 1, "candidate": 2, "mode": "canary", "gates": {"divergence_metric": "l2"}},
            "divergence_metric",
        ),
        ({"stable": 1, "candidate": 2, "mode": "shadow", "sample_percent": 120}, "0..100"),
        ({"stable": 1, "candidate": 2, "mode": "canary", "gates": {"max_p99_ms": "1"}}, "number"),
        ({"stable": 1, "candidate": 2, "mode": "canary", "step_percent": 5}, "needs step_every"),
        ({"stable": 1, "candidate": 2, "mode": "canary", "step_percent": 500}, "0..100"),
        ({"stable": 1, "candidate": 2, "mode": "canary", "step_every_s": -1}, ">= 0"),
        ({"stable": 1, "candidate": 2, "mode": "canary", "step_every_requests": 1.5}, "whole"),
        (
            {"stable": 1, "candidate": 2, "mode": "shadow", "step_percent": 5, "step_every_s": 1},
            "only a canary",
        ),
    ],
)
def test_a_bad_plan_is_refused_saying_why(values: dict[str, object], says: str) -> None:
    with pytest.raises(InvalidArgument, match=says):
        plan_from_mapping(values)


def test_a_plan_file_that_is_not_toml_is_refused_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "rollout.toml").write_text("stable = = 1\n")
    with pytest.raises(InvalidArgument, match=r"rollout\.toml: not valid TOML"):
        read_plan(tmp_path)
