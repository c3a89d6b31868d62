"""The one table of tensor datatypes: wire names, config enum names, NumPy dtypes, ONNX types."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from naiad.errors import InvalidArgument


@dataclass(frozen=True)
class DataType:
    wire: str  # "FP32" as written in v2 requests and ModelMetadata
    config: str  # "TYPE_FP32" as written in config.pbtxt
    onnx: int  # onnx.TensorProto element type
    numpy: np.dtype  # object dtype for BYTES
    itemsize: int  # bytes per element on the wire, 0 for BYTES


def _dt(wire: str, onnx_type: int, np_dtype: object, config: str | None = None) -> DataType:
    dtype = np.dtype(np_dtype)  # type: ignore[call-overload]
    size = 0 if wire == "BYTES" else dtype.itemsize
    return DataType(wire, config or f"TYPE_{wire}", onnx_type, dtype, size)


# onnx.TensorProto values, spelled out so importing this module does not import onnx.
_TABLE = [
    _dt("BOOL", 9, np.bool_),
    _dt("UINT8", 2, np.uint8),
    _dt("UINT16", 4, np.uint16),
    _dt("UINT32", 12, np.uint32),
    _dt("UINT64", 13, np.uint64),
    _dt("INT8", 3, np.int8),
    _dt("INT16", 5, np.int16),
    _dt("INT32", 6, np.int32),
    _dt("INT64", 7, np.int64),
    _dt("FP16", 10, np.float16),
    _dt("FP32", 1, np.float32),
    _dt("FP64", 11, np.float64),
    _dt("BYTES", 8, np.object_, config="TYPE_STRING"),
]

BY_WIRE = {t.wire: t for t in _TABLE}
BY_CONFIG = {t.config: t for t in _TABLE}
BY_ONNX = {t.onnx: t for t in _TABLE}


def from_wire(name: str) -> DataType:
    try:
        return BY_WIRE[name]
    except KeyError:
        raise InvalidArgument(f"unsupported datatype '{name}'") from None


def from_config(name: str) -> DataType:
    try:
        return BY_CONFIG[name]
    except KeyError:
        raise InvalidArgument(f"unsupported config data_type '{name}'") from None
