"""Round-trip and refusal properties of the tensor codecs, for arbitrary values and shapes
(hypothesis): the BYTES framing in naiad_protocol._wire and the server's tensor_codec, for every
datatype in the wire table. The examples that pin exact texts live beside this file and in
tests/transport/test_tensor_codec.py."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from naiad.errors import InvalidArgument
from naiad.transport.tensor_codec import from_contents, from_raw, to_raw
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol._wire import BY_WIRE, DATATYPES, decode_bytes, encode_bytes

# Few examples each, no example database written into the checkout: the file runs in seconds.
CODEC = settings(deadline=None, max_examples=40, database=None)

FIXED = [t for t in DATATYPES if t.wire != "BYTES"]
TYPED = [t for t in FIXED if t.contents is not None]
SHAPES = hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=4)
ELEMENTS = st.binary(max_size=40)


def objects(items: list[bytes], shape: tuple[int, ...]) -> np.ndarray:
    array = np.empty(len(items), dtype=np.object_)
    array[:] = items
    return array.reshape(shape)


@st.composite
def bytes_tensors(draw: st.DrawFn) -> np.ndarray:
    shape = draw(SHAPES)
    items = draw(st.lists(ELEMENTS, min_size=math.prod(shape), max_size=math.prod(shape)))
    return objects(items, shape)


def same(back: np.ndarray, array: np.ndarray) -> None:
    """Same dtype, shape and bits (NaN payloads and -0.0 included)."""
    assert back.dtype == array.dtype and back.shape == array.shape
    assert back.tobytes() == array.tobytes()


# --- BYTES framing (naiad_protocol._wire) ---


@CODEC
@given(bytes_tensors())
def test_bytes_decode_inverts_encode_for_any_shape(array):
    raw = encode_bytes(array)
    assert len(raw) == 4 * array.size + sum(len(e) for e in array.ravel())
    back = decode_bytes(raw, array.size)
    assert back.shape == (array.size,) and back.tolist() == array.ravel().tolist()
    assert all(type(e) is bytes for e in back)


@CODEC
@given(st.lists(ELEMENTS, max_size=20), st.lists(ELEMENTS, max_size=20))
def test_bytes_framing_concatenates(first, second):
    joined = encode_bytes(objects(first + second, (len(first) + len(second),)))
    assert joined == encode_bytes(objects(first, (len(first),))) + encode_bytes(
        objects(second, (len(second),))
    )


@CODEC
@given(st.lists(ELEMENTS, min_size=1, max_size=20), st.data())
def test_bytes_truncated_or_extended_or_miscounted_is_a_value_error(items, data):
    raw = encode_bytes(objects(items, (len(items),)))
    cut = data.draw(st.integers(0, len(raw) - 1))
    with pytest.raises(ValueError):
        decode_bytes(raw[:cut], len(items))
    with pytest.raises(ValueError):
        decode_bytes(raw + data.draw(st.binary(min_size=1, max_size=8)), len(items))
    other = data.draw(st.integers(0, len(items) + 3).filter(lambda n: n != len(items)))
    with pytest.raises(ValueError):
        decode_bytes(raw, other)


@CODEC
@given(st.lists(ELEMENTS, max_size=20), st.integers(-1, 48))
def test_bytes_element_cap_refuses_exactly_the_longer_elements(items, cap):
    raw = encode_bytes(objects(items, (len(items),)))
    if cap < 0 or all(len(e) <= cap for e in items):
        assert decode_bytes(raw, len(items), cap).tolist() == items
    else:
        with pytest.raises(OverflowError):
            decode_bytes(raw, len(items), cap)


@CODEC
@given(st.binary(max_size=64), st.integers(-4, 20))
def test_bytes_decode_of_any_buffer_answers_an_array_or_value_error(raw, count):
    try:
        back = decode_bytes(raw, count)
    except ValueError:
        return
    assert encode_bytes(back) == raw


# --- the server's tensor codec (naiad.transport.tensor_codec) ---


@CODEC
@pytest.mark.parametrize("dtype", FIXED, ids=lambda t: t.wire)
@given(data=st.data())
def test_raw_round_trip_of_every_fixed_size_datatype(dtype, data):
    array = data.draw(hnp.arrays(dtype.numpy, SHAPES))
    raw = to_raw(dtype, array)
    assert len(raw) == array.size * dtype.itemsize
    same(from_raw("x", dtype, array.shape, raw), array)


@CODEC
@given(bytes_tensors())
def test_raw_round_trip_of_bytes(array):
    back = from_raw("x", BY_WIRE["BYTES"], array.shape, to_raw(BY_WIRE["BYTES"], array))
    assert back.shape == array.shape and back.tolist() == array.tolist()


@CODEC
@pytest.mark.parametrize("dtype", TYPED, ids=lambda t: t.wire)
@given(data=st.data())
def test_typed_contents_give_the_array_back(dtype, data):
    array = data.draw(hnp.arrays(dtype.numpy, SHAPES))
    contents = pb.InferTensorContents()
    getattr(contents, dtype.contents).extend(array.ravel().tolist())
    back = from_contents("x", dtype, array.shape, contents)
    assert back.dtype == array.dtype and back.shape == array.shape
    np.testing.assert_array_equal(back, array)


@CODEC
@given(bytes_tensors())
def test_typed_bytes_contents_give_the_array_back(array):
    contents = pb.InferTensorContents(bytes_contents=array.ravel().tolist())
    back = from_contents("x", BY_WIRE["BYTES"], array.shape, contents)
    assert back.shape == array.shape and back.tolist() == array.tolist()


NARROW = {"INT8": (-(2**31), 2**31 - 1), "INT16": (-(2**31), 2**31 - 1)}
NARROW |= {"UINT8": (0, 2**32 - 1), "UINT16": (0, 2**32 - 1)}


@CODEC
@pytest.mark.parametrize("wire", sorted(NARROW))
@given(data=st.data())
def test_typed_values_outside_a_narrow_type_are_refused(wire, data):
    dtype = BY_WIRE[wire]
    info = np.iinfo(dtype.numpy)
    lo, hi = NARROW[wire]
    outside = st.integers(int(info.max) + 1, hi)
    if lo < info.min:
        outside |= st.integers(lo, int(info.min) - 1)
    values = data.draw(st.lists(st.integers(int(info.min), int(info.max)), max_size=5))
    values.insert(data.draw(st.integers(0, len(values))), data.draw(outside))
    contents = pb.InferTensorContents()
    getattr(contents, dtype.contents).extend(values)
    with pytest.raises(InvalidArgument, match="does not fit"):
        from_contents("x", dtype, (len(values),), contents)


@CODEC
@pytest.mark.parametrize("dtype", DATATYPES, ids=lambda t: t.wire)
@given(data=st.data())
def test_truncated_or_extended_raw_is_invalid_argument(dtype, data):
    if dtype.wire == "BYTES":
        array = data.draw(bytes_tensors().filter(lambda a: a.size > 0))
    else:
        array = data.draw(hnp.arrays(dtype.numpy, SHAPES).filter(lambda a: a.size > 0))
    raw = to_raw(dtype, array)
    cut = data.draw(st.integers(0, len(raw) - 1))
    extra = data.draw(st.binary(min_size=1, max_size=8))
    for wrong in (raw[:cut], raw + extra):
        with pytest.raises(InvalidArgument):
            from_raw("x", dtype, array.shape, wrong)


@CODEC
@pytest.mark.parametrize("dtype", DATATYPES, ids=lambda t: t.wire)
@given(shape=SHAPES, raw=st.binary(max_size=64))
def test_any_raw_buffer_decodes_or_is_invalid_argument(dtype, shape, raw):
    try:
        back = from_raw("x", dtype, shape, raw)
    except InvalidArgument:
        return
    assert back.shape == shape
    assert to_raw(dtype, back) == raw
