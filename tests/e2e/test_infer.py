"""ModelInfer through tritonclient: every datatype, typed contents, outputs, parameters."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from helpers import sample, status_of, tensor
from modelgen import add_sub, identity, mlp, mlp_reference, write_repository
from server_process import naiad_server
from tritonclient.grpc import service_pb2, service_pb2_grpc

DATATYPES = [
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64",
    "FP16", "FP32", "FP64", "BYTES",
]  # fmt: skip


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("repo")
    models = {f"id_{d.lower()}": {1: (lambda p, d=d: identity(p, d, [-1]))} for d in DATATYPES}
    models["id_fixed"] = {1: lambda p: identity(p, "FP32", [2, 3], batching=False)}
    models["add_sub"] = {1: lambda p: add_sub(p, "INT32", [16])}
    models["mlp"] = {1: lambda p: mlp(p, 8, 16, 4)}
    write_repository(root, models)
    with naiad_server(root) as process:
        yield process


@pytest.fixture(scope="module")
def client(server):  # type: ignore[no-untyped-def]
    with grpcclient.InferenceServerClient(server.url) as client:
        yield client


@pytest.mark.parametrize("datatype", DATATYPES)
def test_every_datatype_round_trips_raw(client, datatype: str) -> None:
    data = sample(datatype, (3, 5))
    result = client.infer(
        f"id_{datatype.lower()}", [tensor("INPUT0", data, datatype)], request_id="req-7"
    )
    out = result.as_numpy("OUTPUT0")
    assert out.shape == (3, 5)
    if datatype == "BYTES":
        assert out.tolist() == data.tolist()
    else:
        assert out.dtype == data.dtype
        np.testing.assert_array_equal(out, data)
    response = result.get_response()
    assert response.id == "req-7"
    assert response.model_name == f"id_{datatype.lower()}"
    assert response.model_version == "1"
    assert response.outputs[0].datatype == datatype
    assert len(response.raw_output_contents) == 1


_TYPED_FIELD = {
    "BOOL": "bool_contents", "INT8": "int_contents", "INT16": "int_contents",
    "INT32": "int_contents", "INT64": "int64_contents", "UINT8": "uint_contents",
    "UINT16": "uint_contents", "UINT32": "uint_contents", "UINT64": "uint64_contents",
    "FP32": "fp32_contents", "FP64": "fp64_contents", "BYTES": "bytes_contents",
}  # fmt: skip


@pytest.mark.parametrize("datatype", sorted(_TYPED_FIELD))
def test_typed_contents_are_accepted(server, datatype: str) -> None:
    data = sample(datatype, (2, 3), seed=3)
    request = service_pb2.ModelInferRequest(model_name=f"id_{datatype.lower()}", id="typed")
    tensor_msg = request.inputs.add(name="INPUT0", datatype=datatype, shape=[2, 3])
    getattr(tensor_msg.contents, _TYPED_FIELD[datatype]).extend(data.ravel().tolist())
    with grpc.insecure_channel(server.url) as channel:
        response = service_pb2_grpc.GRPCInferenceServiceStub(channel).ModelInfer(request)
    assert response.id == "typed"
    raw = response.raw_output_contents[0]
    if datatype == "BYTES":
        assert raw.startswith(len(data.ravel()[0]).to_bytes(4, "little"))
    else:
        np.testing.assert_array_equal(np.frombuffer(raw, data.dtype).reshape(2, 3), data)


def test_non_batching_model_takes_full_shape(client) -> None:
    data = sample("FP32", (2, 3))
    out = client.infer("id_fixed", [tensor("INPUT0", data, "FP32")]).as_numpy("OUTPUT0")
    np.testing.assert_array_equal(out, data)


def test_multiple_inputs_and_requested_output_subset(client) -> None:
    a = np.arange(32, dtype=np.int32).reshape(2, 16)
    b = np.ones((2, 16), dtype=np.int32)
    inputs = [tensor("INPUT0", a, "INT32"), tensor("INPUT1", b, "INT32")]
    both = client.infer("add_sub", inputs)
    np.testing.assert_array_equal(both.as_numpy("OUTPUT0"), a + b)
    np.testing.assert_array_equal(both.as_numpy("OUTPUT1"), a - b)
    only = client.infer("add_sub", inputs, outputs=[grpcclient.InferRequestedOutput("OUTPUT1")])
    names = [o.name for o in only.get_response().outputs]
    assert names == ["OUTPUT1"]
    assert len(only.get_response().raw_output_contents) == 1
    np.testing.assert_array_equal(only.as_numpy("OUTPUT1"), a - b)


def test_mlp_matches_reference(client) -> None:
    x = np.random.default_rng(0).standard_normal((4, 8)).astype(np.float32)
    out = client.infer("mlp", [tensor("INPUT0", x, "FP32")]).as_numpy("OUTPUT0")
    np.testing.assert_allclose(out, mlp_reference(x, 8, 16, 4), rtol=1e-5, atol=1e-6)


def test_parameters_priority_timeout_and_custom_are_accepted(client) -> None:
    x = np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)
    before = client.get_inference_statistics("mlp", as_json=True)["model_stats"][0]
    result = client.infer(
        "mlp",
        [tensor("INPUT0", x, "FP32")],
        request_id="with-parameters",
        priority=1,
        timeout=5_000_000,
        parameters={"custom_int": 3, "custom_str": "x", "custom_bool": True},
    )
    # Accepted means answered like any other request: its own rows computed, counted a success.
    assert result.get_response().id == "with-parameters"
    np.testing.assert_allclose(
        result.as_numpy("OUTPUT0"), mlp_reference(x, 8, 16, 4), rtol=1e-5, atol=1e-6
    )
    after = client.get_inference_statistics("mlp", as_json=True)["model_stats"][0]
    successes = [
        int(s["inference_stats"].get("success", {}).get("count", 0)) for s in (before, after)
    ]
    assert successes[1] == successes[0] + 1


def test_reserved_parameter_is_invalid(client) -> None:
    x = np.zeros((1, 8), dtype=np.float32)
    code, message = status_of(
        lambda: client.infer(
            "mlp", [tensor("INPUT0", x, "FP32")], parameters={"triton_something": 1}
        )
    )
    assert code == "INVALID_ARGUMENT"
    assert "triton_something" in message


def test_explicit_version_and_unknown_version(client) -> None:
    x = np.zeros((1, 8), dtype=np.float32)
    assert client.infer("mlp", [tensor("INPUT0", x, "FP32")], model_version="1")
    code, message = status_of(
        lambda: client.infer("mlp", [tensor("INPUT0", x, "FP32")], model_version="9")
    )
    assert code == "NOT_FOUND"
    assert "9" in message
