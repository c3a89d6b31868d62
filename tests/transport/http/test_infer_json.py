"""The REST inference codec: JSON and binary tensors both ways, and every malformed body
refused with the error (and so the HTTP status) a client can act on."""

from __future__ import annotations

import json

import numpy as np
import pytest
from tensor_samples import FIXED_SIZE

from naiad.datatypes import from_wire
from naiad.engine.request import InferOutput, InferResponse
from naiad.errors import InvalidArgument, NaiadError, TooLarge, Unimplemented
from naiad.limits import TensorLimits
from naiad.transport.http.infer_json import OutputForm, decode_request, encode_response
from naiad.transport.tensor_codec import to_raw


def body(*inputs: dict, **extra: object) -> bytes:
    return json.dumps({"inputs": list(inputs), **extra}).encode()


def json_input(name: str, datatype: str, array: np.ndarray) -> dict:
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": array.tolist()}


@pytest.mark.parametrize("datatype", sorted(set(FIXED_SIZE) - {"FP16"}))
def test_every_json_datatype_decodes_exactly_flat_or_nested(datatype: str) -> None:
    array = FIXED_SIZE[datatype]
    dtype = from_wire(datatype).numpy
    for data in (array.tolist(), array.ravel().tolist()):
        raw = {"name": "x", "datatype": datatype, "shape": list(array.shape), "data": data}
        request, _ = decode_request(body(raw), "", "m", "")
        decoded = request.inputs[0].data
        assert decoded.dtype == dtype and decoded.shape == array.shape
        assert np.array_equal(decoded, array.astype(dtype))


@pytest.mark.parametrize("datatype", sorted(FIXED_SIZE))
def test_every_datatype_decodes_from_binary_data(datatype: str) -> None:
    array = FIXED_SIZE[datatype]
    raw = to_raw(from_wire(datatype), array)
    header = body(
        {
            "name": "x",
            "datatype": datatype,
            "shape": list(array.shape),
            "parameters": {"binary_data_size": len(raw)},
        }
    )
    request, _ = decode_request(header + raw, str(len(header)), "m", "1")
    assert request.model_version == "1"
    assert np.array_equal(request.inputs[0].data, array)


def test_bytes_travel_as_strings_in_json_and_framed_in_binary() -> None:
    words = np.array([["héllo", ""], ["a", "bc"]], dtype=object)
    request, _ = decode_request(body(json_input("s", "BYTES", words)), "", "m", "")
    assert request.inputs[0].data.tolist() == [[b"h\xc3\xa9llo", b""], [b"a", b"bc"]]
    framed = to_raw(from_wire("BYTES"), request.inputs[0].data)
    header = body(
        {
            "name": "s",
            "datatype": "BYTES",
            "shape": [2, 2],
            "parameters": {"binary_data_size": len(framed)},
        }
    )
    again, _ = decode_request(header + framed, str(len(header)), "m", "")
    assert again.inputs[0].data.tolist() == request.inputs[0].data.tolist()


def test_parameters_and_requested_outputs_carry_over() -> None:
    raw = body(
        json_input("x", "FP32", np.ones((1, 2), np.float32)),
        id="r7",
        parameters={"priority": 2, "timeout": 1000, "user": "a", "binary_data_output": True},
        outputs=[
            {"name": "b", "parameters": {"binary_data": False}},
            {"name": "a", "parameters": {"classification": 3}},
        ],
    )
    request, form = decode_request(raw, "", "m", "")
    assert request.id == "r7" and request.requested_outputs == ["b", "a"]
    assert request.classification == {"a": 3}
    assert request.parameters == {"priority": 2, "timeout": 1000, "user": "a"}
    assert form.is_binary("a") and not form.is_binary("b")


def test_answers_carry_json_or_binary_outputs() -> None:
    outputs = [
        InferOutput("f", from_wire("FP32"), np.arange(6, dtype=np.float32).reshape(2, 3)),
        InferOutput("s", from_wire("BYTES"), np.array([b"x", b"yz"], dtype=object)),
        InferOutput("h", from_wire("FP16"), np.array([1.5], np.float16)),
    ]
    response = InferResponse("m", "1", "r", outputs)
    content, length = encode_response(response, OutputForm(binary={"h": True, "s": True}))
    assert length is not None
    header = json.loads(content[:length])
    assert header["id"] == "r" and header["model_version"] == "1"
    f, s, h = header["outputs"]
    assert f == {"name": "f", "datatype": "FP32", "shape": [2, 3], "data": [0, 1, 2, 3, 4, 5]}
    sizes = [s["parameters"]["binary_data_size"], h["parameters"]["binary_data_size"]]
    assert (
        content[length:] == to_raw(outputs[1].datatype, outputs[1].data) + outputs[2].data.tobytes()
    )
    assert sizes == [4 + 1 + 4 + 2, 2]
    only_json, none = encode_response(InferResponse("m", "1", "", outputs[:2]), OutputForm())
    assert none is None and json.loads(only_json)["outputs"][1]["data"] == ["x", "yz"]
    with pytest.raises(InvalidArgument, match="FP16"):
        encode_response(response, OutputForm())
    not_utf8 = InferOutput("s", from_wire("BYTES"), np.array([b"\xff"], dtype=object))
    with pytest.raises(InvalidArgument, match="binary_data"):
        encode_response(InferResponse("m", "1", "", [not_utf8]), OutputForm())


F = {"name": "x", "datatype": "FP32", "shape": [2]}


@pytest.mark.parametrize(
    ("raw", "header_length", "error", "match"),
    [
        (b"{", "", InvalidArgument, "malformed JSON"),
        (b"[]", "", InvalidArgument, "JSON object"),
        (b'{"inputs": []}', "", InvalidArgument, "non-empty"),
        (body({**F, "data": [1, 2, 3]}), "", InvalidArgument, "3 elements"),
        (body({**F, "data": [[1], [2, 3]]}), "", InvalidArgument, "ragged|elements"),
        (body({**F, "shape": [1, 2], "data": [[1], [2]]}), "", InvalidArgument, "shape"),
        (body({**F, "data": ["a", "b"]}), "", InvalidArgument, "not FP32"),
        (body({**F, "datatype": "INT8", "data": [1, 300]}), "", InvalidArgument, "fit INT8"),
        (body({**F, "datatype": "INT32", "data": [1.5, 2]}), "", InvalidArgument, "not INT32"),
        (body({**F, "data": [1e300, 2]}), "", InvalidArgument, "out of FP32's range"),
        (body({**F, "datatype": "BOOL", "data": [1, 0]}), "", InvalidArgument, "not BOOL"),
        (body({**F, "datatype": "FP16", "data": [1, 2]}), "", InvalidArgument, "FP16"),
        (body({**F, "datatype": "BYTES", "data": [1, 2]}), "", InvalidArgument, "strings"),
        (body({**F, "datatype": "BF16", "data": [1, 2]}), "", InvalidArgument, "unsupported"),
        (body({**F, "shape": [-1], "data": []}), "", InvalidArgument, "negative"),
        (body({**F, "shape": "2", "data": [1, 2]}), "", InvalidArgument, "shape"),
        (body({**F, "shape": [2**40], "data": []}), "", TooLarge, "limit"),
        (body(F), "", InvalidArgument, "no data"),
        (body({**F, "parameters": {"binary_data_size": 8}}), "", InvalidArgument, "past the end"),
        (body({**F, "parameters": {"binary_data_size": -1}}), "", InvalidArgument, "whole"),
        (body({**F, "data": [1, 2], "parameters": {"binary_data_size": 0}}), "", InvalidArgument,
         "both"),
        (body({**F, "data": [1, 2]}) + b"xx", "", InvalidArgument, "malformed JSON"),
        (body({**F, "data": [1, 2]}) + b"xx", "9999", InvalidArgument, "exceeds"),
        (body({**F, "data": [1, 2]}), "12a", InvalidArgument, "Inference-Header"),
        (body({**F, "data": [1, 2], "parameters": {"shared_memory_region": "r"}}), "",
         Unimplemented, "shared memory"),
        (body({**F, "data": [1, 2]}, parameters={"p": [1]}), "", InvalidArgument,
         "boolean, number or string"),
        (body({**F, "datatype": "UINT64", "data": [1, 2**64]}), "", InvalidArgument, "fit UINT64"),
        (body({**F, "datatype": "UINT64", "data": [1.5, 2**64]}), "", InvalidArgument,
         "not UINT64"),
        (body({**F, "data": [1, 2]}, id=5), "", InvalidArgument, "'id'"),
        (body({**F, "data": [1, 2]}, parameters={"binary_data_output": 1}), "", InvalidArgument,
         "boolean"),
    ],
)  # fmt: skip
def test_malformed_bodies_are_refused_with_a_reason(
    raw: bytes, header_length: str, error: type[NaiadError], match: str
) -> None:
    with pytest.raises(error, match=match):
        decode_request(raw, header_length, "m", "", TensorLimits(max_elements=2**20))


def test_binary_data_nobody_claims_is_refused() -> None:
    header = body({**F, "data": [1, 2]})
    with pytest.raises(InvalidArgument, match="no input claims"):
        decode_request(header + b"\0" * 8, str(len(header)), "m", "")
