"""Requests and answers written into a slot and read back: every datatype, views against
copies, what does not fit, errors and call contexts."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
from tensor_samples import FIXED_SIZE

from naiad.datatypes import from_wire
from naiad.engine.context import CallContext, Caller
from naiad.engine.request import InferInput, InferOutput, InferRequest, InferResponse
from naiad.errors import ErrorCode, InvalidArgument, NaiadError, NotFound, Unavailable
from naiad.frontends import wire

WORDS = np.array([[b"", b"abc"], [b"\x00\xff", b"longer word"]], dtype=object)


def _request(arrays: dict[str, tuple[str, np.ndarray]]) -> InferRequest:
    inputs = [
        InferInput(name, from_wire(wire_name), tuple(array.shape), array)
        for name, (wire_name, array) in arrays.items()
    ]
    return InferRequest("m", "2", "id-7", inputs, ["OUT"], {"priority": 1, "flag": True})


def test_every_datatype_round_trips_through_a_slot() -> None:
    arrays = {f"in_{name}": (name, array) for name, array in FIXED_SIZE.items()}
    arrays["words"] = ("BYTES", WORDS)
    slot = memoryview(bytearray(64 * 1024))
    context = CallContext("grpc", 123.5, Caller("alice"), {"traceparent": "00-ab-cd-01"})
    written = wire.write_request(slot, _request(arrays), context)
    assert written is not None
    request, back = wire.read_request(slot, written[0], copy=False)
    assert (request.model_name, request.model_version, request.id) == ("m", "2", "id-7")
    assert request.requested_outputs == ["OUT"]
    assert request.parameters == {"priority": 1, "flag": True}
    for item in request.inputs:
        wire_name, expected = arrays[item.name]
        assert item.datatype.wire == wire_name
        assert item.shape == expected.shape
        assert item.data.dtype == expected.dtype
        np.testing.assert_array_equal(item.data, expected)
    assert back.protocol == "grpc" and back.deadline_s == 123.5
    assert back.caller == Caller("alice")
    assert dict(back.trace) == {"traceparent": "00-ab-cd-01"}


def test_inputs_are_views_over_the_slot_unless_copied() -> None:
    slot = memoryview(bytearray(4096))
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    written = wire.write_request(slot, _request({"x": ("FP32", data)}), CallContext())
    assert written is not None
    view, _ = wire.read_request(slot, written[0], copy=False)
    copy, _ = wire.read_request(slot, written[0], copy=True)
    slot[written[0] :] = bytes(len(slot) - written[0])  # the slot reused for another request
    assert not view.inputs[0].data.any()
    np.testing.assert_array_equal(copy.inputs[0].data, data)


def test_a_request_too_large_for_its_slot_is_not_written() -> None:
    slot = memoryview(bytearray(1024))
    big = np.zeros(1024, dtype=np.float32)
    assert wire.write_request(slot, _request({"x": ("FP32", big)}), CallContext()) is None
    assert bytes(slot) == bytes(1024)


def test_answers_are_copied_out_of_their_slot() -> None:
    slot = memoryview(bytearray(4096))
    outputs = [
        InferOutput("probs", from_wire("FP32"), np.array([[0.25, 0.75]], dtype=np.float32)),
        InferOutput("labels", from_wire("BYTES"), WORDS),
        InferOutput("wide", from_wire("INT32"), np.array([1, 2], dtype=np.int64)),
    ]
    response = InferResponse("m", "1", "r", outputs, queue_us=5, compute_us=9)
    written = wire.write_response(slot, response)
    assert written is not None
    back = wire.read_response(slot, written[0])
    slot[:] = bytes(len(slot))
    assert (back.model_name, back.model_version, back.id) == ("m", "1", "r")
    assert (back.queue_us, back.compute_us) == (5, 9)
    np.testing.assert_array_equal(back.outputs[0].data, [[0.25, 0.75]])
    np.testing.assert_array_equal(back.outputs[1].data, WORDS)
    assert back.outputs[2].data.dtype == np.int32  # converted to its declared datatype
    response.outputs = [InferOutput("big", from_wire("FP64"), np.zeros(1000))]
    assert wire.write_response(slot, response) is None


@pytest.mark.parametrize(
    "error",
    [
        NotFound("Request for unknown model: 'x' is not found"),
        InvalidArgument("bad shape"),
        Unavailable("queue full"),
        NaiadError("cancelled", ErrorCode.CANCELLED),
        RuntimeError("boom"),
    ],
)
def test_errors_keep_their_class_code_and_message(error: Exception) -> None:
    slot = memoryview(bytearray(4096))
    header_bytes, _ = wire.write_error(slot, error)
    back = wire.read_error(slot, header_bytes)
    if isinstance(error, NaiadError):
        assert type(back) is type(error)
        assert back.code is error.code
        assert back.message == error.message
    else:
        assert back.code is ErrorCode.INTERNAL
        assert "RuntimeError: boom" in back.message


def test_requests_pickled_for_the_control_socket_keep_the_datatype_table_entries() -> None:
    request = _request({"x": ("FP32", np.zeros((1, 2), dtype=np.float32)), "w": ("BYTES", WORDS)})
    back = pickle.loads(pickle.dumps(request))
    assert [item.datatype for item in back.inputs] == [from_wire("FP32"), from_wire("BYTES")]
    assert all(item.datatype is from_wire(item.datatype.wire) for item in back.inputs)
