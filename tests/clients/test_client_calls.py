"""Client and AsyncClient against the fake service: every call, and errors with their status."""

from __future__ import annotations

import json

import grpc
import numpy as np
import pytest

from naiad_client import AsyncClient, Client, InferenceServerError
from naiad_protocol import grpc_service_pb2 as pb


@pytest.fixture
def client(fake_server):
    with Client(fake_server.url) as client:
        yield client


def test_infer_round_trip_with_bytes_and_parameters(client):
    inputs = {"x": np.arange(6, dtype=np.float32).reshape(2, 3), "s": np.array([b"a", b"bc"])}
    result = client.infer("echo", inputs, request_id="r7", parameters={"custom": 3})
    assert (result.model_name, result.model_version, result.id) == ("echo", "1", "r7")
    assert list(result.outputs) == ["OUT_x", "OUT_s"]
    np.testing.assert_array_equal(result.as_numpy("OUT_x"), inputs["x"])
    assert list(result.as_numpy("OUT_s")) == [b"a", b"bc"]
    assert result.parameters == {"custom": 3}


def test_requested_outputs_subset(client):
    result = client.infer("echo", {"a": np.zeros(1), "b": np.ones(1)}, outputs=["OUT_b"])
    assert list(result.outputs) == ["OUT_b"]


def test_prepared_request_as_message_or_bytes(client):
    request = client.prepare("echo", {"x": np.array([4, 5], np.int16)}, request_id="p")
    for prepared in (request, request.SerializeToString()):
        result = client.infer_prepared(prepared)
        assert result.id == "p" and result.as_numpy("OUT_x").tolist() == [4, 5]


@pytest.mark.parametrize(
    ("model", "status"),
    [("missing", grpc.StatusCode.NOT_FOUND), ("busy", grpc.StatusCode.UNAVAILABLE)],
)
def test_errors_carry_the_status(client, model, status):
    with pytest.raises(InferenceServerError) as caught:
        client.infer(model, {"x": np.zeros(1)})
    assert caught.value.status == status
    assert caught.value.message


def test_unreachable_server_is_unavailable():
    with Client("127.0.0.1:1") as client, pytest.raises(InferenceServerError) as caught:
        client.server_live(timeout_s=5)
    assert caught.value.status == grpc.StatusCode.UNAVAILABLE


def test_health_and_metadata(client):
    assert client.server_live() and client.server_ready()
    assert client.model_ready("echo") and not client.model_ready("other", version="2")
    assert client.server_metadata().name == "fake"
    assert client.server_metadata(as_dict=True)["extensions"] == ["statistics"]
    assert client.model_metadata("echo").inputs[0].shape == [-1, 4]
    assert client.model_config("echo").max_batch_size == 8
    assert client.model_config("echo", as_dict=True)["input"][0]["data_type"] == "TYPE_FP32"
    assert client.statistics("echo").model_stats[0].inference_count == 7
    assert client.repository_index().models[0].state == "READY"


def test_load_with_config_and_files_then_unload(client, fake_server):
    client.load_model("m", config={"max_batch_size": 4}, files={"1/model.onnx": b"\x08\x07"})
    client.load_model("n", config='{"name": "n"}')
    first, second = fake_server.service.load_requests[-2:]
    assert json.loads(first.parameters["config"].string_param) == {"max_batch_size": 4}
    assert first.parameters["file:1/model.onnx"].bytes_param == b"\x08\x07"
    assert second.parameters["config"].string_param == '{"name": "n"}'
    client.unload_model("m")
    assert fake_server.service.unloaded[-1] == "m"


async def test_async_client_calls_and_errors(fake_server):
    async with AsyncClient(fake_server.url) as client:
        assert await client.server_ready()
        result = await client.infer("echo", {"x": np.array([[1.5]], np.float64)}, request_id="a")
        assert result.id == "a" and result.as_numpy("OUT_x").tolist() == [[1.5]]
        stats = await client.statistics("echo", as_dict=True)
        assert stats["model_stats"][0]["inference_count"] == "7"  # uint64 as JSON text
        with pytest.raises(InferenceServerError) as caught:
            await client.infer("busy", {"x": np.zeros(1)})
        assert caught.value.status == grpc.StatusCode.UNAVAILABLE
        prepared = client.prepare("echo", {"x": np.zeros(2, np.uint8)}).SerializeToString()
        assert (await client.infer_prepared(prepared)).as_numpy("OUT_x").tolist() == [0, 0]


def test_prepare_is_available_without_a_client():
    request = Client.prepare("m", {"x": [1, 2, 3]})
    assert isinstance(request, pb.ModelInferRequest) and request.inputs[0].datatype == "INT64"
