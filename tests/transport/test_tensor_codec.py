"""The server's tensor codec: raw and typed contents to arrays, arrays to raw, and the exact
INVALID_ARGUMENT texts clients see when a tensor is malformed."""

from __future__ import annotations

import numpy as np
import pytest
from tensor_samples import FIXED_SIZE as SAMPLES

from naiad.datatypes import BY_WIRE
from naiad.errors import InvalidArgument, TooLarge
from naiad.limits import TensorLimits
from naiad.transport.infer_codec import decode_request
from naiad.transport.tensor_codec import from_contents, from_raw, to_raw
from naiad_client import tensors
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol._wire import encode_bytes

TYPED = [wire for wire in SAMPLES if wire != "FP16"]


def bytes_array(items: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    array = np.empty(len(items), dtype=np.object_)
    array[:] = items
    return array.reshape(shape)


@pytest.mark.parametrize("wire", sorted(SAMPLES))
def test_raw_round_trip_of_every_fixed_size_datatype(wire):
    array, dtype = SAMPLES[wire], BY_WIRE[wire]
    raw = to_raw(dtype, array)
    assert len(raw) == array.size * dtype.itemsize
    assert raw == array.astype(array.dtype.newbyteorder("<")).tobytes()
    back = from_raw("x", dtype, array.shape, raw)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_raw_round_trip_of_bytes_with_empty_and_non_ascii_elements():
    array = bytes_array([b"a", b"", "é".encode(), b"\x00\xff"], (2, 2))
    raw = to_raw(BY_WIRE["BYTES"], array)
    assert raw == b"\1\0\0\0a" + b"\0\0\0\0" + b"\2\0\0\0\xc3\xa9" + b"\2\0\0\0\x00\xff"
    back = from_raw("x", BY_WIRE["BYTES"], (2, 2), raw)
    assert back.dtype == np.object_ and back.tolist() == array.tolist()


def test_str_outputs_go_out_as_utf8():
    # onnxruntime answers string tensors with str elements.
    raw = to_raw(BY_WIRE["BYTES"], np.array(["hé", ""], dtype=np.object_))
    assert raw == b"\3\0\0\0h\xc3\xa9\0\0\0\0"


def test_zero_element_tensors_decode_to_empty_arrays():
    assert from_raw("x", BY_WIRE["BYTES"], (0, 3), b"").shape == (0, 3)
    assert from_raw("x", BY_WIRE["FP32"], (2, 0), b"").shape == (2, 0)


def test_to_raw_casts_to_the_declared_datatype():
    raw = to_raw(BY_WIRE["FP32"], np.array([1.5, -2.0], dtype=np.float64))
    assert raw == np.array([1.5, -2.0], dtype="<f4").tobytes()


@pytest.mark.parametrize("wire", sorted(SAMPLES))
def test_server_reads_what_the_client_writes_and_back(wire):
    array = SAMPLES[wire]
    datatype, shape, raw = tensors.encode(array)
    assert datatype == wire
    np.testing.assert_array_equal(from_raw("x", BY_WIRE[datatype], tuple(shape), raw), array)
    back = tensors.decode(wire, list(array.shape), to_raw(BY_WIRE[wire], array))
    assert back.dtype == array.dtype
    np.testing.assert_array_equal(back, array)


def test_wrong_raw_size_names_both_sizes():
    with pytest.raises(InvalidArgument) as caught:
        from_raw("x", BY_WIRE["FP32"], (2,), b"\0" * 7)
    assert str(caught.value) == (
        "input 'x': unexpected total byte size 7, expecting 8 for shape [2] of FP32"
    )


def test_negative_dimension_is_refused():
    with pytest.raises(InvalidArgument) as caught:
        from_raw("x", BY_WIRE["FP32"], (2, -1), b"")
    assert str(caught.value) == "input 'x' has a negative dimension in shape [2, -1]"


@pytest.mark.parametrize(
    ("raw", "count", "reason"),
    [
        (b"\3\0\0\0abc\1\0", 2, "element 1 has no complete 4-byte length prefix"),
        (b"\3\0\0\0abc\x63\0\0\0x", 2, "element 1 declares 99 bytes but only 1 remain"),
        (b"\1\0\0\0a\1\0\0\0b", 1, "5 bytes left over after 1 elements"),
    ],
)
def test_malformed_bytes_say_where_they_break(raw, count, reason):
    with pytest.raises(InvalidArgument) as caught:
        from_raw("x", BY_WIRE["BYTES"], (1, count), raw)
    assert str(caught.value) == f"input 'x': malformed BYTES contents: {reason}"


@pytest.mark.parametrize("wire", TYPED)
def test_typed_contents_of_every_typed_datatype(wire):
    array, dtype = SAMPLES[wire], BY_WIRE[wire]
    contents = pb.InferTensorContents()
    getattr(contents, dtype.contents).extend(array.ravel().tolist())
    back = from_contents("x", dtype, array.shape, contents)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


def test_typed_bytes_contents():
    contents = pb.InferTensorContents(bytes_contents=[b"a", b"", "é".encode()])
    back = from_contents("x", BY_WIRE["BYTES"], (3, 1), contents)
    assert back.dtype == np.object_ and back.tolist() == [[b"a"], [b""], ["é".encode()]]


def test_fp16_is_refused_in_typed_contents():
    contents = pb.InferTensorContents(fp32_contents=[0.5])
    with pytest.raises(InvalidArgument) as caught:
        from_contents("x", BY_WIRE["FP16"], (1,), contents)
    assert str(caught.value) == "input 'x': FP16 data must be sent in raw contents"


def test_bf16_is_refused_before_its_contents_are_read():
    request = pb.ModelInferRequest(model_name="m")
    request.inputs.add(name="x", datatype="BF16", shape=[1]).contents.fp32_contents.append(1.0)
    with pytest.raises(InvalidArgument) as caught:
        decode_request(request)
    assert str(caught.value) == "unsupported datatype 'BF16'"


@pytest.mark.parametrize(
    ("contents", "found"),
    [
        (pb.InferTensorContents(int_contents=[1, 2]), "int_contents"),
        # Two fields in one tensor: the one that does not belong is named.
        (pb.InferTensorContents(fp32_contents=[1.0], fp64_contents=[2.0]), "fp64_contents"),
    ],
)
def test_typed_contents_in_another_field_are_refused(contents, found):
    with pytest.raises(InvalidArgument) as caught:
        from_contents("x", BY_WIRE["FP32"], (2,), contents)
    assert (
        str(caught.value) == f"input 'x' of type FP32 carries '{found}', expecting 'fp32_contents'"
    )


def test_mixing_raw_and_typed_contents_in_one_request_is_refused():
    request = pb.ModelInferRequest(model_name="m")
    first = request.inputs.add(name="a", datatype="INT32", shape=[2])
    request.inputs.add(name="b", datatype="INT32", shape=[2])
    first.contents.int_contents.extend([1, 2])
    request.raw_input_contents.extend([b"\0" * 8, b"\0" * 8])
    with pytest.raises(InvalidArgument) as caught:
        decode_request(request)
    assert str(caught.value) == (
        "contents field must not be specified when using raw_input_contents for 'a' for model 'm'"
    )


def test_typed_element_count_must_match_the_shape():
    contents = pb.InferTensorContents(int64_contents=[1, 2, 3])
    with pytest.raises(InvalidArgument) as caught:
        from_contents("x", BY_WIRE["INT64"], (2, 2), contents)
    assert str(caught.value) == "input 'x': 3 elements in contents, expecting 4 for shape [2, 2]"


@pytest.mark.parametrize(
    ("wire", "value"), [("INT8", 300), ("INT16", -40000), ("UINT8", 256), ("UINT16", 70000)]
)
def test_typed_values_that_do_not_fit_are_refused(wire, value):
    contents = pb.InferTensorContents()
    getattr(contents, BY_WIRE[wire].contents).append(value)
    with pytest.raises(InvalidArgument) as caught:
        from_contents("x", BY_WIRE[wire], (1,), contents)
    assert str(caught.value) == f"input 'x': a value does not fit {wire}"


def test_tensors_over_the_caps_are_refused_before_decoding() -> None:
    limits = TensorLimits(max_elements=6, max_element_bytes=3)
    with pytest.raises(TooLarge, match="8 elements"):
        from_raw("x", BY_WIRE["FP32"], (2, 4), b"\0" * 32, limits)
    with pytest.raises(TooLarge, match="a BYTES element is too large"):
        from_raw("x", BY_WIRE["BYTES"], (1,), encode_bytes([b"abcd"]), limits)
    contents = pb.InferTensorContents(bytes_contents=[b"ok", b"long"])
    with pytest.raises(TooLarge, match="4 bytes"):
        from_contents("x", BY_WIRE["BYTES"], (2,), contents, limits)
    assert from_raw("x", BY_WIRE["BYTES"], (1,), encode_bytes([b"abc"]), limits)[0] == b"abc"


def test_a_bytes_shape_larger_than_its_buffer_is_refused_without_allocating() -> None:
    with pytest.raises(InvalidArgument, match="cannot fit"):
        from_raw("x", BY_WIRE["BYTES"], (2**14, 2**10), b"\0" * 64)


@pytest.mark.parametrize(
    ("shape", "error", "message"),
    [
        # NumPy refuses these itself, with a ValueError a client must never see as INTERNAL.
        ((0, 2**62, 2**62), TooLarge, "a dimension of 4611686018427387904"),
        ((1,) * 65, InvalidArgument, "65 dimensions, more than 32"),
    ],
)
def test_shapes_numpy_cannot_build_are_refused_first(shape, error, message) -> None:
    with pytest.raises(error, match=message):
        from_raw("x", BY_WIRE["FP32"], shape, b"")
    contents = pb.InferTensorContents(fp32_contents=[])
    with pytest.raises(error, match=message):
        from_contents("x", BY_WIRE["FP32"], shape, contents)
