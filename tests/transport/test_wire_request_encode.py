"""The compiled response writer against protobuf: byte for byte the serialization of the message
encode_response (and encode_stream_answer) builds, for every datatype and shape."""

from __future__ import annotations

import numpy as np
import pytest
from tensor_samples import FIXED_SIZE

from naiad.datatypes import from_wire
from naiad.engine.protocol import StreamAnswer
from naiad.engine.request import InferOutput, InferResponse
from naiad.transport.infer_codec import encode_response
from naiad.transport.stream_codec import encode_stream_answer
from naiad.transport.wire_request import response_bytes
from naiad_protocol import grpc_service_pb2 as pb


def response(
    *outputs: tuple[str, str, np.ndarray], version: str = "1", id: str = "r"
) -> InferResponse:
    return InferResponse(
        "model",
        version,
        id,
        [InferOutput(name, from_wire(wire), data) for name, wire, data in outputs],
    )


def assert_as_protobuf(answer: InferResponse) -> None:
    assert response_bytes(answer) == encode_response(answer).SerializeToString()
    streamed = encode_stream_answer(StreamAnswer(pb.ModelInferRequest(), answer, None))
    assert response_bytes(answer, in_stream=True) == streamed.SerializeToString()


@pytest.mark.parametrize("wire", sorted(FIXED_SIZE))
def test_every_fixed_size_datatype(wire: str) -> None:
    assert_as_protobuf(response(("out", wire, FIXED_SIZE[wire])))


def test_bytes_outputs() -> None:
    items = np.array([b"", b"x" * 300, "ü".encode()], dtype=object).reshape(3, 1)
    assert_as_protobuf(response(("text", "BYTES", items)))


def test_several_outputs_and_empty_identity() -> None:
    assert_as_protobuf(
        response(
            ("a", "FP32", np.ones((2, 3), np.float32)),
            ("b", "INT64", np.zeros((0, 4), np.int64)),
            ("c", "BOOL", np.array(True)),
            version="",
            id="",
        )
    )
    assert_as_protobuf(response())


def test_large_shapes_and_long_fields() -> None:
    data = np.zeros((1, 70000), np.uint8)  # multi-byte lengths everywhere
    assert_as_protobuf(response(("n" * 200, "UINT8", data), id="i" * 130))


def test_arrays_that_are_not_contiguous_or_not_of_the_wire_type() -> None:
    strided = np.arange(24, dtype=np.float32).reshape(4, 6)[:, ::2]
    widened = np.arange(5, dtype=np.int64)  # declared INT32: narrowed as to_raw does
    fortran = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))
    answer = response(("s", "FP32", strided), ("w", "INT32", widened), ("f", "FP64", fortran))
    assert_as_protobuf(answer)
    parsed = pb.ModelInferResponse.FromString(response_bytes(answer))
    assert (
        np.frombuffer(parsed.raw_output_contents[0], np.float32).tolist()
        == strided.ravel().tolist()
    )


def test_the_stream_answer_is_final_and_carries_no_error() -> None:
    parsed = pb.ModelStreamInferResponse.FromString(
        response_bytes(response(("o", "FP32", np.ones(2, np.float32))), in_stream=True)
    )
    assert parsed.error_message == ""
    assert parsed.infer_response.parameters["triton_final_response"].bool_param
    assert parsed.infer_response.outputs[0].shape == [2]
