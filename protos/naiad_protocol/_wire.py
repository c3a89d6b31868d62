"""Wire facts every room shares: the datatype table and the BYTES framing.

Hand-written, unlike the generated stubs beside it: naiad_protocol is the one package the
server, the clients and bench may all import, so each fact about a datatype is written here once.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from naiad_protocol._bytes_codec import decode_bytes, encode_bytes

__all__ = [
    "BY_CONFIG",
    "BY_ONNX",
    "BY_WIRE",
    "DATATYPES",
    "DataType",
    "decode_bytes",
    "encode_bytes",
]


@dataclass(frozen=True)
class DataType:
    wire: str  # "FP32" as written in v2 requests and ModelMetadata
    config: str  # "TYPE_FP32" as written in config.pbtxt (model_config.proto DataType)
    onnx: int  # onnx.TensorProto element type
    numpy: np.dtype  # object dtype for BYTES
    itemsize: int  # bytes per element on the wire, 0 for BYTES
    contents: str | None  # InferTensorContents field of typed contents; None: raw only

    def __reduce__(self) -> tuple[object, tuple[str]]:
        # Pickled by name (naiad's front-end processes send requests to the engine process):
        # code compares datatypes by identity, so a copy must come back as the table's entry.
        return _by_wire, (self.wire,)


def _by_wire(wire: str) -> DataType:
    return BY_WIRE[wire]


def _dt(wire: str, onnx_type: int, np_dtype: object, contents: str | None) -> DataType:
    dtype = np.dtype(np_dtype)  # type: ignore[call-overload]
    size = 0 if wire == "BYTES" else dtype.itemsize
    config = "TYPE_STRING" if wire == "BYTES" else f"TYPE_{wire}"
    return DataType(wire, config, onnx_type, dtype, size, contents)


# onnx.TensorProto values, spelled out so that importing this module does not import onnx.
# BF16 is absent: NumPy has no bfloat16, so naiad can neither decode nor serve it.
DATATYPES: tuple[DataType, ...] = (
    _dt("BOOL", 9, np.bool_, "bool_contents"),
    _dt("UINT8", 2, np.uint8, "uint_contents"),
    _dt("UINT16", 4, np.uint16, "uint_contents"),
    _dt("UINT32", 12, np.uint32, "uint_contents"),
    _dt("UINT64", 13, np.uint64, "uint64_contents"),
    _dt("INT8", 3, np.int8, "int_contents"),
    _dt("INT16", 5, np.int16, "int_contents"),
    _dt("INT32", 6, np.int32, "int_contents"),
    _dt("INT64", 7, np.int64, "int64_contents"),
    _dt("FP16", 10, np.float16, None),
    _dt("FP32", 1, np.float32, "fp32_contents"),
    _dt("FP64", 11, np.float64, "fp64_contents"),
    _dt("BYTES", 8, np.object_, "bytes_contents"),
)

BY_WIRE = {t.wire: t for t in DATATYPES}
BY_CONFIG = {t.config: t for t in DATATYPES}
BY_ONNX = {t.onnx: t for t in DATATYPES}
