"""The infer path's JSON text: whatever parser or writer does the work, a body means what
json.loads makes of it, fails with json's message, and an answer reads back as json wrote it."""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from naiad.datatypes import from_wire
from naiad.engine.request import InferOutput, InferResponse
from naiad.transport.http import json_text
from naiad.transport.http.infer_json import OutputForm, encode_response

EDGE_TEXTS = [
    b'{"a": 18446744073709551615, "b": -9223372036854775808}',  # the last exact 64-bit ones
    b"[18446744073709551616]",  # 2**64: orjson alone reads a float
    b"[-9223372036854775809]",  # -2**63 - 1: likewise
    b"[-9999999999999999999]",  # 19 digits, below -2**63
    b'{"x": [1, 123456789012345678901234567890]}',
    b"123456789012345678901234567890",  # a long integer at the very start
    b"[0.0012345678901234567, 1e-7, 2.5e300]",  # long fractions are exact either way
    b"[NaN, Infinity, -Infinity]",
    b"[1e400]",
    b'{"a": 1, "a": 2}',
    b'["\\ud800"]',  # a lone surrogate
    '{"é": "ü"}'.encode("utf-16"),
    b'\xef\xbb\xbf{"bom": true}',
    b'{"s": "12345678901234567890"}',  # digits in a string: the slow path, same value
]

BAD_TEXTS = [b"{", b"[1,]", b"", b"\xff\xfe\xfd", b'{"a" 1}', b"[1] x", b"[" * 100_000]


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types all the way down (1 and 1.0 differ), NaN equal to NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    return bool(a == b)


@pytest.mark.parametrize("text", EDGE_TEXTS)
def test_edge_texts_read_as_json_reads_them(text: bytes) -> None:
    assert same(json_text.loads(text), json.loads(text))


@pytest.mark.parametrize("text", BAD_TEXTS, ids=lambda t: repr(t[:12]))
def test_malformed_texts_fail_with_json_s_error(text: bytes) -> None:
    with pytest.raises((ValueError, RecursionError)) as expected:
        json.loads(text)
    with pytest.raises(expected.type) as got:
        json_text.loads(text)
    assert str(got.value) == str(expected.value)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=30,
)


@given(json_values)
def test_any_value_reads_back_as_json_reads_it(value: Any) -> None:
    for text in (json.dumps(value).encode(), json.dumps(value, separators=(",", ":")).encode()):
        assert same(json_text.loads(text), json.loads(text))


@given(json_values)
def test_any_value_written_reads_back_the_same(value: Any) -> None:
    finite = "NaN" not in json.dumps(value) and "Infinity" not in json.dumps(value)
    assert same(json.loads(json_text.dumps(value, finite)), value)


def test_non_finite_answers_keep_json_s_literals() -> None:
    data = np.array([1.5, np.nan, np.inf, -np.inf], np.float32)
    response = InferResponse("m", "1", "", [InferOutput("y", from_wire("FP32"), data)])
    content, length = encode_response(response, OutputForm())
    assert length is None
    assert b"[1.5,NaN,Infinity,-Infinity]" in content
    finite = InferResponse("m", "1", "", [InferOutput("y", from_wire("FP32"), data[:1])])
    assert b'"data":[1.5]' in encode_response(finite, OutputForm())[0]


def test_integers_past_64_bits_are_still_written() -> None:
    assert json.loads(json_text.dumps({"n": [2**70, -(2**70)]})) == {"n": [2**70, -(2**70)]}
