"""Malformed requests get the right status and a clear message; the server keeps serving."""

from __future__ import annotations

import grpc
import numpy as np
import pytest
import tritonclient.grpc as grpcclient
from helpers import status_of, tensor
from modelgen import add_sub, identity, write_repository
from server_process import naiad_server
from tritonclient.grpc import service_pb2, service_pb2_grpc


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("repo")
    write_repository(
        root,
        {
            "fp32": {1: lambda p: identity(p, "FP32", [4])},
            "text": {1: lambda p: identity(p, "BYTES", [-1])},
            "add_sub": {1: lambda p: add_sub(p, "INT32", [16])},
        },
    )
    with naiad_server(root, "--max-message-bytes", "1000000") as process:
        yield process


@pytest.fixture(scope="module")
def client(server):  # type: ignore[no-untyped-def]
    with grpcclient.InferenceServerClient(server.url) as client:
        yield client


@pytest.fixture(scope="module")
def stub(server):  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(server.url) as channel:
        yield service_pb2_grpc.GRPCInferenceServiceStub(channel)


def raw_call(stub, request: service_pb2.ModelInferRequest) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    with pytest.raises(grpc.RpcError) as caught:
        stub.ModelInfer(request)
    return caught.value.code().name, caught.value.details()


def fp32_request(shape: list[int], raw: bytes) -> service_pb2.ModelInferRequest:
    request = service_pb2.ModelInferRequest(model_name="fp32")
    request.inputs.add(name="INPUT0", datatype="FP32", shape=shape)
    request.raw_input_contents.append(raw)
    return request


def ok(client) -> None:  # type: ignore[no-untyped-def]
    x = np.ones((1, 4), dtype=np.float32)
    np.testing.assert_array_equal(
        client.infer("fp32", [tensor("INPUT0", x, "FP32")]).as_numpy("OUTPUT0"), x
    )


def test_unknown_model(client) -> None:
    x = np.ones((1, 4), dtype=np.float32)
    code, message = status_of(lambda: client.infer("nope", [tensor("INPUT0", x, "FP32")]))
    assert (code, message) == ("NOT_FOUND", "Request for unknown model: 'nope' is not found")
    ok(client)


def test_wrong_datatype(client) -> None:
    x = np.ones((1, 4), dtype=np.int32)
    code, message = status_of(lambda: client.infer("fp32", [tensor("INPUT0", x, "INT32")]))
    assert code == "INVALID_ARGUMENT"
    assert "INT32" in message and "FP32" in message
    ok(client)


def test_wrong_shape(client) -> None:
    x = np.ones((1, 5), dtype=np.float32)
    code, message = status_of(lambda: client.infer("fp32", [tensor("INPUT0", x, "FP32")]))
    assert code == "INVALID_ARGUMENT"
    assert "shape" in message
    ok(client)


def test_batch_larger_than_max_batch_size(client) -> None:
    x = np.ones((5, 4), dtype=np.float32)  # auto-completed max_batch_size is 4
    code, message = status_of(lambda: client.infer("fp32", [tensor("INPUT0", x, "FP32")]))
    assert code == "INVALID_ARGUMENT"
    assert "batch" in message
    ok(client)


def test_raw_contents_of_wrong_byte_size(stub, client) -> None:
    code, message = raw_call(stub, fp32_request([1, 4], b"\0" * 15))
    assert code == "INVALID_ARGUMENT"
    assert "15" in message and "16" in message
    ok(client)


def test_element_count_does_not_match_shape(stub, client) -> None:
    code, _ = raw_call(stub, fp32_request([2, 4], b"\0" * 16))
    assert code == "INVALID_ARGUMENT"
    ok(client)


def test_raw_entries_not_one_per_input(stub, client) -> None:
    request = fp32_request([1, 4], b"\0" * 16)
    request.raw_input_contents.append(b"\0" * 16)
    code, message = raw_call(stub, request)
    assert code == "INVALID_ARGUMENT"
    assert "raw" in message
    ok(client)


def test_malformed_bytes_length_prefix(stub, client) -> None:
    request = service_pb2.ModelInferRequest(model_name="text")
    request.inputs.add(name="INPUT0", datatype="BYTES", shape=[1, 2])
    request.raw_input_contents.append(
        (3).to_bytes(4, "little") + b"abc" + (99).to_bytes(4, "little") + b"x"
    )
    code, message = raw_call(stub, request)
    assert code == "INVALID_ARGUMENT"
    assert "BYTES" in message
    ok(client)


def test_mixed_raw_and_typed_contents(stub, client) -> None:
    request = service_pb2.ModelInferRequest(model_name="add_sub")
    first = request.inputs.add(name="INPUT0", datatype="INT32", shape=[1, 16])
    request.inputs.add(name="INPUT1", datatype="INT32", shape=[1, 16])
    first.contents.int_contents.extend(range(16))
    request.raw_input_contents.extend([b"\0" * 64, b"\0" * 64])
    code, message = raw_call(stub, request)
    assert code == "INVALID_ARGUMENT"
    assert "contents" in message
    ok(client)


def test_typed_contents_of_wrong_kind(stub, client) -> None:
    request = service_pb2.ModelInferRequest(model_name="fp32")
    request.inputs.add(name="INPUT0", datatype="FP32", shape=[1, 4]).contents.int_contents.extend(
        [1, 2, 3, 4]
    )
    code, _ = raw_call(stub, request)
    assert code == "INVALID_ARGUMENT"
    ok(client)


def test_missing_input(client) -> None:
    x = np.ones((1, 16), dtype=np.int32)
    code, message = status_of(lambda: client.infer("add_sub", [tensor("INPUT0", x, "INT32")]))
    assert code == "INVALID_ARGUMENT"
    assert "INPUT1" in message
    ok(client)


def test_unknown_input_and_output_names(client) -> None:
    x = np.ones((1, 4), dtype=np.float32)
    code, message = status_of(lambda: client.infer("fp32", [tensor("BOGUS", x, "FP32")]))
    assert code == "INVALID_ARGUMENT" and "BOGUS" in message
    code, message = status_of(
        lambda: client.infer(
            "fp32",
            [tensor("INPUT0", x, "FP32")],
            outputs=[grpcclient.InferRequestedOutput("NOPE")],
        )
    )
    assert code == "INVALID_ARGUMENT" and "NOPE" in message
    ok(client)


def test_unknown_datatype(stub, client) -> None:
    request = fp32_request([1, 4], b"\0" * 16)
    request.inputs[0].datatype = "FP8"
    code, message = raw_call(stub, request)
    assert code == "INVALID_ARGUMENT" and "FP8" in message
    ok(client)


def test_message_over_the_size_limit(client) -> None:
    x = np.ones((4, 4), dtype=np.float32)
    big = {"padding": "x" * 2_000_000}
    code, _ = status_of(lambda: client.infer("fp32", [tensor("INPUT0", x, "FP32")], parameters=big))
    assert code == "RESOURCE_EXHAUSTED"
    ok(client)


def test_unsupported_rpcs_are_unimplemented(client) -> None:
    code, _ = status_of(lambda: client.get_system_shared_memory_status())
    assert code == "UNIMPLEMENTED"
    ok(client)
