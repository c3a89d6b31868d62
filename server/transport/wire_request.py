"""ModelInfer's request and response as raw bytes: the compiled fast path, the protobuf path
behind it.

The gRPC methods ModelInfer and ModelStreamInfer take and give bytes (raw_methods.py). A request
the compiled reader understands (raw tensor data, no shared memory, no classification) becomes an
InferRequest whose arrays are views over the request's own bytes; every other request, and every
request the fast path would refuse, goes through protobuf and decode_request, so that an error
is worded, and its status chosen, by one piece of code. A response without shared memory
outputs is written straight to bytes; the bytes equal protobuf's serialization of the message
encode_response builds.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from google.protobuf.message import DecodeError

from naiad.datatypes import from_wire
from naiad.engine.request import InferInput, InferRequest, InferResponse
from naiad.errors import NaiadError
from naiad.limits import DEFAULT_LIMITS, TensorLimits
from naiad.transport._infer_wire import read_request, write_response
from naiad.transport.tensor_codec import from_raw
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol._wire import encode_bytes

__all__ = ["DecodeError", "WireRequest", "fast_request", "read", "response_bytes"]


def fast_request(raw: bytes, limits: TensorLimits = DEFAULT_LIMITS) -> InferRequest | None:
    """The request in `raw` through the compiled reader; None when the protobuf path must
    decode it (an unusual shape, or anything it would refuse: that path words the error)."""
    parts = read_request(raw)
    if parts is None:
        return None
    model_name, model_version, request_id, parameters, tensors, outputs, spans = parts
    if not tensors or len(spans) != len(tensors):
        return None
    view = memoryview(raw)
    inputs = []
    try:
        for (name, datatype, shape), (start, end) in zip(tensors, spans, strict=True):
            dtype = from_wire(datatype)
            inputs.append(
                InferInput(
                    name, dtype, shape, from_raw(name, dtype, shape, view[start:end], limits)
                )
            )
    except NaiadError:
        return None
    return InferRequest(
        model_name=model_name,
        model_version=model_version,
        id=request_id,
        inputs=inputs,
        requested_outputs=outputs or None,
        parameters=parameters,
    )


@dataclass(slots=True)
class WireRequest:
    """One request read off the wire: `request` when the fast path decoded it, else `message`
    for the protobuf path (decode_request, output placements)."""

    request: InferRequest | None
    message: pb.ModelInferRequest | None

    def echo(self) -> pb.ModelInferRequest:
        """The message an answer refers to: the protobuf one, or for a fast-path request one
        holding just its identity (model, version, id), which is all an error answer echoes."""
        if self.message is not None:
            return self.message
        assert self.request is not None
        request = self.request
        return pb.ModelInferRequest(
            model_name=request.model_name, model_version=request.model_version, id=request.id
        )


def read(raw: bytes, limits: TensorLimits = DEFAULT_LIMITS) -> WireRequest:
    """Raises DecodeError when `raw` is not a ModelInferRequest at all."""
    request = fast_request(raw, limits)
    if request is not None:
        return WireRequest(request, None)
    return WireRequest(None, pb.ModelInferRequest.FromString(raw))


def response_bytes(response: InferResponse, *, in_stream: bool = False) -> bytes:
    """The ModelInferResponse of `response` (no output in shared memory), or with `in_stream`
    the final ModelStreamInferResponse that carries it."""
    outputs = []
    for output in response.outputs:
        dtype = output.datatype
        data = output.data
        if dtype.wire == "BYTES":
            payload: object = encode_bytes(data)
        else:
            if data.dtype != dtype.numpy:
                data = data.astype(dtype.numpy)
            payload = data if data.flags.c_contiguous else np.ascontiguousarray(data)
        outputs.append((output.name, dtype.wire, output.data.shape, payload))
    return write_response(
        response.model_name, response.model_version, response.id, outputs, in_stream
    )
