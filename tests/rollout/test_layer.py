"""The RolloutLayer over the real Engine and repository: plans read at load, versions chosen."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from pathlib import Path

import modelgen
import numpy as np
import pytest

from naiad.datatypes import BY_WIRE
from naiad.engine.context import INTERNAL
from naiad.engine.engine import Engine
from naiad.engine.loader import load_served_model
from naiad.engine.request import InferInput, InferRequest
from naiad.repository.manager import ModelRepository
from naiad.repository.types import ModelState
from naiad.rollout.book import RolloutBook
from naiad.rollout.layer import RolloutLayer
from naiad.rollout.plan import RolloutMode

CANARY = 'stable = 1\ncandidate = 2\nmode = "canary"\ncandidate_percent = 20\n'


def write_model(root: Path, plan: str | None) -> None:
    modelgen.write_repository(
        root,
        {
            "scored": {
                1: lambda p: modelgen.offset(p, 100.0),
                2: lambda p: modelgen.offset(p, 200.0),
            }
        },
        {"scored": "version_policy: { all: {} }\n"},
    )
    if plan is not None:
        (root / "scored" / "rollout.toml").write_text(plan)


async def serving(root: Path, book: RolloutBook) -> ModelRepository:
    repository = ModelRepository(
        str(root), factory=book.reading_plans(load_served_model), control_mode="explicit"
    )
    await asyncio.to_thread(repository.start)
    await asyncio.to_thread(repository.load, "scored")
    return repository


@pytest.fixture
async def stack(tmp_path: Path) -> AsyncIterator[tuple[RolloutLayer, ModelRepository]]:
    write_model(tmp_path, CANARY)
    book = RolloutBook(random.Random(3))
    repository = await serving(tmp_path, book)
    engine = Engine(repository)
    engine.accept(True)
    yield RolloutLayer(engine, book), repository
    await asyncio.to_thread(repository.stop)


def request(version: str = "") -> InferRequest:
    x = np.zeros((1, 1), np.float32)
    return InferRequest("scored", version, "", [InferInput("INPUT0", BY_WIRE["FP32"], (1, 1), x)])


async def answer_offsets(layer: RolloutLayer, count: int, version: str = "") -> list[int]:
    answers = await asyncio.gather(
        *(layer.submit(request(version), INTERNAL) for _ in range(count))
    )
    offsets = []
    for answer in answers:
        value = int(answer.outputs[0].data.item())
        assert answer.model_version == {100: "1", 200: "2"}[value]  # the version that answered
        offsets.append(value)
    return offsets


async def test_the_plan_in_rollout_toml_is_read_at_load_and_splits_traffic(stack) -> None:  # type: ignore[no-untyped-def]
    layer, _ = stack
    router = layer.book.router("scored")
    assert router is not None and router.plan.mode is RolloutMode.CANARY
    offsets = await answer_offsets(layer, 2000)
    share = 100.0 * offsets.count(200) / len(offsets)
    assert abs(share - 20.0) <= 3.0, share


async def test_explicit_versions_go_where_they_ask(stack) -> None:  # type: ignore[no-untyped-def]
    layer, _ = stack
    assert set(await answer_offsets(layer, 200, version="1")) == {100}
    assert set(await answer_offsets(layer, 200, version="2")) == {200}


async def test_without_a_plan_unversioned_requests_meet_the_latest_version(tmp_path: Path) -> None:
    write_model(tmp_path, None)
    book = RolloutBook()
    repository = await serving(tmp_path, book)
    try:
        engine = Engine(repository)
        assert book.router("scored") is None
        assert set(await answer_offsets(RolloutLayer(engine, book), 50)) == {200}
    finally:
        await asyncio.to_thread(repository.stop)


async def test_a_reload_without_the_plan_file_ends_the_rollout(stack, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    layer, repository = stack
    (tmp_path / "scored" / "rollout.toml").unlink()
    await asyncio.to_thread(repository.load, "scored")
    assert layer.book.router("scored") is None
    assert set(await answer_offsets(layer, 50)) == {200}


async def test_a_chosen_version_that_does_not_serve_falls_back_to_stable(tmp_path: Path) -> None:
    # the plan names a candidate the repository does not have
    write_model(tmp_path, CANARY.replace("candidate = 2", "candidate = 7"))
    book = RolloutBook(random.Random(5))
    repository = await serving(tmp_path, book)
    try:
        assert set(await answer_offsets(RolloutLayer(Engine(repository), book), 300)) == {100}
        # the refusals are not the candidate's failures: nothing counted on its arm
        router = book.router("scored")
        assert router is not None and router.rollback is None
        assert router.arm(7).num_requests == 0 and router.arm(1).num_requests == 300
        assert router.arm(1).num_success == 300
    finally:
        await asyncio.to_thread(repository.stop)


SHADOW_OF_7 = 'stable = 1\ncandidate = 7\nmode = "shadow"\n[gates]\nmax_error_rate = 0\n'


async def test_a_shadow_of_a_version_that_does_not_serve_skips_its_copies(tmp_path: Path) -> None:
    write_model(tmp_path, SHADOW_OF_7)
    book = RolloutBook()
    repository = await serving(tmp_path, book)
    try:
        layer = RolloutLayer(Engine(repository), book)
        assert set(await answer_offsets(layer, 40)) == {100}
        await asyncio.sleep(0)  # the copies are submitted on the next turn of the loop
        router = book.router("scored")
        assert router is not None and router.rollback is None
        shadow = router.shadow
        assert (shadow.num_skipped, shadow.num_forked, shadow.num_failed) == (40, 0, 0)
        assert layer.shadows.num_in_flight == 0
    finally:
        await asyncio.to_thread(repository.stop)


async def test_with_neither_version_serving_requests_meet_the_latest(tmp_path: Path) -> None:
    write_model(tmp_path, 'stable = 5\ncandidate = 7\nmode = "canary"\ncandidate_percent = 50\n')
    book = RolloutBook()
    repository = await serving(tmp_path, book)
    try:
        assert set(await answer_offsets(RolloutLayer(Engine(repository), book), 50)) == {200}
    finally:
        await asyncio.to_thread(repository.stop)


async def test_a_bad_plan_file_fails_the_load_saying_why(tmp_path: Path) -> None:
    write_model(tmp_path, 'stable = 1\ncandidate = 1\nmode = "canary"\n')
    book = RolloutBook()
    repository = ModelRepository(
        str(tmp_path), factory=book.reading_plans(load_served_model), control_mode="explicit"
    )
    await asyncio.to_thread(repository.start)
    try:
        with pytest.raises(Exception, match="rollout.toml: stable and candidate are the same"):
            await asyncio.to_thread(repository.load, "scored")
        states = {e.state for e in repository.index(scan=False)}
        assert states == {ModelState.UNAVAILABLE}
    finally:
        await asyncio.to_thread(repository.stop)


class StepClock:
    """Each reading is `step_s` later than the one before."""

    def __init__(self, step_s: float) -> None:
        self.now_s = 0.0
        self.step_s = step_s

    def __call__(self) -> float:
        self.now_s += self.step_s
        return self.now_s


GATED = 'stable = 1\ncandidate = 2\nmode = "canary"\ncandidate_percent = 50\n'


async def test_a_candidate_slower_than_its_gate_is_rolled_back(tmp_path: Path, caplog) -> None:  # type: ignore[no-untyped-def]
    write_model(tmp_path, GATED + "[gates]\nmax_p99_ms = 20\n")
    book = RolloutBook(random.Random(11))
    repository = await serving(tmp_path, book)
    try:
        # every candidate request takes 50 ms by this clock (one reading before, one after)
        layer = RolloutLayer(Engine(repository), book, clock=StepClock(0.050))
        offsets = [(await answer_offsets(layer, 1))[0] for _ in range(200)]
        router = book.router("scored")
        assert router is not None and router.rollback is not None
        assert router.rollback.gate == "max_p99_ms" and router.num_rollbacks == 1
        # exactly the gate's minimum of candidate answers, then only stable
        last_candidate = len(offsets) - 1 - offsets[::-1].index(200)
        assert offsets.count(200) == 20 and last_candidate < 100
        assert set(offsets[last_candidate + 1 :]) == {100}
        assert "rolled back from version 2 to 1" in caplog.text
        # the candidate stays loaded and answers when asked by version
        assert set(await answer_offsets(layer, 5, version="2")) == {200}
        # a reload of the unchanged plan leaves the verdict: the candidate gets no traffic
        await asyncio.to_thread(repository.load, "scored")
        assert book.router("scored") is router and router.rollback is not None
        assert set(await answer_offsets(layer, 50)) == {100}
        # starting the plan again starts over
        restarted = book.start("scored", router.plan)
        assert restarted.rollback is None and 200 in await answer_offsets(layer, 100)
    finally:
        await asyncio.to_thread(repository.stop)


async def test_a_candidate_within_its_gates_keeps_its_share(tmp_path: Path) -> None:
    write_model(tmp_path, GATED + "[gates]\nmax_p99_ms = 80\nmax_error_rate = 0\n")
    book = RolloutBook(random.Random(11))
    repository = await serving(tmp_path, book)
    try:
        layer = RolloutLayer(Engine(repository), book, clock=StepClock(0.050))
        offsets = [(await answer_offsets(layer, 1))[0] for _ in range(400)]
        assert abs(100.0 * offsets.count(200) / 400 - 50.0) <= 8.0
        # requests the caller got wrong are not the candidate's failures
        bad = InferRequest("scored", "", "", [])
        for _ in range(50):
            with pytest.raises(Exception, match="INPUT0"):
                await layer.submit(bad, INTERNAL)
        router = book.router("scored")
        assert router is not None and router.rollback is None
    finally:
        await asyncio.to_thread(repository.stop)
