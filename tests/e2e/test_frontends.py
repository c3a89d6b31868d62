"""`naiad serve --frontends 2`: two front-end processes on the same ports over one engine
process, driven by tritonclient over 127.0.0.1 (here rather than in tests/frontends because
tritonclient cannot share a process with naiad's own stubs)."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from heavy import ONE_INSTANCE, heavy
from helpers import http_call, status_of, tensor, wait_until
from modelgen import identity, mlp, mlp_reference, write_repository
from server_process import ServerProcess, naiad_server
from tritonclient.utils import InferenceServerException

MLP = (16, 32, 5)
BATCHED = """
max_batch_size: 16
dynamic_batching { max_queue_delay_microseconds: 30000 }
"""
SLOW = f"""
max_batch_size: 8
dynamic_batching {{ }}
{ONE_INSTANCE}"""


OWN_CONNECTION = [("grpc.use_local_subchannel_pool", 1)]
"""gRPC shares one connection between channels to the same address unless told otherwise;
callers meant to spread over both front ends each need their own."""


def connect(address: str) -> grpcclient.InferenceServerClient:
    return grpcclient.InferenceServerClient(address, channel_args=OWN_CONNECTION)


def front_end_pids(server: ServerProcess) -> list[int]:
    """The front-end processes the server runs now (children running naiad.frontends)."""
    pids = []
    for task in Path(f"/proc/{server.process.pid}/task").iterdir():
        for child in (task / "children").read_text().split():
            try:
                command = Path(f"/proc/{child}/cmdline").read_bytes()
            except FileNotFoundError:
                continue
            if b"naiad.frontends.process" in command:
                pids.append(int(child))
    return sorted(pids)


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


@pytest.fixture(scope="module")
def repository(tmp_path_factory):  # type: ignore[no-untyped-def]
    return write_repository(
        tmp_path_factory.mktemp("repo"),
        {
            "mlp": {1: lambda p: mlp(p, *MLP)},
            "batched": {1: lambda p: identity(p, "FP32", [4])},
            "slow": {1: lambda p: heavy(p, width=256, depth=200)},
            "words": {1: lambda p: identity(p, "BYTES", [3])},
            "wide": {1: lambda p: identity(p, "FP32", [40_000])},
        },
        {"batched": BATCHED, "slow": SLOW},
    )


def _mlp_answers(address: str, inputs: list[np.ndarray]) -> list[np.ndarray]:
    client = connect(address)
    answers = []
    for x in inputs:
        result = client.infer("mlp", [tensor("INPUT0", x, "FP32")])
        answers.append(result.as_numpy("OUTPUT0"))
    client.close()
    return answers


def test_two_front_ends_answer_exactly_as_one(repository) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    inputs = [rng.standard_normal((1 + i % 3, MLP[0])).astype(np.float32) for i in range(24)]
    with naiad_server(repository, "--frontends", "1") as single:
        expected = _mlp_answers(single.url, inputs)
    with naiad_server(repository, "--frontends", "2") as pooled:
        assert len(front_end_pids(pooled)) == 2
        with ThreadPoolExecutor(8) as pool:  # 8 connections: both front ends answer
            parts = list(pool.map(lambda i: _mlp_answers(pooled.url, inputs[i::8]), range(8)))
        http = httpclient.InferenceServerClient(pooled.http_url)
        x = inputs[0]
        item = httpclient.InferInput("INPUT0", list(x.shape), "FP32")
        item.set_data_from_numpy(x)
        over_http = http.infer("mlp", [item]).as_numpy("OUTPUT0")
    for i in range(8):
        for x, got, want in zip(inputs[i::8], parts[i], expected[i::8], strict=True):
            np.testing.assert_array_equal(got, want)
            np.testing.assert_allclose(got, mlp_reference(x, *MLP), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(over_http, expected[0])


def test_bytes_and_requests_larger_than_a_slot_come_back_whole(repository) -> None:  # type: ignore[no-untyped-def]
    words = np.array([[b"", b"a\x00b", "é".encode() * 40]], dtype=np.object_)
    wide = np.random.default_rng(1).standard_normal((1, 40_000)).astype(np.float32)  # 160 kB
    with naiad_server(repository, "--frontends", "2") as server:
        client = connect(server.url)
        got = client.infer("words", [tensor("INPUT0", words, "BYTES")]).as_numpy("OUTPUT0")
        assert got.tolist() == words.tolist()
        for _ in range(3):  # over the control socket, not a slot
            back = client.infer("wide", [tensor("INPUT0", wide, "FP32")]).as_numpy("OUTPUT0")
            np.testing.assert_array_equal(back, wide)
        stats = client.get_inference_statistics("wide").model_stats[0]
    assert stats.inference_count == 3


def test_streams_through_front_ends_answer_every_request_once(repository) -> None:  # type: ignore[no-untyped-def]
    with naiad_server(repository, "--frontends", "2") as server:
        answers: list[tuple[str, np.ndarray | None, object]] = []
        done = threading.Event()
        clients = [connect(server.url) for _ in range(4)]

        def callback(result, error) -> None:  # type: ignore[no-untyped-def]
            response = None if result is None else result.get_response()
            data = None if result is None else result.as_numpy("OUTPUT0")
            answers.append((response.id if response else "", data, error))
            if len(answers) == 4 * 10:
                done.set()

        for client in clients:
            client.start_stream(callback=callback)
        for n in range(10):
            for k, client in enumerate(clients):
                x = np.full((1, 4), 10 * k + n, dtype=np.float32)
                client.async_stream_infer("batched", [tensor("INPUT0", x, "FP32")],
                                          request_id=f"{k}-{n}")  # fmt: skip
        assert done.wait(60)
        for client in clients:
            client.stop_stream()
    assert sorted(a[0] for a in answers) == sorted(f"{k}-{n}" for k in range(4) for n in range(10))
    for request_id, data, error in answers:
        k, n = map(int, request_id.split("-"))
        assert error is None
        assert data is not None and data.tolist() == [[10.0 * k + n] * 4]


def test_callers_and_their_scopes_reach_the_engine_through_the_ring(repository, tmp_path) -> None:  # type: ignore[no-untyped-def]
    secret = "naiad_batched-only-secret"
    keys = tmp_path / "keys.toml"
    digest = hashlib.sha256(secret.encode()).hexdigest()
    keys.write_text(f'[[keys]]\nid = "app"\nsha256 = "{digest}"\nscopes = ["infer:batched"]\n')
    x = np.ones((1, 4), dtype=np.float32)
    with naiad_server(repository, "--frontends", "2", "--api-keys", str(keys)) as server:
        client = connect(server.url)
        token = {"authorization": f"Bearer {secret}"}
        assert status_of(lambda: client.infer("batched", [tensor("INPUT0", x, "FP32")]))[0] == (
            "UNAUTHENTICATED"
        )
        got = client.infer("batched", [tensor("INPUT0", x, "FP32")], headers=token)
        np.testing.assert_array_equal(got.as_numpy("OUTPUT0"), x)
        denied = status_of(
            lambda: client.infer(
                "mlp", [tensor("INPUT0", np.ones((1, 16), np.float32), "FP32")], headers=token
            )  # fmt: skip
        )
        assert denied[0] == "PERMISSION_DENIED"  # decided in the engine, from the ring's caller


def test_batches_span_callers_of_both_front_ends(repository) -> None:  # type: ignore[no-untyped-def]
    with naiad_server(repository, "--frontends", "2") as server:
        pids = front_end_pids(server)
        before = {pid: cpu_seconds(pid) for pid in pids}

        def client(seed: int) -> None:
            caller = connect(server.url)
            x = np.full((1, 4), seed, dtype=np.float32)
            for _ in range(25):
                out = caller.infer("batched", [tensor("INPUT0", x, "FP32")]).as_numpy("OUTPUT0")
                np.testing.assert_array_equal(out, x)
            caller.close()

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(client, range(16)))
        stats = grpcclient.InferenceServerClient(server.url).get_inference_statistics(
            "batched", as_json=True
        )["model_stats"][0]
        used = {pid: cpu_seconds(pid) - before[pid] for pid in pids}
    assert int(stats["inference_count"]) == 16 * 25
    assert int(stats["inference_count"]) / int(stats["execution_count"]) > 2  # mean batch
    assert all(seconds >= 0.02 for seconds in used.values()), used  # both decoded requests


def test_metadata_statistics_readiness_and_repository_through_any_front_end(
    repository, tmp_path
) -> None:  # type: ignore[no-untyped-def]
    args = ("--frontends", "2", "--model-control-mode", "explicit", "--load-model", "batched")
    with naiad_server(repository, *args) as server:
        clients = [connect(server.url) for _ in range(8)]
        assert all(c.is_server_ready() and c.is_server_live() for c in clients)
        assert not clients[0].is_model_ready("mlp")
        clients[1].load_model("mlp")
        assert all(c.is_model_ready("mlp") for c in clients)
        assert {c.get_model_metadata("mlp").platform for c in clients} == {"onnxruntime_onnx"}
        assert {c.get_model_config("mlp").config.name for c in clients} == {"mlp"}
        x = np.zeros((2, MLP[0]), dtype=np.float32)
        for c in clients:
            c.infer("mlp", [tensor("INPUT0", x, "FP32")])
        counts = {
            int(c.get_inference_statistics("mlp").model_stats[0].inference_count) for c in clients
        }
        assert counts == {16}  # server-wide, whichever front end is asked
        index = {m.name: m.state for m in clients[2].get_model_repository_index().models}
        assert index["mlp"] == "READY"
        clients[3].unload_model("mlp")
        wait_until(lambda: not clients[4].is_model_ready("mlp"), "mlp unloaded everywhere")
        with pytest.raises(InferenceServerException, match="mlp"):
            clients[5].infer("mlp", [tensor("INPUT0", x, "FP32")])
        metadata = clients[6].get_server_metadata()
        assert metadata.name == "naiad"
        status, _, body = http_call(server.http_url, "GET", "/v2/rollout/batched")
        assert status == 200 and json.loads(body) == {"model": "batched", "mode": None,
                                                      "verdict": None}  # fmt: skip
        status, _, body = http_call(
            server.http_url, "POST", "/v2/rollout/batched/start", b'{"to": 99}'
        )
        assert status == 400 and b"needs 'mode'" in body, body  # the engine's RolloutAdmin
        assert server.metric("nv_inference_count", "batched") == 0.0  # one /metrics, engine's


class Outcomes:
    """Every answer tritonclient delivered, by request id: each exactly once."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.answers: Counter[str] = Counter()
        self.errors: list[str] = []
        self.ok_by_client: Counter[int] = Counter()
        self.failed_clients: set[int] = set()

    def record(self, client: int, request_id: str, error: InferenceServerException | None) -> None:
        with self.lock:
            self.answers[request_id] += 1
            if error is None:
                self.ok_by_client[client] += 1
            else:
                self.errors.append(str(error.status()))
                self.failed_clients.add(client)


def _keep_busy(address: str, client: int, stop: threading.Event, outcomes: Outcomes) -> None:
    caller = connect(address)
    x = np.full((1, 256), 0.01 * client, dtype=np.float32)
    number = 0
    while not stop.is_set():
        request_id = f"{client}-{number}"
        number += 1
        try:
            caller.infer("slow", [tensor("INPUT0", x, "FP32")], request_id=request_id,
                         client_timeout=60)  # fmt: skip
            outcomes.record(client, request_id, None)
        except InferenceServerException as exc:
            outcomes.record(client, request_id, exc)
    caller.close()


def start_callers(
    url: str, count: int, stop: threading.Event, outcomes: Outcomes
) -> list[threading.Thread]:
    """`count` callers keeping the slow model busy until `stop` is set."""
    threads = [
        threading.Thread(target=_keep_busy, args=(url, i, stop, outcomes)) for i in range(count)
    ]
    for thread in threads:
        thread.start()
    return threads


def test_a_killed_front_end_fails_only_its_own_calls_and_comes_back(repository) -> None:  # type: ignore[no-untyped-def]
    with naiad_server(repository, "--frontends", "2") as server:
        victim, survivor = front_end_pids(server)
        stop = threading.Event()
        outcomes = Outcomes()
        threads = start_callers(server.url, 12, stop, outcomes)
        wait_until(lambda: sum(outcomes.ok_by_client.values()) >= 24, "traffic flows")
        killed_at = sum(outcomes.ok_by_client.values())
        os.kill(victim, signal.SIGKILL)  # the engine stays; only this front end dies
        wait_until(lambda: len(outcomes.errors) > 0, "calls in flight on the victim fail")
        wait_until(
            lambda: len(front_end_pids(server)) == 2 and victim not in front_end_pids(server),
            "the front end is restarted",
        )
        checker = grpcclient.InferenceServerClient(server.url)
        wait_until(checker.is_server_ready, "ready again with both front ends")
        wait_until(
            lambda: sum(outcomes.ok_by_client.values()) >= killed_at + 48, "traffic flows again"
        )
        stop.set()
        for thread in threads:
            thread.join(60)
        assert survivor in front_end_pids(server)
        wait_until(
            lambda: server.metric("nv_inference_pending_request_count", "slow") == 0,
            "nothing left pending in the engine",
        )
    assert all(count == 1 for count in outcomes.answers.values())  # nothing answered twice
    assert len(outcomes.failed_clients) < 12, "the survivor's callers saw no error"
    assert set(outcomes.errors) == {"StatusCode.UNAVAILABLE"}


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_the_engine_stopping_ends_the_front_ends_and_no_call_hangs(repository, sig) -> None:  # type: ignore[no-untyped-def]
    with naiad_server(repository, "--frontends", "2") as server:
        pids = front_end_pids(server)
        stop = threading.Event()
        outcomes = Outcomes()
        threads = start_callers(server.url, 8, stop, outcomes)
        wait_until(lambda: sum(outcomes.ok_by_client.values()) >= 16, "traffic flows")
        stop.set()
        server.process.send_signal(sig)
        code = server.process.wait(timeout=60)
        for thread in threads:
            thread.join(90)  # each call ends: answered, or failed once the ports close
            assert not thread.is_alive()
        wait_until(lambda: not any(alive(pid) for pid in pids), "the front ends exit")
    assert code == (0 if sig == signal.SIGTERM else -signal.SIGKILL)
    assert all(count == 1 for count in outcomes.answers.values())
