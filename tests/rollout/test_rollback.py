"""Automatic rollback on a real server under concurrent gRPC clients.

A candidate that fails some runs, fails every run, answers NaN, or answers slower than its
p99 gate is rolled back at the first moment its gate can judge it (min_requests outcomes);
callers meet at most those outcomes plus the requests already in flight as bad answers, then
stable answers everything and the candidate stays loaded for inspection.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from rollout_support import (
    Outcome,
    broken,
    call_admin,
    failing,
    load,
    metrics,
    not_a_number,
    offset,
    running,
    sample,
    slow,
    write_model,
)

from naiad_client.aio import AsyncClient

CONCURRENCY = 16
MIN_REQUESTS = 20
NUM_REQUESTS = 600
BOUND = MIN_REQUESTS + CONCURRENCY - 1
"""Bad answers a caller can meet: the min_requests outcomes the gate judges, then whatever
the other clients had in flight when it broke (one request each)."""


def ones(i: int) -> np.ndarray:
    return np.ones((1, 2), np.float32)


def mostly_out_of_range(i: int) -> np.ndarray:
    # `failing` answers inputs 0 and 1 and fails a run holding anything else: 3 in 4 fail
    return np.full((1, 2), 0.0 if i % 4 == 0 else 5.0, np.float32)


def errored(outcome: Outcome) -> bool:
    return outcome.error != ""


def wrong_or_errored(outcome: Outcome) -> bool:
    return errored(outcome) or bool(np.isnan(outcome.values).any())


def from_candidate(outcome: Outcome) -> bool:
    return outcome.version == "2"


@dataclass(frozen=True)
class Fault:
    build: Callable[[Path], Path]
    gate: str
    """The gate that must break."""
    bad: Callable[[Outcome], bool]
    """What a caller counts as a bad answer."""
    inputs: Callable[[int], np.ndarray] = ones
    gates: dict[str, Any] = field(default_factory=dict)
    says: str = ""
    """In the error a caller of the candidate got, if any."""


FAULTS = {
    # onnxruntime calls the out-of-range index INVALID_ARGUMENT: still the version's failure
    "fails-some-runs": Fault(
        failing,
        "max_error_rate",
        errored,
        mostly_out_of_range,
        {"max_error_rate": 0.2},
        "out of",
    ),
    "fails-every-run": Fault(broken, "max_error_rate", errored, says="Reshape"),
    "answers-nan": Fault(not_a_number, "max_error_rate", wrong_or_errored),
    "slower-than-p99": Fault(
        slow, "max_p99_ms", from_candidate, gates={"max_error_rate": None, "max_p99_ms": 3.0}
    ),
}


@pytest.mark.parametrize("name", sorted(FAULTS))
async def test_a_faulty_candidate_is_rolled_back_after_at_most_its_gates_worth_of_bad_answers(
    tmp_path: Path, name: str, caplog: pytest.LogCaptureFixture
) -> None:
    fault = FAULTS[name]
    write_model(tmp_path, "scored", {1: offset(100.0), 2: fault.build})
    caplog.set_level(logging.WARNING, logger="naiad.rollout")
    async with running(tmp_path) as server:
        gates = {"min_requests": MIN_REQUESTS, **fault.gates}
        body = {"mode": "canary", "to": 2, "candidate_percent": 50, "gates": gates}
        status, started = await call_admin(server, "/scored/start", body)
        assert status == 200, started

        outcomes = await load(
            server, "scored", NUM_REQUESTS, concurrency=CONCURRENCY, inputs=fault.inputs
        )

        assert len(outcomes) == NUM_REQUESTS  # every request answered, well or not
        _, state = await call_admin(server, "/scored")
        assert state["verdict"] == "rolled_back", state
        assert state["weights"] == {"1": 1.0}
        assert state["breach"]["gate"] == fault.gate, state["breach"]
        assert state["breach"]["requests"] == MIN_REQUESTS  # judged at the first chance
        bad = [o for o in outcomes if fault.bad(o)]
        assert 1 <= len(bad) <= BOUND, (len(bad), state["arms"])
        if fault.says:
            assert all(fault.says in o.error for o in bad if o.error), bad[0].error
        assert state["arms"]["1"]["failure"] == 0  # stable answered all it got, and well
        assert state["rollbacks"] == 1
        assert any("rolled back from version 2 to 1" in r.message for r in caplog.records)

        # from now on stable answers every unversioned request; the candidate stays loaded
        after = await load(server, "scored", 200, concurrency=CONCURRENCY, inputs=fault.inputs)
        assert {o.version for o in after} == {"1"}
        assert not any(fault.bad(o) for o in after)
        async with AsyncClient(server.grpc_address) as client:
            assert await client.model_ready("scored", "2")
        text = await metrics(server)
        assert sample(text, "naiad_rollout_rollbacks_total", model="scored") == 1
        assert sample(text, "naiad_rollout_state", model="scored", verdict="rolled_back") == 1


async def test_a_candidate_within_its_gates_is_not_rolled_back_under_the_same_load(
    tmp_path: Path,
) -> None:
    # the same load and gates with a healthy candidate: the tests above cannot pass by accident
    write_model(tmp_path, "scored", {1: offset(100.0), 2: offset(200.0)})
    async with running(tmp_path) as server:
        gates = {"min_requests": MIN_REQUESTS, "max_error_rate": 0.0}
        body = {"mode": "canary", "to": 2, "candidate_percent": 50, "gates": gates}
        assert (await call_admin(server, "/scored/start", body))[0] == 200
        outcomes = await load(server, "scored", NUM_REQUESTS, concurrency=CONCURRENCY)
        assert not any(wrong_or_errored(o) for o in outcomes)
        _, state = await call_admin(server, "/scored")
        assert state["verdict"] == "running" and state["breach"] is None
        assert state["arms"]["2"]["success"] == NUM_REQUESTS // 2
