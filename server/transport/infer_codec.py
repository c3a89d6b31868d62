"""ModelInferRequest -> InferRequest and InferResponse -> ModelInferResponse."""

from __future__ import annotations

from collections.abc import Mapping

from naiad.datatypes import from_wire
from naiad.engine.request import InferInput, InferRequest, InferResponse, ParameterValue
from naiad.errors import InvalidArgument
from naiad.limits import DEFAULT_LIMITS, TensorLimits
from naiad.transport.shm_tensors import (
    NO_SHARED_MEMORY,
    Placement,
    SharedMemoryTensors,
    placed_parameters,
)
from naiad.transport.tensor_codec import from_contents, from_raw, has_contents, to_raw
from naiad_protocol import grpc_service_pb2 as pb


def decode_parameters(parameters: Mapping[str, pb.InferParameter]) -> dict[str, ParameterValue]:
    decoded: dict[str, ParameterValue] = {}
    for key, param in parameters.items():
        which = param.WhichOneof("parameter_choice")
        if which is None:
            raise InvalidArgument(f"parameter '{key}' has no value")
        decoded[key] = getattr(param, which)
    return decoded


def decode_request(
    message: pb.ModelInferRequest,
    limits: TensorLimits = DEFAULT_LIMITS,
    shm: SharedMemoryTensors = NO_SHARED_MEMORY,
) -> InferRequest:
    """The request in `message`. Inputs placed in shared memory are read from their regions;
    `raw_input_contents`, when given, holds one entry per other input, in order."""
    placements = [_placement(tensor, shm) for tensor in message.inputs]
    raw = message.raw_input_contents
    in_message = len(placements) - sum(p is not None for p in placements)
    if raw and len(raw) != in_message:
        raise InvalidArgument(
            f"expected {in_message} raw input contents (one per input not in shared memory),"
            f" got {len(raw)}"
        )
    inputs = []
    next_raw = 0
    for tensor, where in zip(message.inputs, placements, strict=True):
        name = tensor.name
        dtype = from_wire(tensor.datatype)
        shape = tuple(tensor.shape)
        if where is not None:
            if has_contents(tensor.contents):
                raise InvalidArgument(f"input '{name}' has both contents and shared memory")
            data = shm.read_input(name, dtype, shape, where, limits)
        elif raw:
            if has_contents(tensor.contents):
                raise InvalidArgument(
                    f"contents field must not be specified when using raw_input_contents"
                    f" for '{name}' for model '{message.model_name}'"
                )
            data = from_raw(name, dtype, shape, raw[next_raw], limits)
            next_raw += 1
        elif has_contents(tensor.contents) or dtype.wire == "BYTES" or 0 in shape:
            data = from_contents(name, dtype, shape, tensor.contents, limits)
        else:
            raise InvalidArgument(f"input '{name}' carries no data")
        inputs.append(InferInput(name, dtype, shape, data))
    requested = [output.name for output in message.outputs] or None
    classification: dict[str, ParameterValue] = {}
    for output in message.outputs:
        if "classification" in output.parameters:
            classification[output.name] = decode_parameters(output.parameters)["classification"]
    return InferRequest(
        model_name=message.model_name,
        model_version=message.model_version,
        id=message.id,
        inputs=inputs,
        requested_outputs=requested,
        parameters=decode_parameters(message.parameters) if message.parameters else {},
        classification=classification,
    )


def _placement(
    tensor: pb.ModelInferRequest.InferInputTensor, shm: SharedMemoryTensors
) -> Placement | None:
    if not tensor.parameters:
        return None
    return shm.placement(decode_parameters(tensor.parameters), f"input '{tensor.name}'")


def output_placements(
    message: pb.ModelInferRequest, shm: SharedMemoryTensors = NO_SHARED_MEMORY
) -> dict[str, Placement]:
    """Requested outputs to write into shared memory, by name; empty for most requests."""
    if not any(output.parameters for output in message.outputs):
        return {}
    return shm.output_placements(
        (output.name, decode_parameters(output.parameters)) for output in message.outputs
    )


def encode_response(
    response: InferResponse,
    into: pb.ModelInferResponse | None = None,
    placed: Mapping[str, Placement] | None = None,
) -> pb.ModelInferResponse:
    """Fills `into` (a fresh message by default), so that a stream's answer is built in place.

    Outputs in `placed` were written into shared memory: they carry their placement as
    parameters and an empty raw contents entry, as Triton sends them (its C++ client finds
    every output's data by position and reads past the end without one).
    """
    message = pb.ModelInferResponse() if into is None else into
    message.model_name = response.model_name
    message.model_version = response.model_version
    message.id = response.id
    outputs = message.outputs
    raw = message.raw_output_contents
    for output in response.outputs:
        tensor = outputs.add(
            name=output.name, datatype=output.datatype.wire, shape=output.data.shape
        )
        where = placed.get(output.name) if placed else None
        if where is None:
            raw.append(to_raw(output.datatype, output.data))
            continue
        raw.append(b"")
        for key, value in placed_parameters(where).items():
            if isinstance(value, str):
                tensor.parameters[key].string_param = value
            else:
                assert isinstance(value, int)
                tensor.parameters[key].int64_param = value
    return message
