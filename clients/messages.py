"""Protocol messages the clients build and read: infer requests, results, repository requests."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from google.protobuf import json_format

from naiad_client import tensors
from naiad_protocol import grpc_service_pb2 as pb

SERVICE = "/inference.GRPCInferenceService/"
INT32_MAX = 2**31 - 1
# grpcio receives at most 4 MiB by default; v2 tensors are routinely larger.
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", INT32_MAX),
    ("grpc.max_receive_message_length", INT32_MAX),
]
_ID_FIELD_TAG = b"\x1a"  # ModelInferRequest.id: field 3, length-delimited


def build_infer_request(
    model: str,
    inputs: Mapping[str, Any],
    outputs: Sequence[str] | None = None,
    version: str = "",
    request_id: str = "",
    parameters: Mapping[str, Any] | None = None,
) -> pb.ModelInferRequest:
    """A ModelInferRequest with every input in ``raw_input_contents``, in ``inputs`` order."""
    request = pb.ModelInferRequest(model_name=model, model_version=str(version), id=request_id)
    for name, value in inputs.items():
        datatype, shape, raw = tensors.encode(value)
        request.inputs.add(name=name, datatype=datatype, shape=shape)
        request.raw_input_contents.append(raw)
    for name in outputs or ():
        request.outputs.add(name=name)
    for key, value in (parameters or {}).items():
        tensors.to_parameter(value, request.parameters[key])
    return request


def serialize_request(request: pb.ModelInferRequest | bytes) -> bytes:
    """Serializer for infer calls: a prepared request may already be bytes (load generators)."""
    return request if isinstance(request, bytes) else request.SerializeToString()


def with_id(payload: bytes, request_id: str) -> bytes:
    """Serialized request bytes with ``id`` set; protobuf keeps the last value of a scalar field,
    so appending the field overrides any id already inside without re-encoding the tensors."""
    data = request_id.encode("utf-8")
    size = len(data)
    varint = bytearray()
    while True:
        byte = size & 0x7F
        size >>= 7
        if size:
            varint.append(byte | 0x80)
        else:
            varint.append(byte)
            break
    return payload + _ID_FIELD_TAG + bytes(varint) + data


class InferResult:
    """The answer to one inference request; outputs are decoded on first access."""

    __slots__ = ("_response", "_outputs")

    def __init__(self, response: pb.ModelInferResponse) -> None:
        self._response = response
        self._outputs: dict[str, np.ndarray] | None = None

    @property
    def model_name(self) -> str:
        return self._response.model_name

    @property
    def model_version(self) -> str:
        return self._response.model_version

    @property
    def id(self) -> str:
        return self._response.id

    @property
    def parameters(self) -> dict[str, Any]:
        """Response parameters as plain Python values."""
        return tensors.from_parameters(self._response.parameters)

    @property
    def outputs(self) -> dict[str, np.ndarray]:
        """Output arrays by name, in the order the server sent them."""
        if self._outputs is None:
            self._outputs = _decode_outputs(self._response)
        return self._outputs

    def as_numpy(self, name: str) -> np.ndarray | None:
        """The output called ``name``, or None when the response does not hold it."""
        return self.outputs.get(name)

    def get_response(self) -> pb.ModelInferResponse:
        """The response message as received."""
        return self._response

    def __repr__(self) -> str:
        names = [o.name for o in self._response.outputs]
        return f"InferResult(model={self.model_name!r}, id={self.id!r}, outputs={names})"


def _decode_outputs(response: pb.ModelInferResponse) -> dict[str, np.ndarray]:
    raw = response.raw_output_contents
    if raw and len(raw) != len(response.outputs):
        raise ValueError(f"{len(response.outputs)} outputs but {len(raw)} raw_output_contents")
    result = {}
    for i, out in enumerate(response.outputs):
        shape = list(out.shape)
        if raw:
            result[out.name] = tensors.decode(out.datatype, shape, raw[i])
        else:
            result[out.name] = tensors.decode_contents(out.datatype, shape, out.contents)
    return result


def build_load_request(
    name: str,
    config: str | Mapping[str, Any] | None = None,
    files: Mapping[str, bytes] | None = None,
) -> pb.RepositoryModelLoadRequest:
    """A load request; ``config`` is ModelConfig JSON (text or dict), ``files`` maps
    "<version>/<file>" to contents and becomes the ``file:<version>/<file>`` parameters."""
    request = pb.RepositoryModelLoadRequest(model_name=name)
    if config is not None:
        text = config if isinstance(config, str) else json.dumps(config)
        request.parameters["config"].string_param = text
    for path, content in (files or {}).items():
        key = path if path.startswith("file:") else f"file:{path}"
        request.parameters[key].bytes_param = bytes(content)
    return request


def to_dict(message: Any) -> dict[str, Any]:
    """A response message as a dict keyed by proto field names (as Triton's JSON shows them)."""
    return json_format.MessageToDict(message, preserving_proto_field_name=True)
