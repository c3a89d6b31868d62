"""What a slot holds: a request (header, then its tensors) or an answer (header, then outputs).

The header is a pickle of plain values: both ends are processes of one server, started by the
engine from its own code, so the slot's bytes are as trusted as its own memory. Tensors follow
at 64-byte aligned offsets, raw (BYTES as the v2 framing), so the engine reads NumPy views over
the slot without copying. The front end copies an answer out as it reads it: the slot is free
for the next request at once.
"""

from __future__ import annotations

import math
import pickle
from types import MappingProxyType
from typing import Any

import numpy as np

from naiad import errors
from naiad.datatypes import from_wire
from naiad.engine.context import CallContext
from naiad.engine.request import InferInput, InferOutput, InferRequest, InferResponse
from naiad.limits import DEFAULT_LIMITS
from naiad_protocol._wire import decode_bytes, encode_bytes

KIND_REQUEST = 1
KIND_CANCEL = 2
KIND_RESPONSE = 3
KIND_ERROR = 4
KIND_PARKED = 5
"""The answer did not fit its slot: the front end takes it over the control socket."""

_ALIGN = 64
_PICKLE = pickle.HIGHEST_PROTOCOL


def _aligned(size: int) -> int:
    return (size + _ALIGN - 1) // _ALIGN * _ALIGN


def _raw(wire: str, data: np.ndarray) -> memoryview:
    if wire == "BYTES":
        return memoryview(encode_bytes(data))
    return np.ascontiguousarray(data).reshape(-1).view(np.uint8).data


def _write(slot: memoryview, header: bytes, chunks: list[memoryview]) -> tuple[int, int] | None:
    """Header then chunks, aligned; (header_bytes, total_bytes), or None when they do not fit."""
    total = _aligned(len(header)) + sum(_aligned(len(chunk)) for chunk in chunks)
    if total > len(slot):
        return None
    slot[: len(header)] = header
    position = _aligned(len(header))
    for chunk in chunks:
        slot[position : position + len(chunk)] = chunk
        position += _aligned(len(chunk))
    return len(header), total


def _read_tensor(
    slot: memoryview, position: int, wire: str, shape: tuple[int, ...], nbytes: int, copy: bool
) -> np.ndarray:
    count = math.prod(shape)
    if wire == "BYTES":
        raw = bytes(slot[position : position + nbytes])
        return decode_bytes(raw, count, DEFAULT_LIMITS.max_element_bytes).reshape(shape)
    dtype = from_wire(wire).numpy
    array = np.frombuffer(slot, dtype=dtype, count=count, offset=position).reshape(shape)
    return array.copy() if copy else array


def context_state(context: CallContext) -> tuple[Any, ...]:
    """A CallContext as picklable values (its trace headers are a read-only mapping)."""
    return (context.protocol, context.deadline_s, context.caller, dict(context.trace))


def context_from_state(state: tuple[Any, ...]) -> CallContext:
    protocol, deadline_s, caller, trace = state
    if trace:
        return CallContext(protocol, deadline_s, caller, MappingProxyType(trace))
    return CallContext(protocol, deadline_s, caller)


def write_request(
    slot: memoryview, request: InferRequest, context: CallContext
) -> tuple[int, int] | None:
    """Writes `request` into `slot`; (header_bytes, total_bytes), or None when it does not fit."""
    tensors = []
    chunks = []
    for item in request.inputs:
        raw = _raw(item.datatype.wire, item.data)
        tensors.append((item.name, item.datatype.wire, item.shape, len(raw)))
        chunks.append(raw)
    header = pickle.dumps(
        (
            request.model_name,
            request.model_version,
            request.id,
            request.requested_outputs,
            request.parameters,
            request.classification,
            tensors,
            context_state(context),
        ),
        _PICKLE,
    )
    return _write(slot, header, chunks)


def read_request(
    slot: memoryview, header_bytes: int, *, copy: bool
) -> tuple[InferRequest, CallContext]:
    """The request in `slot`. `copy` False: non-BYTES inputs are views over the slot, valid
    until its answer is posted."""
    (name, version, request_id, outputs, parameters, classification, tensors, context) = (
        pickle.loads(slot[:header_bytes])
    )
    inputs = []
    position = _aligned(header_bytes)
    for input_name, wire, shape, nbytes in tensors:
        data = _read_tensor(slot, position, wire, shape, nbytes, copy)
        inputs.append(InferInput(input_name, from_wire(wire), shape, data))
        position += _aligned(nbytes)
    request = InferRequest(name, version, request_id, inputs, outputs, parameters, classification)
    return request, context_from_state(context)


def write_response(slot: memoryview, response: InferResponse) -> tuple[int, int] | None:
    outputs = []
    chunks = []
    for output in response.outputs:
        wire = output.datatype.wire
        data = output.data
        if wire != "BYTES" and data.dtype != output.datatype.numpy:
            data = data.astype(output.datatype.numpy)
        raw = _raw(wire, data)
        outputs.append((output.name, wire, tuple(data.shape), len(raw)))
        chunks.append(raw)
    header = pickle.dumps(
        (
            response.model_name,
            response.model_version,
            response.id,
            response.queue_us,
            response.compute_us,
            outputs,
        ),
        _PICKLE,
    )
    return _write(slot, header, chunks)


def read_response(slot: memoryview, header_bytes: int) -> InferResponse:
    """The answer in `slot`, copied out: the slot may be reused as soon as this returns."""
    name, version, request_id, queue_us, compute_us, outputs = pickle.loads(slot[:header_bytes])
    position = _aligned(header_bytes)
    items = []
    for output_name, wire, shape, nbytes in outputs:
        data = _read_tensor(slot, position, wire, shape, nbytes, copy=True)
        items.append(InferOutput(output_name, from_wire(wire), data))
        position += _aligned(nbytes)
    return InferResponse(name, version, request_id, items, queue_us, compute_us)


def error_state(error: BaseException) -> tuple[str, str, str]:
    """An error as (class name in naiad.errors, message, code): what crosses processes."""
    if isinstance(error, errors.NaiadError):
        return type(error).__name__, error.message, error.code.value
    return "NaiadError", f"{type(error).__name__}: {error}", errors.ErrorCode.INTERNAL.value


def error_from_state(state: tuple[str, str, str]) -> errors.NaiadError:
    name, message, code = state
    kind = getattr(errors, name, None)
    error: errors.NaiadError
    try:
        if not (isinstance(kind, type) and issubclass(kind, errors.NaiadError)):
            raise TypeError(name)
        error = kind(message)
    except TypeError:  # a constructor with other arguments: the code is what clients see
        error = errors.NaiadError(message)
    error.code = errors.ErrorCode(code)
    return error


def write_error(slot: memoryview, error: BaseException) -> tuple[int, int]:
    header = pickle.dumps(error_state(error), _PICKLE)
    written = _write(slot, header, [])
    if written is None:  # a message longer than a slot: keep its start
        state = error_state(error)
        header = pickle.dumps((state[0], state[1][:1000], state[2]), _PICKLE)
        written = _write(slot, header, [])
        assert written is not None
    return written


def read_error(slot: memoryview, header_bytes: int) -> errors.NaiadError:
    return error_from_state(pickle.loads(slot[:header_bytes]))
