"""A stream's answer as a ModelStreamInferResponse: the response, or the error in its place."""

from __future__ import annotations

from collections.abc import Mapping

from naiad.engine.protocol import StreamAnswer
from naiad.errors import error_text
from naiad.transport.infer_codec import encode_response
from naiad.transport.shm_tensors import Placement
from naiad_protocol import grpc_service_pb2 as pb


def encode_stream_answer(
    answer: StreamAnswer[pb.ModelInferRequest], placed: Mapping[str, Placement] | None = None
) -> pb.ModelStreamInferResponse:
    """Every answer is final (`triton_final_response`); an error keeps the request's identity
    (model, version, id) so that the client can match it. `placed`: outputs already written
    into shared memory (see encode_response)."""
    message = pb.ModelStreamInferResponse()
    if answer.response is not None:
        encoded = encode_response(answer.response, into=message.infer_response, placed=placed)
    else:
        assert answer.error is not None
        request = answer.message
        message.error_message = error_text(answer.error)
        encoded = message.infer_response
        encoded.model_name = request.model_name
        encoded.model_version = request.model_version
        encoded.id = request.id
    encoded.parameters["triton_final_response"].bool_param = True
    return message
