"""The compiled request reader against the protobuf path: the same InferRequest for every request
it takes, and for every request it leaves to protobuf (odd shapes, bad input) the very outcome
of that path, error text and type included."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np
import pytest
from google.protobuf.message import DecodeError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tensor_samples import FIXED_SIZE

from naiad.engine.request import InferRequest
from naiad.errors import NaiadError
from naiad.limits import TensorLimits
from naiad.transport.infer_codec import decode_request, output_placements
from naiad.transport.wire_request import fast_request, read
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol._wire import encode_bytes

LIMITS = TensorLimits(max_elements=1000, max_element_bytes=64)


def _key(value: Any) -> tuple[str, Any]:
    return (type(value).__name__, value)


def snapshot(request: InferRequest) -> dict[str, Any]:
    """Everything an InferRequest says, comparable with ==."""
    return {
        "model": (request.model_name, request.model_version, request.id),
        "inputs": [
            (
                i.name,
                i.datatype.wire,
                i.shape,
                i.data.dtype.str,
                i.data.shape,
                i.data.tolist() if i.data.dtype == object else i.data.tobytes(),
            )
            for i in request.inputs
        ],
        "outputs": request.requested_outputs,
        "parameters": {k: _key(v) for k, v in request.parameters.items()},
        "classification": request.classification,
    }


def protobuf_outcome(raw: bytes) -> Any:
    """What the protobuf path alone makes of `raw`: the request, or the error's type and text."""
    try:
        message = pb.ModelInferRequest.FromString(raw)
    except DecodeError as exc:
        return ("DecodeError", str(exc))
    try:
        output_placements(message)
        return snapshot(decode_request(message, LIMITS))
    except NaiadError as exc:
        return (type(exc).__name__, str(exc))


def served_outcome(raw: bytes) -> Any:
    """What the server makes of `raw` (wire_request.read, then the path it picked)."""
    try:
        wire = read(raw, LIMITS)
    except DecodeError as exc:
        return ("DecodeError", str(exc))
    if wire.request is not None:
        return snapshot(wire.request)
    assert wire.message is not None
    try:
        output_placements(wire.message)
        return snapshot(decode_request(wire.message, LIMITS))
    except NaiadError as exc:
        return (type(exc).__name__, str(exc))


def assert_fast_and_equal(raw: bytes) -> None:
    fast = fast_request(raw, LIMITS)
    assert fast is not None, "the compiled reader refused a plain request"
    assert snapshot(fast) == protobuf_outcome(raw)


def assert_same_outcome(raw: bytes) -> Any:
    expected = protobuf_outcome(raw)
    assert served_outcome(raw) == expected
    return expected


def request(*tensors: tuple[str, str, list[int], bytes], **fields: Any) -> pb.ModelInferRequest:
    message = pb.ModelInferRequest(model_name="m", model_version="2", id="req-1", **fields)
    for name, datatype, shape, raw in tensors:
        message.inputs.add(name=name, datatype=datatype, shape=shape)
        message.raw_input_contents.append(raw)
    return message


@pytest.mark.parametrize("wire", sorted(FIXED_SIZE))
def test_every_fixed_size_datatype_decodes_as_protobuf_does(wire: str) -> None:
    array = FIXED_SIZE[wire]
    raw = request(("x", wire, list(array.shape), array.tobytes())).SerializeToString()
    assert_fast_and_equal(raw)
    fast = fast_request(raw, LIMITS)
    assert fast is not None
    assert np.array_equal(fast.inputs[0].data, array)


def test_bytes_tensors_decode_as_protobuf_does() -> None:
    items = np.array([b"", b"a", "é".encode(), bytes(range(40))], dtype=object).reshape(2, 2)
    raw = request(("s", "BYTES", [2, 2], encode_bytes(items))).SerializeToString()
    assert_fast_and_equal(raw)


def test_raw_input_data_is_a_view_over_the_request_bytes() -> None:
    data = np.arange(64, dtype=np.float32)
    raw = request(("x", "FP32", [1, 64], data.tobytes())).SerializeToString()
    fast = fast_request(raw, LIMITS)
    assert fast is not None
    assert not fast.inputs[0].data.flags.owndata
    assert fast.inputs[0].data.base is not None


def test_bf16_and_unknown_datatypes_take_the_protobuf_error() -> None:
    for datatype in ("BF16", "FP8", ""):
        raw = request(("x", datatype, [2], b"\0" * 4)).SerializeToString()
        assert fast_request(raw, LIMITS) is None
        outcome = assert_same_outcome(raw)
        assert outcome[0] == "InvalidArgument" and "unsupported datatype" in outcome[1]


def test_parameters_of_every_kind() -> None:
    message = request(("x", "INT32", [1], b"\1\0\0\0"))
    message.parameters["flag"].bool_param = True
    message.parameters["off"].bool_param = False
    message.parameters["small"].int64_param = -(2**63)
    message.parameters["big"].uint64_param = 2**64 - 1
    message.parameters["ratio"].double_param = -0.1
    message.parameters["label"].string_param = "naïve ✓"
    message.parameters["empty"].string_param = ""
    message.parameters["zero"].int64_param = 0
    raw = message.SerializeToString()
    assert_fast_and_equal(raw)
    fast = fast_request(raw, LIMITS)
    assert fast is not None
    assert fast.parameters["big"] == 2**64 - 1 and fast.parameters["flag"] is True


def test_requested_outputs_keep_their_order_and_none_means_all() -> None:
    message = request(("x", "FP32", [1], b"\0" * 4))
    for name in ("b", "a", "b"):
        message.outputs.add(name=name)
    assert_fast_and_equal(message.SerializeToString())
    fast = fast_request(request(("x", "FP32", [1], b"\0" * 4)).SerializeToString(), LIMITS)
    assert fast is not None and fast.requested_outputs is None


def test_duplicate_inputs_reach_validation_as_protobuf_gives_them() -> None:
    raw = request(("x", "FP32", [1], b"\0" * 4), ("x", "FP32", [1], b"\1" * 4)).SerializeToString()
    assert_fast_and_equal(raw)


def test_several_inputs_of_mixed_types() -> None:
    raw = request(
        ("a", "FP32", [2], np.ones(2, np.float32).tobytes()),
        ("b", "BYTES", [1], encode_bytes(np.array([b"hi"], dtype=object))),
        ("c", "INT64", [0, 3], b""),
    ).SerializeToString()
    assert_fast_and_equal(raw)


def test_empty_message_and_no_inputs_take_the_protobuf_path() -> None:
    assert fast_request(b"", LIMITS) is None
    assert assert_same_outcome(b"") == protobuf_outcome(b"")
    raw = pb.ModelInferRequest(model_name="m").SerializeToString()
    assert fast_request(raw, LIMITS) is None
    assert_same_outcome(raw)


# ---- shapes the compiled reader leaves to protobuf ---------------------------------------------


def test_typed_contents_shared_memory_and_classification_take_the_protobuf_path() -> None:
    typed = pb.ModelInferRequest(model_name="m")
    typed.inputs.add(name="x", datatype="INT32", shape=[2]).contents.int_contents.extend([1, 2])
    placed = request(("x", "FP32", [1], b"\0" * 4))
    placed.inputs[0].parameters["shared_memory_region"].string_param = "r"
    classified = request(("x", "FP32", [1], b"\0" * 4))
    classified.outputs.add(name="y").parameters["classification"].int64_param = 2
    for message in (typed, placed, classified):
        raw = message.SerializeToString()
        assert fast_request(raw, LIMITS) is None
        assert_same_outcome(raw)


def test_a_parameter_without_a_value_is_the_protobuf_paths_error() -> None:
    message = request(("x", "FP32", [1], b"\0" * 4))
    message.parameters["nothing"].SetInParent()
    raw = message.SerializeToString()
    assert fast_request(raw, LIMITS) is None
    assert assert_same_outcome(raw) == ("InvalidArgument", "parameter 'nothing' has no value")


# ---- bad input: the protobuf path's outcome, word for word -------------------------------------


def test_raw_contents_size_mismatch() -> None:
    raw = request(("x", "FP32", [2, 2], b"\0" * 12)).SerializeToString()
    outcome = assert_same_outcome(raw)
    assert outcome[0] == "InvalidArgument" and "unexpected total byte size 12" in outcome[1]


def test_raw_contents_count_mismatch() -> None:
    message = request(("x", "FP32", [1], b"\0" * 4))
    message.inputs.add(name="y", datatype="FP32", shape=[1])
    outcome = assert_same_outcome(message.SerializeToString())
    assert outcome[0] == "InvalidArgument" and "expected 2 raw input contents" in outcome[1]
    message.raw_input_contents.extend([b"\0" * 4, b"\0" * 4])
    assert assert_same_outcome(message.SerializeToString())[0] == "InvalidArgument"


def test_bad_shapes_and_limits() -> None:
    for shape in ([-1], [2**40], [1] * 33, [10, 10, 10, 10]):
        raw = request(("x", "UINT8", shape, b"\0")).SerializeToString()
        outcome = assert_same_outcome(raw)
        assert outcome[0] in ("InvalidArgument", "TooLarge")


def test_malformed_bytes_tensors() -> None:
    for payload in (b"\5\0\0\0ab", b"\1\0", b"\0\0\0\0\0", b"\x41\0\0\0" + b"a" * 65):
        raw = request(("s", "BYTES", [1], payload)).SerializeToString()
        outcome = assert_same_outcome(raw)
        assert outcome[0] in ("InvalidArgument", "TooLarge")


def test_every_truncation_of_a_request() -> None:
    message = request(("x", "FP32", [1, 3], np.ones(3, np.float32).tobytes()))
    message.parameters["p"].string_param = "v"
    message.outputs.add(name="y")
    raw = message.SerializeToString()
    for end in range(len(raw)):
        assert_same_outcome(raw[:end])


def varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, wire_type: int, body: bytes) -> bytes:
    if wire_type == 2:
        body = varint(len(body)) + body
    return varint(number << 3 | wire_type) + body


UNKNOWN_FIELDS = (
    field(99, 0, varint(2**64 - 1))
    + field(100, 1, b"\1" * 8)
    + field(101, 2, b"anything")
    + field(2047, 5, b"\1" * 4)
)


def test_unknown_fields_are_skipped_at_every_level() -> None:
    tensor = field(1, 2, b"x") + UNKNOWN_FIELDS + field(2, 2, b"INT8") + field(3, 2, b"\2")
    output = field(1, 2, b"y") + UNKNOWN_FIELDS
    value = field(3, 2, b"v") + UNKNOWN_FIELDS
    entry = field(1, 2, b"k") + field(2, 2, value)
    raw = (
        UNKNOWN_FIELDS
        + field(1, 2, b"m")
        + field(4, 2, entry)
        + field(5, 2, tensor)
        + field(6, 2, output)
        + UNKNOWN_FIELDS
        + field(7, 2, b"\1\2")
    )
    assert_fast_and_equal(raw)


def test_a_map_entry_with_unknown_fields_is_left_to_protobuf() -> None:
    # protobuf keeps such an entry among the message's unknown fields, out of the map
    entry = field(1, 2, b"k") + UNKNOWN_FIELDS + field(2, 2, field(3, 2, b"v"))
    raw = field(4, 2, entry) + field(5, 2, field(2, 2, b"INT8")) + field(7, 2, b"\1")
    assert fast_request(raw, LIMITS) is None
    assert assert_same_outcome(raw)["parameters"] == {}


def test_last_value_wins_as_in_protobuf() -> None:
    value = field(1, 0, b"\1") + field(3, 2, b"text") + field(2, 0, varint(2**64 - 5))
    entry = field(1, 2, b"k") + field(2, 2, value)
    later = field(1, 2, b"k") + field(2, 2, field(4, 1, struct.pack("<d", 2.5)))
    tensor = field(1, 2, b"a") + field(1, 2, b"x") + field(2, 2, b"INT8")
    tensor += field(3, 0, b"\1") + field(3, 2, b"\1")  # unpacked and packed shape entries
    raw = (
        field(1, 2, b"first")
        + field(1, 2, b"m")
        + field(4, 2, entry)
        + field(4, 2, entry)
        + field(5, 2, tensor)
        + field(7, 2, b"\7")
    )
    assert_fast_and_equal(raw)
    assert_fast_and_equal(field(4, 2, later) + field(5, 2, tensor) + field(7, 2, b"\7"))


def test_wrong_wire_types_lying_lengths_and_odd_encodings() -> None:
    tensor = field(1, 2, b"x") + field(2, 2, b"INT8") + field(3, 2, b"\1")
    good = field(5, 2, tensor) + field(7, 2, b"\7")
    cases = [
        field(1, 0, b"\1") + good,  # model_name as a varint
        field(5, 0, b"\1") + good,  # inputs as a varint
        field(7, 5, b"\0" * 4) + good,  # raw contents as fixed32
        field(5, 2, field(2, 0, b"\1") + tensor) + field(7, 2, b"\7"),
        field(4, 2, field(2, 0, b"\1")) + good,  # a map value as a varint
        good + b"\x0a\x7f" + b"m",  # a length past the end
        good + b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # a length of 2**64-1
        good + b"\x80" * 11,  # an endless varint tag
        good + b"\x00",  # field number 0
        good + field(9, 3, b"") + field(9, 4, b""),  # a group
        good + field(9, 6, b""),  # wire type 6 does not exist
        field(1, 2, b"\xff\xfe") + good,  # invalid UTF-8 in a string
        field(4, 2, field(1, 2, b"\xc3(") + field(2, 2, field(1, 0, b"\1"))) + good,
        field(5, 2, tensor + field(5, 2, b"")) + field(7, 2, b"\7"),  # empty contents message
    ]
    for raw in cases:
        assert fast_request(raw, LIMITS) is None, raw
        assert_same_outcome(raw)


# A loaded machine must not fail these on generation time: too_slow is not a finding.
@settings(
    deadline=None, max_examples=300, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.binary(max_size=80))
def test_arbitrary_bytes_have_the_protobuf_outcome(raw: bytes) -> None:
    assert_same_outcome(raw)


@settings(
    deadline=None, max_examples=200, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(st.integers(0, 60), st.integers(0, 255), st.integers(1, 3))
def test_corrupted_requests_have_the_protobuf_outcome(position: int, byte: int, width: int) -> None:
    message = request(("x", "INT16", [1, 2], b"\1\0\2\0"), ("s", "BYTES", [1], b"\1\0\0\0z"))
    message.parameters["p"].int64_param = -3
    message.outputs.add(name="y")
    raw = bytearray(message.SerializeToString())
    position %= len(raw)
    raw[position : position + width] = bytes([byte]) * width
    assert_same_outcome(bytes(raw))
