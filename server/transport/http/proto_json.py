"""Protocol buffer messages as the JSON Triton's HTTP API writes: field names as in the
.proto, 64-bit integers as numbers (proto3's JSON mapping would quote them, and
perf_analyzer and tritonclient read numbers), enums by name, and fields left at their
default written out, as Triton does for model configurations."""

from __future__ import annotations

import base64
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

_MESSAGE = FieldDescriptor.TYPE_MESSAGE
_ENUM = FieldDescriptor.TYPE_ENUM
_BYTES = FieldDescriptor.TYPE_BYTES


def to_json(message: Message) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for field in message.DESCRIPTOR.fields:
        value = getattr(message, field.name)
        if _is_map(field):
            value_field = field.message_type.fields_by_name["value"]
            out[field.name] = {str(k): _scalar(value_field, v) for k, v in value.items()}
        elif _repeated(field):
            out[field.name] = [_scalar(field, v) for v in value]
        elif field.type == _MESSAGE or field.containing_oneof is not None:
            if message.HasField(field.name):
                out[field.name] = _scalar(field, value)
        else:
            out[field.name] = _scalar(field, value)
    return out


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == _MESSAGE and _repeated(field) and field.message_type.GetOptions().map_entry


def _repeated(field: FieldDescriptor) -> bool:
    # protobuf 6 has `is_repeated`; older ones only `label`.
    repeated = getattr(field, "is_repeated", None)
    if repeated is not None:
        return bool(repeated)
    return bool(field.label == FieldDescriptor.LABEL_REPEATED)


def _scalar(field: FieldDescriptor, value: Any) -> Any:
    if field.type == _MESSAGE:
        return to_json(value)
    if field.type == _ENUM:
        described = field.enum_type.values_by_number.get(value)
        return described.name if described is not None else value
    if field.type == _BYTES:
        return base64.b64encode(value).decode("ascii")
    return value
