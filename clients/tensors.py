"""NumPy arrays to and from v2 tensors: datatype names, raw bytes, BYTES framing, parameters.

The datatype table and the BYTES framing are naiad_protocol._wire's, shared with the server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol._wire import BY_WIRE, DATATYPES, decode_bytes, encode_bytes

__all__ = [
    "DTYPE_BY_DATATYPE",
    "datatype_of",
    "decode",
    "decode_bytes",
    "decode_contents",
    "encode",
    "encode_bytes",
    "from_parameters",
    "to_parameter",
]

# Wire datatype name -> NumPy dtype. BYTES elements are Python bytes in an object array.
DTYPE_BY_DATATYPE: dict[str, np.dtype] = {t.wire: t.numpy for t in DATATYPES}
_DATATYPE_BY_KIND_SIZE = {(d.kind, d.itemsize): name for name, d in DTYPE_BY_DATATYPE.items()}


def datatype_of(dtype: np.dtype) -> str:
    """The v2 datatype name for a NumPy dtype; str, bytes and object arrays are BYTES."""
    if dtype.kind in ("O", "S", "U"):
        return "BYTES"
    name = _DATATYPE_BY_KIND_SIZE.get((dtype.kind, dtype.itemsize))
    if name is None:
        raise ValueError(f"no v2 datatype for numpy dtype {dtype}")
    return name


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
        try:
            return decode_bytes(raw, count).reshape(shape)
        except ValueError as exc:
            raise ValueError(f"malformed BYTES tensor: {exc}") from None
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
    known = BY_WIRE.get(datatype)
    field = known.contents if known else None
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
