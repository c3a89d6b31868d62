"""Health, metadata, config and statistics RPCs as tritonclient and grpc.health.v1 see them."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from grpc_health.v1 import health_pb2, health_pb2_grpc
from helpers import status_of, tensor
from modelgen import identity, mlp, write_repository
from server_process import naiad_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("repo")
    write_repository(
        root,
        {
            "auto": {1: lambda p: mlp(p, 8, 16, 4), 2: lambda p: mlp(p, 8, 16, 4, seed=1)},
            "fixed": {1: lambda p: identity(p, "INT64", [3], batching=False)},
        },
        configs={
            "auto": "version_policy: { all: {} }\n"
            + "dynamic_batching { max_queue_delay_microseconds: 500 }\n",
        },
    )
    with naiad_server(root) as process:
        yield process


@pytest.fixture(scope="module")
def client(server):  # type: ignore[no-untyped-def]
    with grpcclient.InferenceServerClient(server.url) as client:
        yield client


def test_live_ready_and_health(server, client) -> None:
    assert client.is_server_live()
    assert client.is_server_ready()
    assert client.is_model_ready("auto")
    assert client.is_model_ready("auto", "2")
    assert not client.is_model_ready("auto", "3")
    assert not client.is_model_ready("missing")
    with grpc.insecure_channel(server.url) as channel:
        reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_server_metadata_lists_only_real_extensions(client) -> None:
    metadata = client.get_server_metadata()
    assert metadata.name == "naiad"
    assert metadata.version
    assert "statistics" in metadata.extensions
    assert "model_repository" in metadata.extensions
    assert "system_shared_memory" not in metadata.extensions


def test_model_metadata(client) -> None:
    metadata = client.get_model_metadata("auto")
    assert metadata.name == "auto"
    assert list(metadata.versions) == ["1", "2"]
    assert metadata.platform == "onnxruntime_onnx"
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.inputs] == [
        ("INPUT0", "FP32", [-1, 8])
    ]
    assert [(t.name, t.datatype, list(t.shape)) for t in metadata.outputs] == [
        ("OUTPUT0", "FP32", [-1, 4])
    ]
    fixed = client.get_model_metadata("fixed")
    assert list(fixed.inputs[0].shape) == [3]


def test_model_config_is_completed(client) -> None:
    config = client.get_model_config("auto", as_json=True)["config"]
    assert config["name"] == "auto"
    assert config["platform"] == "onnxruntime_onnx"
    assert int(config["max_batch_size"]) > 0
    assert "dynamic_batching" in config
    assert config["input"][0]["name"] == "INPUT0"
    assert config["input"][0]["data_type"] == "TYPE_FP32"
    assert config["instance_group"][0]["kind"] in ("KIND_CPU", "KIND_GPU")
    fixed = client.get_model_config("fixed", as_json=True)["config"]
    assert int(fixed.get("max_batch_size", 0)) == 0
    code, message = status_of(lambda: client.get_model_config("missing"))
    assert code == "NOT_FOUND"


def test_statistics_count_what_was_served(client) -> None:
    x = np.zeros((2, 8), dtype=np.float32)
    before = client.get_inference_statistics("auto", "1", as_json=True)["model_stats"][0]
    for _ in range(3):
        client.infer("auto", [tensor("INPUT0", x, "FP32")], model_version="1")
    after = client.get_inference_statistics("auto", "1", as_json=True)["model_stats"][0]

    def count(stats: dict, key: str) -> int:  # type: ignore[type-arg]
        return int(stats["inference_stats"].get(key, {}).get("count", 0))

    for key in ("success", "queue", "compute_input", "compute_infer", "compute_output"):
        assert count(after, key) - count(before, key) == 3, key
    assert int(after["inference_count"]) - int(before.get("inference_count", 0)) == 6
    assert int(after["last_inference"]) > 0
    sizes = {int(b["batch_size"]) for b in after["batch_stats"]}
    assert 2 in sizes
    everything = client.get_inference_statistics(as_json=True)["model_stats"]
    assert {(s["name"], s["version"]) for s in everything} == {
        ("auto", "1"),
        ("auto", "2"),
        ("fixed", "1"),
    }
