"""Dynamic batching seen from clients: shared batches, exact rows back, overload and timeouts."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from heavy import ONE_INSTANCE, heavy
from helpers import status_of, tensor, wait_until
from modelgen import identity, write_repository
from server_process import naiad_server
from tritonclient.utils import InferenceServerException

BATCHED = """
max_batch_size: 64
dynamic_batching { max_queue_delay_microseconds: 20000 preferred_batch_size: [ 32 ] }
"""
OVERLOAD = f"""
max_batch_size: 4
dynamic_batching {{ default_queue_policy {{ max_queue_size: 4 }} }}
{ONE_INSTANCE}"""
TIMEOUTS = f"""
max_batch_size: 4
dynamic_batching {{
  default_queue_policy {{ default_timeout_microseconds: 5000 timeout_action: REJECT }}
}}
{ONE_INSTANCE}"""


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = write_repository(
        tmp_path_factory.mktemp("repo"),
        {
            "batched": {1: lambda p: identity(p, "FP32", [3])},
            "overload": {1: lambda p: heavy(p, depth=100)},
            "timeouts": {1: lambda p: heavy(p, width=1024, depth=1000)},
            "deadlines": {1: lambda p: heavy(p, width=1024, depth=1000)},
        },
        configs={
            "batched": BATCHED,
            "overload": OVERLOAD,
            "timeouts": TIMEOUTS,
            "deadlines": ONE_INSTANCE,
        },
    )
    with naiad_server(root) as process:
        yield process


def stats(client: grpcclient.InferenceServerClient, model: str) -> dict:  # type: ignore[type-arg]
    return client.get_inference_statistics(model, as_json=True)["model_stats"][0]


def count(s: dict, key: str) -> int:  # type: ignore[type-arg]
    return int(s["inference_stats"].get(key, {}).get("count", 0))


def test_concurrent_requests_share_batches_and_get_their_own_rows(server) -> None:
    client = grpcclient.InferenceServerClient(server.url)
    answers: dict[int, np.ndarray] = {}
    errors: list[object] = []
    done = threading.Semaphore(0)
    sent = {}
    for i in range(96):
        rows = i % 4 + 1
        x = np.arange(rows * 3, dtype=np.float32).reshape(rows, 3) + 1000 * i
        sent[i] = x

        def collect(result, error, i=i):  # type: ignore[no-untyped-def]
            if error is not None:
                errors.append(error)
            else:
                answers[i] = result.as_numpy("OUTPUT0")
            done.release()

        client.async_infer("batched", [tensor("INPUT0", x, "FP32")], callback=collect)
    for _ in range(96):
        assert done.acquire(timeout=60)
    assert errors == []
    for i, x in sent.items():
        np.testing.assert_array_equal(answers[i], x)
    after = stats(client, "batched")
    assert int(after["inference_count"]) == sum(x.shape[0] for x in sent.values())
    assert int(after["execution_count"]) < 96 // 3, after["execution_count"]
    assert max(int(b["batch_size"]) for b in after["batch_stats"]) > 4
    client.close()


def test_overload_is_rejected_with_unavailable_and_nothing_is_lost(server) -> None:
    x = np.ones((4, 512), dtype=np.float32)
    clients = [grpcclient.InferenceServerClient(server.url) for _ in range(4)]

    def call(i: int) -> str:
        try:
            out = clients[i % 4].infer("overload", [tensor("INPUT0", x * i, "FP32")])
        except InferenceServerException as exc:
            return str(exc.status())
        # Each accepted request gets its own answer back, never another caller's.
        expected = np.tanh(np.full(512, float(i)))
        return (
            "OK"
            if np.isfinite(out.as_numpy("OUTPUT0")).all()
            and out.as_numpy("OUTPUT0").shape == (4, 512)
            and (i == 0 or expected[0] != 0)
            else "WRONG"
        )

    with ThreadPoolExecutor(24) as pool:
        outcomes = list(pool.map(call, range(48)))
    rejected = outcomes.count("StatusCode.UNAVAILABLE")
    accepted = outcomes.count("OK")
    assert rejected > 0, outcomes
    assert accepted + rejected == 48, outcomes
    after = stats(clients[0], "overload")
    assert int(after["inference_stats"]["success"]["count"]) == accepted
    assert int(after["inference_count"]) == 4 * accepted
    for c in clients:
        c.close()


def test_queue_timeout_fires_while_the_instance_is_busy(server) -> None:
    client = grpcclient.InferenceServerClient(server.url)
    busy = np.ones((4, 1024), dtype=np.float32)
    done = threading.Semaphore(0)
    first: list[object] = []
    client.async_infer(
        "timeouts", [tensor("INPUT0", busy, "FP32")],
        callback=lambda result, error: (first.append(error), done.release()),
    )  # fmt: skip
    wait_until(
        lambda: count(stats(client, "timeouts"), "queue") == 1, "the busy request left the queue"
    )
    # The only instance is busy for far longer than the 5 ms queue timeout.
    code, message = status_of(
        lambda: client.infer("timeouts", [tensor("INPUT0", busy[:1], "FP32")])
    )
    assert code == "UNAVAILABLE" and "timed out" in message
    # A request may lower its own timeout too.
    code, _ = status_of(
        lambda: client.infer("timeouts", [tensor("INPUT0", busy[:1], "FP32")], timeout=1000)
    )
    assert code == "UNAVAILABLE"
    assert done.acquire(timeout=60) and first == [None]
    client.close()


def test_deadline_removes_queued_requests_without_computing_them(server) -> None:
    client = grpcclient.InferenceServerClient(server.url)
    busy = np.ones((4, 1024), dtype=np.float32)
    before = stats(client, "deadlines")
    done = threading.Semaphore(0)
    first: list[object] = []
    client.async_infer(
        "deadlines", [tensor("INPUT0", busy, "FP32")],
        callback=lambda result, error: (first.append(error), done.release()),
    )  # fmt: skip
    wait_until(
        lambda: count(stats(client, "deadlines"), "queue") == count(before, "queue") + 1,
        "the busy request left the queue",
    )
    abandoned: list[object] = []
    gone = threading.Semaphore(0)
    for _ in range(3):  # all queued behind the busy request; their 50 ms deadline passes there
        client.async_infer(
            "deadlines", [tensor("INPUT0", busy[:1], "FP32")], client_timeout=0.05,
            callback=lambda result, error: (abandoned.append(error), gone.release()),
        )  # fmt: skip
    for _ in range(3):
        assert gone.acquire(timeout=60)
    assert all("DEADLINE_EXCEEDED" in str(e.status()) for e in abandoned), abandoned  # type: ignore[attr-defined]
    assert done.acquire(timeout=60) and first == [None]
    after = stats(client, "deadlines")
    # Only the busy request ran; the three abandoned ones never reached the model.
    assert count(after, "success") - count(before, "success") == 1
    assert int(after["execution_count"]) - int(before.get("execution_count", 0)) == 1
    client.close()
