"""The one BYTES codec (naiad_protocol._wire, compiled): framing, round trips and refusals."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest

from naiad_protocol._wire import decode_bytes, encode_bytes


def frame(items: list[bytes]) -> bytes:
    """The framing spelled out independently of the codec: <u32 length><bytes>, no padding."""
    return b"".join(struct.pack("<I", len(item)) + item for item in items)


def objects(items: list, shape: tuple[int, ...] | None = None) -> np.ndarray:
    array = np.empty(len(items), dtype=np.object_)
    array[:] = items
    return array if shape is None else array.reshape(shape)


def test_framing_is_a_little_endian_length_then_the_bytes():
    assert encode_bytes(objects([b"ab", b"c"])) == b"\x02\x00\x00\x00ab\x01\x00\x00\x00c"


def test_a_length_above_255_uses_every_prefix_byte():
    long = bytes(range(256)) * 300  # 76800 bytes: 0x00012C00
    raw = encode_bytes(objects([long]))
    assert raw[:4] == b"\x00\x2c\x01\x00" and raw[4:] == long
    assert decode_bytes(raw, 1)[0] == long


def test_round_trip_keeps_values_order_and_empty_elements():
    items = [b"a", b"", b"xyz", b"\x00\xff", b""]
    raw = encode_bytes(objects(items))
    assert raw == frame(items)
    back = decode_bytes(raw, len(items))
    assert back.dtype == np.object_ and back.shape == (5,)
    assert list(back) == items
    assert all(type(x) is bytes for x in back)


def test_only_empty_elements_are_four_zero_bytes_each():
    assert encode_bytes(objects([b"", b"", b""])) == b"\x00" * 12
    assert list(decode_bytes(b"\x00" * 12, 3)) == [b"", b"", b""]


@pytest.mark.parametrize("shape", [(0,), (0, 3), (2, 0)])
def test_zero_elements_are_zero_bytes(shape):
    assert encode_bytes(np.empty(shape, dtype=np.object_)) == b""
    back = decode_bytes(b"", 0)
    assert back.shape == (0,) and back.dtype == np.object_


def test_multi_dimensional_arrays_go_out_row_major():
    array = objects([b"00", b"01", b"02", b"10", b"11", b"12"], (2, 3))
    assert encode_bytes(array) == frame([b"00", b"01", b"02", b"10", b"11", b"12"])
    # A transposed view is not C-contiguous; the wire still carries its logical row-major order.
    assert encode_bytes(array.T) == frame([b"00", b"10", b"01", b"11", b"02", b"12"])


def test_str_goes_out_as_utf8():
    for array in (np.array(["héllo", "日本", ""]), objects(["héllo", "日本", ""])):
        assert encode_bytes(array) == frame(["héllo".encode(), "日本".encode(), b""])
    assert list(decode_bytes(encode_bytes(np.array(["€"])), 1)) == [b"\xe2\x82\xac"]


def test_non_ascii_and_binary_bytes_survive_unchanged():
    items = [bytes(range(256)), "ß".encode(), b"\x00\x00\x00\x00"]
    assert list(decode_bytes(encode_bytes(objects(items)), 3)) == items


def test_fixed_width_bytes_arrays_and_bytes_like_elements():
    # np.bytes_ is a bytes subclass: the "S" array is its own regression case.
    assert encode_bytes(np.array([b"ab", b"c"])) == frame([b"ab", b"c"])
    items = [bytearray(b"ba"), memoryview(b"mv"), np.bytes_(b"nb"), 7, 1.5]
    assert encode_bytes(objects(items)) == frame([b"ba", b"mv", b"nb", b"7", b"1.5"])


def test_decode_takes_any_contiguous_buffer():
    raw = frame([b"q", b"rs"])
    for buffer in (raw, bytearray(raw), memoryview(raw)):
        assert list(decode_bytes(buffer, 2)) == [b"q", b"rs"]


def test_random_round_trips_match_the_reference_framing():
    rng = random.Random(7)
    for _ in range(50):
        items = [rng.randbytes(rng.choice([0, 1, 3, 300])) for _ in range(rng.randint(0, 20))]
        raw = encode_bytes(objects(items))
        assert raw == frame(items)
        assert list(decode_bytes(raw, len(items))) == items


@pytest.mark.parametrize(
    ("raw", "count", "message"),
    [
        (b"", 1, "1 elements cannot fit in 0 bytes"),
        (b"\x01\x00", 1, "1 elements cannot fit in 2 bytes"),
        # A shape promising more elements than the buffer can frame allocates nothing.
        (b"\x00" * 8, 2**40, "1099511627776 elements cannot fit in 8 bytes"),
        (b"", -1, "negative element count -1"),
        (frame([b"abc"]) + b"\x01\x00\x00", 2, "element 1 has no complete 4-byte length prefix"),
        (b"\x05\x00\x00\x00ab", 1, "element 0 declares 5 bytes but only 2 remain"),
        (frame([b"abc"]) + b"c\0\0\0x", 2, "element 1 declares 99 bytes but only 1 remain"),
        (b"\xff\xff\xff\xff", 1, "element 0 declares 4294967295 bytes but only 0 remain"),
        (frame([b"a"]) + b"xyz", 1, "3 bytes left over after 1 elements"),
        (frame([b"a", b"b"]), 1, "5 bytes left over after 1 elements"),
        (b"\x00", 0, "1 bytes left over after 0 elements"),
    ],
)
def test_malformed_bytes_are_refused_with_the_place_they_break(raw, count, message):
    with pytest.raises(ValueError) as caught:
        decode_bytes(raw, count)
    assert str(caught.value) == message
