"""The Router's choices: canary share, A/B stickiness, blue-green switch, shadow."""

from __future__ import annotations

import random

import pytest

from naiad.engine.request import InferRequest, ParameterValue
from naiad.rollout.plan import HealthGates, RolloutMode, RolloutPlan
from naiad.rollout.router import Router, ab_bucket


def request(**parameters: ParameterValue) -> InferRequest:
    return InferRequest("m", "", "", [], parameters=dict(parameters))


@pytest.mark.parametrize("percent", [5.0, 25.0, 50.0, 90.0])
def test_a_canary_sends_its_share_to_the_candidate(percent: float) -> None:
    router = Router(RolloutPlan(1, 2, RolloutMode.CANARY, percent), random.Random(7))
    choices = [router.choose(request()) for _ in range(4000)]
    share = 100.0 * choices.count(2) / len(choices)
    assert abs(share - percent) <= 3.0, share
    assert set(choices) <= {1, 2}


@pytest.mark.parametrize(("percent", "expected"), [(0.0, {1}), (100.0, {2})])
def test_a_canary_at_either_end_sends_everything_one_way(
    percent: float, expected: set[int]
) -> None:
    router = Router(RolloutPlan(1, 2, RolloutMode.CANARY, percent), random.Random(1))
    assert {router.choose(request()) for _ in range(2000)} == expected


def test_ab_keys_always_meet_the_same_version_and_split_by_share() -> None:
    plan = RolloutPlan(1, 2, RolloutMode.AB, 30.0, key="user_id")
    first, second = Router(plan, random.Random(1)), Router(plan, random.Random(2))
    arms = {}
    for user in range(3000):
        arm = first.choose(request(user_id=f"user-{user}"))
        arms[user] = arm
        # the same key, asked again and of another router (another process), meets the same arm
        assert first.choose(request(user_id=f"user-{user}")) == arm
        assert second.choose(request(user_id=f"user-{user}")) == arm
    share = 100.0 * list(arms.values()).count(2) / len(arms)
    assert abs(share - 30.0) <= 3.0, share


def test_ab_without_the_key_meets_the_stable_version() -> None:
    router = Router(RolloutPlan(1, 2, RolloutMode.AB, 100.0, key="user_id"))
    assert router.choose(request()) == 1
    assert router.choose(request(user_id="anyone")) == 2


def test_ab_buckets_are_a_fixed_function_of_the_key() -> None:
    # fixed across runs and processes (no PYTHONHASHSEED dependence)
    assert ab_bucket("user-1") == ab_bucket("user-1")
    assert len({ab_bucket(f"k{i}") for i in range(200)}) > 150


def test_blue_green_switches_every_request_at_once() -> None:
    router = Router(RolloutPlan(1, 2, RolloutMode.BLUE_GREEN))
    assert {router.choose(request()) for _ in range(100)} == {1}
    router.switch()
    assert {router.choose(request()) for _ in range(100)} == {2}
    router.switch()
    assert {router.choose(request()) for _ in range(100)} == {1}


def test_shadow_lets_the_stable_version_answer() -> None:
    router = Router(RolloutPlan(1, 2, RolloutMode.SHADOW, 100.0))
    assert {router.choose(request()) for _ in range(100)} == {1}


def test_an_updated_plan_applies_to_the_next_request() -> None:
    router = Router(RolloutPlan(1, 2, RolloutMode.CANARY, 0.0))
    assert router.choose(request()) == 1
    router.update(RolloutPlan(1, 2, RolloutMode.CANARY, 100.0))
    assert router.choose(request()) == 2


def test_a_canary_steps_its_share_every_n_requests_up_to_all() -> None:
    plan = RolloutPlan(1, 2, RolloutMode.CANARY, 5.0, step_percent=20.0, step_every_requests=2000)
    router = Router(plan, random.Random(4))
    shares = []
    for _ in range(6):  # 5, 25, 45, 65, 85, then 100 %
        choices = [router.choose(request()) for _ in range(2000)]
        shares.append(100.0 * choices.count(2) / len(choices))
    for share, expected in zip(shares, [5.0, 25.0, 45.0, 65.0, 85.0, 100.0], strict=True):
        assert abs(share - expected) <= 3.0, shares
    assert router.candidate_percent == 100.0


def test_a_canary_steps_on_time_by_its_clock() -> None:
    now = [0.0]
    plan = RolloutPlan(1, 2, RolloutMode.CANARY, 0.0, step_percent=50.0, step_every_s=30.0)
    router = Router(plan, random.Random(4), clock=lambda: now[0])
    assert {router.choose(request()) for _ in range(500)} == {1}
    now[0] = 29.9
    assert router.choose(request()) == 1 and router.candidate_percent == 0.0
    now[0] = 30.0
    router.choose(request())
    assert router.candidate_percent == 50.0
    now[0] = 59.0
    router.choose(request())
    assert router.candidate_percent == 50.0  # 29 s at 50 %: not yet
    now[0] = 60.0
    assert router.choose(request()) == 2 and router.candidate_percent == 100.0


def test_a_rolled_back_canary_stops_stepping_and_sends_nothing_to_the_candidate() -> None:
    plan = RolloutPlan(
        1, 2, RolloutMode.CANARY, 50.0, step_percent=10.0, step_every_requests=10,
        gates=HealthGates(max_error_rate=0.0),
    )  # fmt: skip
    router = Router(plan, random.Random(4))
    for _ in range(20):
        router.record(plan, failed=True, latency_ms=1.0)
    assert router.rollback is not None
    assert {router.choose(request()) for _ in range(500)} == {1}
    router.update(plan)  # a new plan starts from its own share
    assert router.rollback is None and router.candidate_percent == 50.0
