"""Tensor payloads between v2 protocol messages and NumPy arrays (raw and typed contents)."""

from __future__ import annotations

import math

import numpy as np

from naiad.datatypes import DataType
from naiad.errors import InvalidArgument
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol._wire import decode_bytes, encode_bytes


def element_count(name: str, shape: tuple[int, ...]) -> int:
    for dim in shape:
        if dim < 0:
            raise InvalidArgument(f"input '{name}' has a negative dimension in shape {list(shape)}")
    return math.prod(shape)


def from_raw(name: str, dtype: DataType, shape: tuple[int, ...], raw: bytes) -> np.ndarray:
    count = element_count(name, shape)
    if dtype.wire == "BYTES":
        try:
            return decode_bytes(raw, count).reshape(shape)
        except ValueError as exc:
            raise InvalidArgument(f"input '{name}': malformed BYTES contents: {exc}") from None
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise InvalidArgument(
            f"input '{name}': unexpected total byte size {len(raw)}, expecting {expected}"
            f" for shape {list(shape)} of {dtype.wire}"
        )
    return np.frombuffer(raw, dtype=dtype.numpy).reshape(shape)


def from_contents(
    name: str, dtype: DataType, shape: tuple[int, ...], contents: pb.InferTensorContents
) -> np.ndarray:
    count = element_count(name, shape)
    field = dtype.contents
    if field is None:
        raise InvalidArgument(f"input '{name}': {dtype.wire} data must be sent in raw contents")
    for other, _ in contents.ListFields():
        if other.name != field:
            raise InvalidArgument(
                f"input '{name}' of type {dtype.wire} carries '{other.name}', expecting '{field}'"
            )
    values = getattr(contents, field)
    if len(values) != count:
        raise InvalidArgument(
            f"input '{name}': {len(values)} elements in contents, expecting {count}"
            f" for shape {list(shape)}"
        )
    if dtype.wire == "BYTES":
        array = np.empty(count, dtype=object)
        array[:] = list(values)
        return array.reshape(shape)
    # In the field's own type: INT8 and INT16 arrive in int32 int_contents, UINT8 and UINT16 in
    # uint32 uint_contents, and a plain cast would wrap what does not fit.
    wide = np.asarray(values)
    array = wide.astype(dtype.numpy, copy=False)
    if array.dtype != wide.dtype and not np.array_equal(array, wide):
        raise InvalidArgument(f"input '{name}': a value does not fit {dtype.wire}")
    return array.reshape(shape)


def has_contents(contents: pb.InferTensorContents) -> bool:
    return bool(contents.ListFields())


def to_raw(dtype: DataType, array: np.ndarray) -> bytes:
    if dtype.wire == "BYTES":
        return encode_bytes(array)
    if array.dtype != dtype.numpy:
        array = array.astype(dtype.numpy)
    return array.tobytes()
