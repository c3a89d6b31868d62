"""The server's view of the shared datatype table in naiad_protocol._wire.

The rows are the table's own; this module adds lookups that raise InvalidArgument, so that an
unknown name becomes a status code rather than a KeyError.
"""

from __future__ import annotations

from naiad.errors import InvalidArgument
from naiad_protocol._wire import BY_CONFIG, BY_ONNX, BY_WIRE, DataType

__all__ = ["BY_CONFIG", "BY_ONNX", "BY_WIRE", "DataType", "from_config", "from_wire"]


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
