"""JSON text for the infer hot path: orjson where it gives the same values as the json module,
the json module wherever it would not.

Reading: orjson parses a v2 header in a fifth of json's time. It reads an integer outside
[-2**63, 2**64) as a float where json keeps it exact, so text that may hold one (a run of 19
or more digits not after a decimal point: such integers have at least 19) goes to json. It
refuses some text json accepts (NaN and Infinity literals, lone surrogates, UTF-16, a BOM,
numbers past a double's range); that text is parsed again by json. Either way what is
accepted, what it means, and each error message stay json's.

Writing: orjson writes the same values (floats in their shortest round-trip form, an exponent
without json's padding: 1e-7, not 1e-07; non-ASCII text as UTF-8, not \\u escapes), except
that it writes NaN and infinities as null and refuses integers past 64 bits. A caller that
may hold non-finite floats says so, and gets json's NaN / Infinity, as before.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_DIGITS = bytes(0x30 if 0x30 <= b <= 0x39 else 0x2E if b == 0x2E else 0x20 for b in range(256))
"""Maps each digit to "0", a decimal point to itself and every other byte to a space."""
_LONG_RUN = b"0" * 19
_LONG_INTEGER = b" " + _LONG_RUN


def loads(text: bytes) -> Any:
    """The value of `text`; raises ValueError (or UnicodeDecodeError) as json.loads does."""
    if _may_hold_long_integer(text):
        return json.loads(text)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def dumps(value: Any, finite: bool = True) -> bytes:
    """Compact UTF-8 JSON of `value`. With `finite` False (some float may be NaN or infinite)
    it is json's text, NaN and Infinity literals included."""
    if finite:
        try:
            return orjson.dumps(value)
        except TypeError:  # an integer past 64 bits, or a type only json converts
            pass
    return json.dumps(value, separators=(",", ":")).encode()


def _may_hold_long_integer(text: bytes) -> bool:
    shape = text.translate(_DIGITS)
    return _LONG_INTEGER in shape or shape.startswith(_LONG_RUN)
