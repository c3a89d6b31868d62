"""Tensor payloads between v2 protocol messages and NumPy arrays (raw and typed contents)."""

from __future__ import annotations

import math

import numpy as np

from naiad.datatypes import DataType
from naiad.errors import InvalidArgument, TooLarge
from naiad.limits import DEFAULT_LIMITS, TensorLimits
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol._wire import decode_bytes, encode_bytes

MAX_DIMS = 32
"""Dimensions of one tensor: what every NumPy version (and ONNX Runtime) can hold."""


def element_count(name: str, shape: tuple[int, ...], limits: TensorLimits = DEFAULT_LIMITS) -> int:
    if len(shape) > MAX_DIMS:
        raise InvalidArgument(f"input '{name}' has {len(shape)} dimensions, more than {MAX_DIMS}")
    for dim in shape:
        if dim < 0:
            raise InvalidArgument(f"input '{name}' has a negative dimension in shape {list(shape)}")
        if dim > limits.max_elements:
            # Checked per dimension too: with a 0 elsewhere the product is 0, yet NumPy still
            # refuses to build a shape whose size overflows.
            raise TooLarge(
                f"input '{name}' has a dimension of {dim} (shape {list(shape)}), more than the"
                f" server's limit of {limits.max_elements} elements"
            )
    count = math.prod(shape)
    if count > limits.max_elements:
        raise TooLarge(
            f"input '{name}' has {count} elements (shape {list(shape)}), more than the"
            f" server's limit of {limits.max_elements}"
        )
    return count


def from_raw(
    name: str,
    dtype: DataType,
    shape: tuple[int, ...],
    raw: bytes,
    limits: TensorLimits = DEFAULT_LIMITS,
) -> np.ndarray:
    count = element_count(name, shape, limits)
    if dtype.wire == "BYTES":
        try:
            return decode_bytes(raw, count, limits.max_element_bytes).reshape(shape)
        except OverflowError as exc:
            raise TooLarge(f"input '{name}': a BYTES element is too large: {exc}") from None
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
    name: str,
    dtype: DataType,
    shape: tuple[int, ...],
    contents: pb.InferTensorContents,
    limits: TensorLimits = DEFAULT_LIMITS,
) -> np.ndarray:
    count = element_count(name, shape, limits)
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
        longest = max(map(len, values), default=0)
        if longest > limits.max_element_bytes:
            raise TooLarge(
                f"input '{name}': a BYTES element has {longest} bytes, more than the server's"
                f" limit of {limits.max_element_bytes}"
            )
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
