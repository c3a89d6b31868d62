"""NumPy arrays to and from v2 tensors: datatype names, raw bytes, BYTES framing, parameters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from naiad_protocol import grpc_service_pb2 as pb

# Wire datatype name -> NumPy dtype. BYTES elements are Python bytes in an object array.
DTYPE_BY_DATATYPE: dict[str, np.dtype] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(np.object_),
}
_DATATYPE_BY_KIND_SIZE = {(d.kind, d.itemsize): name for name, d in DTYPE_BY_DATATYPE.items()}

# Which InferTensorContents field holds each datatype when a peer sends typed contents.
_CONTENTS_FIELD = {
    "BOOL": "bool_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def datatype_of(dtype: np.dtype) -> str:
    """The v2 datatype name for a NumPy dtype; str, bytes and object arrays are BYTES."""
    if dtype.kind in ("O", "S", "U"):
        return "BYTES"
    name = _DATATYPE_BY_KIND_SIZE.get((dtype.kind, dtype.itemsize))
    if name is None:
        raise ValueError(f"no v2 datatype for numpy dtype {dtype}")
    return name


def encode_bytes(values: np.ndarray) -> bytes:
    """BYTES raw form: per element (row-major) a 4-byte little-endian length, then the bytes."""
    parts = []
    for item in values.ravel(order="C"):
        if isinstance(item, bytes | bytearray | memoryview):
            data = bytes(item)
        elif isinstance(item, np.bytes_):
            data = item.tobytes()
        else:
            data = str(item).encode("utf-8")
        parts.append(len(data).to_bytes(4, "little"))
        parts.append(data)
    return b"".join(parts)


def decode_bytes(raw: bytes, count: int) -> np.ndarray:
    """Splits BYTES raw form into an object array of ``count`` bytes elements."""
    out = np.empty(count, dtype=np.object_)
    view = memoryview(raw)
    pos = 0
    for i in range(count):
        if pos + 4 > len(raw):
            raise ValueError(f"BYTES tensor truncated at element {i} of {count}")
        size = int.from_bytes(view[pos : pos + 4], "little")
        pos += 4
        if pos + size > len(raw):
            raise ValueError(f"BYTES element {i} claims {size} bytes past the end of the tensor")
        out[i] = bytes(view[pos : pos + size])
        pos += size
    if pos != len(raw):
        raise ValueError(f"BYTES tensor has {len(raw) - pos} bytes after its {count} elements")
    return out


def encode(array: Any) -> tuple[str, list[int], bytes]:
    """An array (or anything np.asarray takes) as (datatype, shape, raw little-endian bytes)."""
    array = np.asarray(array)
    datatype = datatype_of(array.dtype)
    shape = list(array.shape)
    if datatype == "BYTES":
        return datatype, shape, encode_bytes(array)
    wire = array.astype(array.dtype.newbyteorder("<"), copy=False)
    return datatype, shape, np.ascontiguousarray(wire).tobytes()


def decode(datatype: str, shape: list[int], raw: bytes) -> np.ndarray:
    """Raw tensor bytes back to an array of ``shape``; read-only for fixed-size types."""
    count = int(np.prod(shape, dtype=np.int64))
    if datatype == "BYTES":
        return decode_bytes(raw, count).reshape(shape)
    dtype = DTYPE_BY_DATATYPE.get(datatype)
    if dtype is None:
        raise ValueError(f"cannot decode datatype {datatype!r}")
    size = count * dtype.itemsize
    if len(raw) != size:
        raise ValueError(f"{datatype} tensor of shape {shape} needs {size} bytes, got {len(raw)}")
    array = np.frombuffer(raw, dtype=dtype.newbyteorder("<"))
    return array.astype(dtype, copy=False).reshape(shape)


def decode_contents(
    datatype: str, shape: list[int], contents: pb.InferTensorContents
) -> np.ndarray:
    """Typed ``contents`` back to an array of ``shape`` (FP16/BF16 never travel typed)."""
    field = _CONTENTS_FIELD.get(datatype)
    if field is None:
        raise ValueError(f"datatype {datatype!r} has no typed contents")
    values = list(getattr(contents, field))
    if datatype == "BYTES":
        array = np.empty(len(values), dtype=np.object_)
        array[:] = values
        return array.reshape(shape)
    return np.array(values, dtype=DTYPE_BY_DATATYPE[datatype]).reshape(shape)


def to_parameter(value: Any, message: Any) -> None:
    """Stores a Python value into an InferParameter (or ModelRepositoryParameter) message."""
    if isinstance(value, bool | np.bool_):
        message.bool_param = bool(value)
    elif isinstance(value, int | np.integer):
        if value >= 2**63 and hasattr(message, "uint64_param"):
            message.uint64_param = int(value)
        else:
            message.int64_param = int(value)
    elif isinstance(value, float | np.floating):
        message.double_param = float(value)
    elif isinstance(value, str):
        message.string_param = value
    elif isinstance(value, bytes) and hasattr(message, "bytes_param"):
        message.bytes_param = value
    else:
        raise TypeError(f"unsupported parameter value {value!r} ({type(value).__name__})")


def from_parameters(parameters: Mapping[str, Any]) -> dict[str, Any]:
    """A protobuf map of parameter messages as a plain dict of Python values."""
    result = {}
    for key, param in parameters.items():
        which = param.WhichOneof("parameter_choice")
        result[key] = getattr(param, which) if which else None
    return result
