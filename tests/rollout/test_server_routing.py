"""Canary, A/B and shadow on a real server under concurrent gRPC clients."""

from __future__ import annotations

import asyncio
import statistics
from pathlib import Path

import numpy as np
import pytest
from rollout_support import (
    call_admin,
    load,
    metrics,
    offset,
    running,
    sample,
    slow,
    write_model,
)


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return write_model(tmp_path, "scored", {1: offset(100.0), 2: offset(200.0)})


async def test_a_canary_sends_its_share_and_explicit_versions_go_where_they_ask(
    repository: Path,
) -> None:
    async with running(repository) as server:
        status, started = await call_admin(
            server, "/scored/start", {"mode": "canary", "to": 2, "candidate_percent": 25}
        )
        assert status == 200, started
        assert started["stable"] == 1 and started["weights"] == {"1": 0.75, "2": 0.25}
        outcomes = await load(server, "scored", 2400, concurrency=16)
        assert all(o.error == "" for o in outcomes)
        for o in outcomes:  # the answer is the version's own
            assert o.values is not None and o.values[0, 0] == {"1": 101.0, "2": 201.0}[o.version]
        share = 100.0 * sum(o.version == "2" for o in outcomes) / len(outcomes)
        assert abs(share - 25.0) <= 3.0, share
        pinned = await load(server, "scored", 200, concurrency=8, version="1")
        assert {o.version for o in pinned} == {"1"}
        _, state = await call_admin(server, "/scored")
        assert state["arms"]["2"]["requests"] == sum(o.version == "2" for o in outcomes)
        assert state["arms"]["1"]["requests"] + state["arms"]["2"]["requests"] == 2400
        text = await metrics(server)
        assert sample(text, "naiad_rollout_traffic_share", model="scored", version="2") == 0.25
        assert (
            sample(text, "naiad_rollout_requests_total", model="scored", version="1")
            == (state["arms"]["1"]["requests"])
        )


async def test_ab_keys_always_meet_the_same_version(repository: Path) -> None:
    async with running(repository) as server:
        body = {"mode": "ab", "to": 2, "key": "user_id", "candidate_percent": 40}
        assert (await call_admin(server, "/scored/start", body))[0] == 200
        outcomes = await load(
            server, "scored", 2000, concurrency=16, parameters=lambda i: {"user_id": f"u{i % 250}"}
        )
        arms: dict[str, set[str]] = {}
        for o in outcomes:
            assert o.error == ""
            arms.setdefault(o.parameters["user_id"], set()).add(o.version)
        assert all(len(versions) == 1 for versions in arms.values())  # sticky, every time
        share = 100.0 * sum(v == {"2"} for v in arms.values()) / len(arms)
        assert 25.0 <= share <= 55.0, share  # 250 keys hashed: a loose band around 40 %
        # without the key, stable answers
        keyless = await load(server, "scored", 50, concurrency=4)
        assert {o.version for o in keyless} == {"1"}
        _, state = await call_admin(server, "/scored")
        assert state["arms"]["2"]["success"] == sum(o.version == "2" for o in outcomes)


async def test_a_shadow_never_changes_the_answer_and_measures_the_known_divergence(
    tmp_path: Path,
) -> None:
    # the candidate adds 0.5 more to the second column: |diff| = (0, 0.5) on every row
    write_model(tmp_path, "scored", {1: offset(100.0), 2: offset([100.0, 100.5])})
    async with running(tmp_path) as server:
        body = {"mode": "shadow", "to": 2, "gates": {"max_error_rate": 0.0}}
        assert (await call_admin(server, "/scored/start", body))[0] == 200

        def rows(i: int) -> np.ndarray:
            # argmax: column 0 for stable either way; for the candidate only when 0 leads by 1
            lead = 1.0 if i % 2 == 0 else 0.2
            return np.array([[lead, 0.0]], np.float32)

        outcomes = await load(server, "scored", 600, concurrency=8, inputs=rows)
        assert {o.version for o in outcomes} == {"1"}
        for o in outcomes:
            assert o.values is not None and o.values[0, 1] == 100.0  # stable's, never 100.5
        state = await _settled_shadow(server, 600)
        shadow = state["shadow"]
        assert shadow["compared"] == 600 and shadow["failed"] == 0
        assert shadow["mean_max_abs"] == pytest.approx(0.5)
        assert shadow["mean_mean_abs"] == pytest.approx(0.25)
        assert shadow["argmax_agreement"] == pytest.approx(0.5)
        assert state["verdict"] == "running"
        text = await metrics(server)
        labels = {"model": "scored", "version": "2", "metric": "max_abs"}
        name = "naiad_rollout_shadow_divergence_bucket"
        assert sample(text, name, le="0.1", **labels) == 0
        assert sample(text, name, le="1.0", **labels) == 600


async def test_a_slow_shadow_does_not_slow_the_caller(tmp_path: Path) -> None:
    write_model(tmp_path, "scored", {1: offset(100.0), 2: slow})
    async with running(tmp_path) as server:
        body = {"mode": "shadow", "to": 2, "sample_percent": 10, "gates": {"max_error_rate": None}}
        assert (await call_admin(server, "/scored/start", body))[0] == 200
        outcomes = await load(server, "scored", 300, concurrency=4)
        assert all(o.error == "" and o.version == "1" for o in outcomes)
        _, state = await call_admin(server, "/scored")
        candidate_s = state["shadow"]
        assert candidate_s["compared"] + candidate_s["skipped"] >= 1
        caller_p50_s = statistics.median(o.latency_s for o in outcomes)
        # each copy takes tens of ms; the caller waits for none of them
        shadow_mean_s = _shadow_mean_latency_s(await metrics(server))
        assert shadow_mean_s > 0.005
        assert caller_p50_s < shadow_mean_s / 2, (caller_p50_s, shadow_mean_s)


async def _settled_shadow(server, expected: int):  # type: ignore[no-untyped-def]
    # the last copies may still be comparing when the last caller is answered
    for _ in range(500):
        _, state = await call_admin(server, "/scored")
        shadow = state["shadow"]
        if shadow["compared"] + shadow["failed"] + shadow["skipped"] >= expected:
            return state
        await asyncio.sleep(0.01)
    raise AssertionError(f"shadow copies did not finish: {state}")


def _shadow_mean_latency_s(text: str) -> float:
    labels = {"model": "scored", "version": "2"}
    total = sample(text, "naiad_rollout_shadow_duration_seconds_sum", **labels)
    count = sample(text, "naiad_rollout_shadow_duration_seconds_count", **labels)
    return total / count if count else 0.0
