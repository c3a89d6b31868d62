"""ModelInferRequest -> InferRequest and InferResponse -> ModelInferResponse."""

from __future__ import annotations

from collections.abc import Mapping

from naiad.datatypes import from_wire
from naiad.engine.request import InferInput, InferRequest, InferResponse, ParameterValue
from naiad.errors import InvalidArgument, Unimplemented
from naiad.limits import DEFAULT_LIMITS, TensorLimits
from naiad.transport.tensor_codec import from_contents, from_raw, has_contents, to_raw
from naiad_protocol import grpc_service_pb2 as pb

_SHARED_MEMORY_KEYS = ("shared_memory_region", "shared_memory_byte_size", "shared_memory_offset")


def decode_parameters(parameters: Mapping[str, pb.InferParameter]) -> dict[str, ParameterValue]:
    decoded: dict[str, ParameterValue] = {}
    for key, param in parameters.items():
        which = param.WhichOneof("parameter_choice")
        if which is None:
            raise InvalidArgument(f"parameter '{key}' has no value")
        decoded[key] = getattr(param, which)
    return decoded


def decode_request(
    message: pb.ModelInferRequest, limits: TensorLimits = DEFAULT_LIMITS
) -> InferRequest:
    raw = message.raw_input_contents
    if raw and len(raw) != len(message.inputs):
        raise InvalidArgument(
            f"expected {len(message.inputs)} raw input contents (one per input), got {len(raw)}"
        )
    inputs = []
    for index, tensor in enumerate(message.inputs):
        name = tensor.name
        for key in _SHARED_MEMORY_KEYS:
            if key in tensor.parameters:
                raise Unimplemented(f"input '{name}': shared memory is not supported")
        dtype = from_wire(tensor.datatype)
        shape = tuple(tensor.shape)
        if raw:
            if has_contents(tensor.contents):
                raise InvalidArgument(
                    f"contents field must not be specified when using raw_input_contents"
                    f" for '{name}' for model '{message.model_name}'"
                )
            data = from_raw(name, dtype, shape, raw[index], limits)
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


def encode_response(
    response: InferResponse, into: pb.ModelInferResponse | None = None
) -> pb.ModelInferResponse:
    """Fills `into` (a fresh message by default), so that a stream's answer is built in place."""
    message = pb.ModelInferResponse() if into is None else into
    message.model_name = response.model_name
    message.model_version = response.model_version
    message.id = response.id
    outputs = message.outputs
    raw = message.raw_output_contents
    for output in response.outputs:
        outputs.add(name=output.name, datatype=output.datatype.wire, shape=output.data.shape)
        raw.append(to_raw(output.datatype, output.data))
    return message
