"""Model control at run time: index, load (with config override), unload, versions, failures."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from heavy import ONE_INSTANCE, heavy
from helpers import status_of, tensor, wait_until
from modelgen import mlp, write_repository


def x8() -> list[grpcclient.InferInput]:
    return [tensor("INPUT0", np.zeros((1, 8), dtype=np.float32), "FP32")]


@pytest.fixture
def repo(tmp_path):  # type: ignore[no-untyped-def]
    return write_repository(
        tmp_path / "repo",
        {
            "alpha": {
                1: lambda p: mlp(p, 8, 16, 4),
                2: lambda p: mlp(p, 8, 16, 4, seed=2),
                3: lambda p: mlp(p, 8, 16, 4, seed=3),
            },
            "beta": {1: lambda p: mlp(p, 8, 16, 4)},
            "slow": {1: lambda p: heavy(p, width=1024, depth=1000)},
        },  # fmt: skip
        configs={
            "broken": 'name: "broken"\ninput [ { name: "X" data_type: TYPE_FP32 dims: [ 1 ] } ]\n',
            "alpha": "version_policy: { specific: { versions: [ 1, 3 ] } }\n",
            "slow": ONE_INSTANCE,
        },
    )


def test_versions_policy_and_broken_model_isolated(serve, repo) -> None:
    with serve(repo) as server, grpcclient.InferenceServerClient(server.url) as client:
        assert client.get_model_metadata("alpha").versions == ["1", "3"]
        assert client.is_model_ready("alpha", "3") and not client.is_model_ready("alpha", "2")
        code, _ = status_of(lambda: client.infer("alpha", x8(), model_version="2"))
        assert code in ("NOT_FOUND", "UNAVAILABLE")
        index = {(m.name, m.version): m for m in client.get_model_repository_index().models}
        broken = [m for (name, _), m in index.items() if name == "broken"]
        assert broken and broken[0].state == "UNAVAILABLE" and broken[0].reason
        assert index[("beta", "1")].state == "READY"
        code, _ = status_of(lambda: client.infer("broken", x8()))
        assert code in ("UNAVAILABLE", "NOT_FOUND")
        assert client.infer("beta", x8()).as_numpy("OUTPUT0").shape == (1, 4)


def test_explicit_load_unload_and_config_override(serve, repo) -> None:
    with serve(repo, "--model-control-mode", "explicit", "--load-model", "beta") as server, \
            grpcclient.InferenceServerClient(server.url) as client:  # fmt: skip
        assert client.is_model_ready("beta")
        assert not client.is_model_ready("alpha")
        names = {m.name for m in client.get_model_repository_index().models}
        assert {"alpha", "beta", "slow", "broken"} <= names

        client.load_model("alpha")
        assert client.is_model_ready("alpha", "3")
        config = {"name": "alpha", "max_batch_size": 2, "version_policy": {"all": {}}}
        client.load_model("alpha", config=json.dumps(config))
        assert client.get_model_metadata("alpha").versions == ["1", "2", "3"]
        assert client.get_model_config("alpha").config.max_batch_size == 2

        client.unload_model("alpha")
        assert not client.is_model_ready("alpha")
        code, _ = status_of(lambda: client.infer("alpha", x8()))
        assert code in ("UNAVAILABLE", "NOT_FOUND")
        assert client.is_model_ready("beta")

        code, message = status_of(lambda: client.load_model("broken"))
        assert code != "OK" and message
        assert client.infer("beta", x8()).as_numpy("OUTPUT0").shape == (1, 4)


def test_load_refused_without_explicit_mode(serve, repo) -> None:
    with serve(repo) as server, grpcclient.InferenceServerClient(server.url) as client:
        code, _ = status_of(lambda: client.unload_model("beta"))
        assert code in ("UNAVAILABLE", "FAILED_PRECONDITION", "INVALID_ARGUMENT")
        assert client.is_model_ready("beta")


def test_unload_lets_in_flight_requests_finish(serve, repo) -> None:
    with serve(repo, "--model-control-mode", "explicit", "--load-model", "*") as server, \
            grpcclient.InferenceServerClient(server.url) as client:  # fmt: skip
        x = np.ones((4, 1024), dtype=np.float32)
        answers: list[tuple[object, object]] = []
        done = threading.Semaphore(0)

        def collect(result: object, error: object) -> None:
            answers.append((result, error))
            done.release()

        for _ in range(3):
            client.async_infer("slow", [tensor("INPUT0", x, "FP32")], callback=collect)
        # Wait until the server holds all three (one running, two queued), then act under them.
        wait_until(
            lambda: server.metric("nv_inference_pending_request_count", "slow") == 2,
            "the three requests waited in the server together",
        )
        client.unload_model("slow")
        for _ in range(3):
            assert done.acquire(timeout=60)
        assert [e for _, e in answers] == [None, None, None]
        assert all(r.as_numpy("OUTPUT0").shape == (4, 1024) for r, _ in answers)  # type: ignore[attr-defined]
        assert not client.is_model_ready("slow")
