# cython: boundscheck=False, wraparound=False, initializedcheck=False
"""BYTES tensors on the wire: per element a 4-byte little-endian length, then the bytes.

The one implementation of the framing, for server and clients alike; import it through
naiad_protocol._wire. Compiled because a Python loop over millions of short strings is the slow
path of a request.
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport uint32_t
from libc.string cimport memcpy

import numpy as np


def decode_bytes(const unsigned char[::1] buf, Py_ssize_t count, Py_ssize_t max_length=-1):
    """Splits `buf` into `count` elements; returns a 1-D object array of bytes.

    Raises ValueError when `count` cannot fit in `buf`, a length prefix runs past the buffer or
    bytes are left over; OverflowError when an element is longer than `max_length` (-1: no
    cap). Nothing is allocated for the elements before `count` is known to fit.
    """
    cdef Py_ssize_t size = buf.shape[0]
    cdef Py_ssize_t pos = 0
    cdef Py_ssize_t i
    cdef uint32_t length
    cdef const char* base = <const char*>&buf[0] if size > 0 else NULL
    if count < 0:
        raise ValueError(f"negative element count {count}")
    if count > size // 4:
        # Each element needs its 4-byte length prefix: a shape that promises more elements
        # than that must not make the server allocate an array for them.
        raise ValueError(f"{count} elements cannot fit in {size} bytes")
    out = np.empty(count, dtype=object)
    cdef object[:] view = out
    for i in range(count):
        if pos + 4 > size:
            raise ValueError(f"element {i} has no complete 4-byte length prefix")
        length = (<uint32_t>buf[pos]) | (<uint32_t>buf[pos + 1] << 8) \
            | (<uint32_t>buf[pos + 2] << 16) | (<uint32_t>buf[pos + 3] << 24)
        pos += 4
        if <Py_ssize_t>length > size - pos:
            raise ValueError(f"element {i} declares {length} bytes but only {size - pos} remain")
        if max_length >= 0 and <Py_ssize_t>length > max_length:
            raise OverflowError(f"element {i} has {length} bytes, more than {max_length}")
        view[i] = PyBytes_FromStringAndSize(base + pos, length)
        pos += length
    if pos != size:
        raise ValueError(f"{size - pos} bytes left over after {count} elements")
    return out


def encode_bytes(array):
    """Serializes every element of `array` (bytes, or str as UTF-8) in row-major order."""
    # `type is bytes`, not isinstance: the typed loop below takes exact bytes only, and
    # np.bytes_ (the elements of an "S" array) is a bytes subclass.
    flat = [e if type(e) is bytes else _to_bytes(e) for e in np.asarray(array).ravel()]
    cdef Py_ssize_t total = 0
    cdef bytes element
    for element in flat:
        total += 4 + len(element)
    out = PyBytes_FromStringAndSize(NULL, total)
    cdef char* dst = PyBytes_AS_STRING(out)
    cdef Py_ssize_t pos = 0
    cdef uint32_t length
    for element in flat:
        length = <uint32_t>len(element)
        dst[pos] = <char>(length & 0xFF)
        dst[pos + 1] = <char>((length >> 8) & 0xFF)
        dst[pos + 2] = <char>((length >> 16) & 0xFF)
        dst[pos + 3] = <char>((length >> 24) & 0xFF)
        pos += 4
        memcpy(dst + pos, PyBytes_AS_STRING(element), length)
        pos += length
    return out


def _to_bytes(element):
    if isinstance(element, str):
        return element.encode("utf-8")
    if isinstance(element, (bytes, bytearray, memoryview)):
        return bytes(element)
    return str(element).encode("utf-8")
