"""Adding, swapping and removing versions under steady concurrent load drops nothing.

A real server, 16 gRPC clients sending unversioned requests back to back for the whole test,
while versions change by explicit loads with a new version_policy and by a repository poll
seeing version directories appear and vanish. Every request is counted: each gets exactly
one answer (its own id echoed), none fails, and each answer is the answering version's own
(version v adds 100 * v).
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from modelgen import write_repository
from rollout_support import offset, running

from naiad.app import NaiadServer
from naiad_client.aio import AsyncClient
from naiad_client.errors import InferenceServerError

CONCURRENCY = 16
MIN_ANSWERS_PER_STEP = 50
"""Answers each step waits for after its change: traffic flowed through it."""
CONFIG = {
    "max_batch_size": 8,
    "input": [{"name": "INPUT0", "data_type": "TYPE_FP32", "dims": [2]}],
    "output": [{"name": "OUTPUT0", "data_type": "TYPE_FP32", "dims": [2]}],
    "dynamic_batching": {},
}


def config_text(policy: str) -> str:
    return (
        "max_batch_size: 8\n"
        'input [{ name: "INPUT0" data_type: TYPE_FP32 dims: [2] }]\n'
        'output [{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [2] }]\n'
        f"dynamic_batching {{ }}\nversion_policy: {policy}\n"
    )


def repository(root: Path, versions: list[int], policy: str) -> Path:
    builders = {v: offset(100.0 * v) for v in versions}
    return write_repository(root, {"scored": builders}, {"scored": config_text(policy)})


@dataclass
class Tally:
    """Every request the clients sent and what came back."""

    num_sent: int = 0
    answered_ids: list[str] = field(default_factory=list)
    by_version: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)

    @property
    def num_answers(self) -> int:
        return len(self.answered_ids) + len(self.errors)


@asynccontextmanager
async def steady_load(server: NaiadServer) -> AsyncIterator[Tally]:
    """Clients sending back to back until the block ends; then every answer is in."""
    tally = Tally()
    stopping = asyncio.Event()

    async def client(number: int) -> None:
        async with AsyncClient(server.grpc_address) as channel:
            sequence = 0
            while not stopping.is_set():
                request_id = f"c{number}-{sequence}"
                sequence += 1
                x = np.full((1, 2), float(sequence % 7), np.float32)
                tally.num_sent += 1
                try:
                    result = await channel.infer(
                        "scored", {"INPUT0": x}, request_id=request_id, timeout_s=30
                    )
                except InferenceServerError as exc:
                    tally.errors.append(f"{request_id}: {exc}")
                    continue
                version = result.model_version
                tally.answered_ids.append(result.id)
                tally.by_version[version] = tally.by_version.get(version, 0) + 1
                expected = x + 100.0 * int(version)
                if result.id != request_id or not np.array_equal(
                    result.as_numpy("OUTPUT0"), expected
                ):
                    tally.wrong.append(f"{request_id} answered as {result.id} by {version}")

    clients = [asyncio.create_task(client(n)) for n in range(CONCURRENCY)]
    try:
        yield tally
    finally:
        stopping.set()
        await asyncio.gather(*clients)


async def until(check: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Waits (polling the server's own state) until `check` holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not check():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def served_through(
    server: NaiadServer, tally: Tally, versions: list[int], change: Awaitable[Any] | None
) -> None:
    """Applies `change`, waits until exactly `versions` serve, then until the newest of them
    answered MIN_ANSWERS_PER_STEP more requests."""
    if change is not None:
        await change
    await until(
        lambda: server.repository.ready_versions("scored") == versions, f"versions {versions}"
    )
    newest, before = str(versions[-1]), tally.by_version.get(str(versions[-1]), 0)
    await until(
        lambda: tally.by_version.get(newest, 0) >= before + MIN_ANSWERS_PER_STEP,
        f"answers from version {newest}",
    )


def assert_nothing_dropped(tally: Tally) -> None:
    assert tally.errors == [], tally.errors[:5]
    assert tally.wrong == [], tally.wrong[:5]
    assert tally.num_answers == tally.num_sent
    assert len(set(tally.answered_ids)) == len(tally.answered_ids)  # one answer per request


async def test_explicit_loads_that_add_swap_and_remove_versions_fail_no_request(
    tmp_path: Path,
) -> None:
    repo = repository(tmp_path, [1, 2, 3], "{ specific: { versions: [1] } }")
    options = {"model_control_mode": "explicit", "startup_models": ("scored",)}
    async with running(repo, **options) as server, AsyncClient(server.grpc_address) as admin:

        def load_with(policy: dict[str, Any]) -> Awaitable[Any]:
            config = json.dumps({**CONFIG, "version_policy": policy})
            return admin.load_model("scored", config=config, timeout_s=120)

        async with steady_load(server) as tally:
            await served_through(server, tally, [1], None)
            steps: list[tuple[list[int], dict[str, Any]]] = [
                ([1, 2], {"specific": {"versions": [1, 2]}}),  # add
                ([3], {"specific": {"versions": [3]}}),  # swap two for one
                ([1, 3], {"specific": {"versions": [1, 3]}}),  # add below the newest
                ([1], {"specific": {"versions": [1]}}),  # remove the newest
                ([2, 3], {"latest": {"num_versions": 2}}),  # swap both
                ([1, 2, 3], {"all": {}}),
            ]
            for versions, policy in steps:
                await served_through(server, tally, versions, load_with(policy))
        assert_nothing_dropped(tally)
        assert set(tally.by_version) == {"1", "2", "3"}


async def test_versions_appearing_and_vanishing_under_a_polled_repository_fail_no_request(
    tmp_path: Path,
) -> None:
    repo = repository(tmp_path / "repo", [1, 2], "{ latest: { num_versions: 1 } }")
    model_dir = repo / "scored"

    def add_version(version: int) -> None:
        # built beside the repository and moved in whole: a poll never sees half a file
        staged = tmp_path / f"staged-{version}"
        staged.mkdir()
        offset(100.0 * version)(staged / "model.onnx")
        staged.rename(model_dir / str(version))

    async def change(edit: Callable[[], None]) -> None:
        await asyncio.to_thread(edit)

    options = {"model_control_mode": "poll", "poll_interval_s": 0.05}
    async with running(repo, **options) as server:
        async with steady_load(server) as tally:
            await served_through(server, tally, [2], None)
            await served_through(server, tally, [3], change(lambda: add_version(3)))
            await served_through(server, tally, [2], change(lambda: shutil.rmtree(model_dir / "3")))
            policy_all = config_text("{ all: { } }")
            await served_through(
                server,
                tally,
                [1, 2],
                change(lambda: (model_dir / "config.pbtxt").write_text(policy_all)),
            )
            await served_through(server, tally, [1, 2, 4], change(lambda: add_version(4)))
            await served_through(
                server, tally, [1, 4], change(lambda: shutil.rmtree(model_dir / "2"))
            )
        assert_nothing_dropped(tally)
        assert set(tally.by_version) == {"2", "3", "4"}  # unversioned: the latest answers
