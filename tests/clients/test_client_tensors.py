from __future__ import annotations

import numpy as np
import pytest
from tensor_samples import FIXED_SIZE as FIXED

from naiad_client import messages, tensors
from naiad_protocol import grpc_service_pb2 as pb


@pytest.mark.parametrize("datatype", sorted(FIXED))
def test_fixed_size_round_trip(datatype):
    array = FIXED[datatype]
    name, shape, raw = tensors.encode(array)
    assert name == datatype
    assert shape == list(array.shape)
    assert len(raw) == array.size * array.dtype.itemsize
    back = tensors.decode(name, shape, raw)
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_bool_is_one_byte_per_element():
    assert tensors.encode(np.array([True, False]))[2] == b"\x01\x00"


def test_big_endian_and_non_contiguous_inputs_go_out_little_endian_row_major():
    big = np.arange(6, dtype=">i4").reshape(2, 3).T
    name, shape, raw = tensors.encode(big)
    assert (name, shape) == ("INT32", [3, 2])
    np.testing.assert_array_equal(tensors.decode(name, shape, raw), big)
    assert raw[:4] == (0).to_bytes(4, "little") and raw[4:8] == (3).to_bytes(4, "little")


def test_bytes_round_trip_from_bytes_str_and_object_arrays():
    for array in (
        np.array([[b"a", b""], [b"xyz", b"\x00\xff"]], dtype=np.object_),
        np.array(["héllo", "w"]),
        np.array([b"ab", b"c"]),
    ):
        name, shape, raw = tensors.encode(array)
        assert name == "BYTES"
        back = tensors.decode(name, shape, raw)
        assert back.shape == array.shape and back.dtype == np.object_
        expected = [x.encode() if isinstance(x, str) else bytes(x) for x in array.ravel()]
        assert list(back.ravel()) == expected


def test_bytes_wire_framing():
    raw = tensors.encode(np.array([b"ab", b"c"], dtype=np.object_))[2]
    assert raw == b"\x02\x00\x00\x00ab\x01\x00\x00\x00c"


@pytest.mark.parametrize(
    "raw",
    [b"\x05\x00\x00\x00ab", b"\x01\x00", b"\x01\x00\x00\x00a\x00\x00\x00\x00extra"],
)
def test_malformed_bytes_are_refused(raw):
    with pytest.raises(ValueError):
        tensors.decode("BYTES", [1], raw)


def test_wrong_raw_size_is_refused():
    with pytest.raises(ValueError, match="needs 8 bytes"):
        tensors.decode("FP32", [2], b"\x00" * 7)


def test_unsupported_dtype_is_refused():
    with pytest.raises(ValueError):
        tensors.encode(np.array([1 + 2j]))


def test_typed_contents_decode():
    contents = pb.InferTensorContents(int_contents=[1, -2, 3, 4])
    np.testing.assert_array_equal(
        tensors.decode_contents("INT16", [2, 2], contents), np.array([[1, -2], [3, 4]], np.int16)
    )
    contents = pb.InferTensorContents(bytes_contents=[b"a", b"b"])
    assert list(tensors.decode_contents("BYTES", [2], contents)) == [b"a", b"b"]


def test_request_parameters_and_inputs_order():
    request = messages.build_infer_request(
        "m",
        {"b": np.zeros(2, np.float32), "a": np.ones(1, np.int64)},
        outputs=["y"],
        version="2",
        request_id="r1",
        parameters={"priority": 1, "big": 2**63, "flag": True, "name": "x", "ratio": 0.5},
    )
    assert [t.name for t in request.inputs] == ["b", "a"]
    assert len(request.raw_input_contents) == 2 and [o.name for o in request.outputs] == ["y"]
    assert request.parameters["priority"].int64_param == 1
    assert request.parameters["big"].uint64_param == 2**63
    assert tensors.from_parameters(request.parameters) == {
        "priority": 1,
        "big": 2**63,
        "flag": True,
        "name": "x",
        "ratio": 0.5,
    }


def test_with_id_overrides_the_id_of_serialized_bytes():
    request = messages.build_infer_request("m", {"x": np.zeros(3)}, request_id="old")
    for rid in ("7", "x" * 300):
        parsed = pb.ModelInferRequest.FromString(messages.with_id(request.SerializeToString(), rid))
        assert parsed.id == rid and parsed.raw_input_contents == request.raw_input_contents


def test_infer_result_decodes_raw_and_typed_outputs():
    response = pb.ModelInferResponse(model_name="m", model_version="1", id="q")
    response.outputs.add(name="z", datatype="FP32", shape=[2])
    response.outputs.add(name="a", datatype="BYTES", shape=[1])
    response.raw_output_contents.extend([np.array([1, 2], np.float32).tobytes(), b"\1\0\0\0k"])
    result = messages.InferResult(response)
    assert list(result.outputs) == ["z", "a"]
    np.testing.assert_array_equal(result.as_numpy("z"), [1, 2])
    assert result.as_numpy("a")[0] == b"k" and result.as_numpy("nope") is None
    typed = pb.ModelInferResponse()
    typed.outputs.add(name="t", datatype="INT64", shape=[1], contents={"int64_contents": [9]})
    assert messages.InferResult(typed).as_numpy("t").tolist() == [9]


def test_wire_encoding_matches_tritonclient():
    # tritonclient.utils imports no protobuf stubs, so it can share a process with naiad's.
    tu = pytest.importorskip("tritonclient.utils")
    for datatype, array in FIXED.items():
        assert tu.np_to_triton_dtype(array.dtype) == datatype
        assert tensors.encode(array)[2] == np.ascontiguousarray(array).tobytes()
    strings = np.array([[b"ab", b""], [b"xyz", b"\x00"]], dtype=np.object_)
    theirs = tu.serialize_byte_tensor(strings)
    theirs = theirs.item() if theirs.dtype == np.object_ else theirs.tobytes()
    assert tensors.encode(strings)[2] == theirs
    assert list(tu.deserialize_bytes_tensor(tensors.encode(np.array(["hé", "w"]))[2])) == [
        "hé".encode(),
        b"w",
    ]
