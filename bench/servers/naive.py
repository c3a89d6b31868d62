"""naive: the tutorial server — each request becomes one ``session.run`` in the handler, with no
batching and no queue — the baseline naiad's batching and scheduling must beat.

    python -m bench.servers.naive --signature '<Signature JSON>' --onnx model.onnx [--port 0]
"""

from __future__ import annotations

import argparse

from bench.models import Signature
from bench.ort import open_session
from bench.servers.common import SignatureService, main
from naiad_client import tensors
from naiad_protocol import grpc_service_pb2 as pb


class NaiveService(SignatureService):
    def __init__(self, signature: Signature, onnx_path: str) -> None:
        super().__init__(signature, "bench-naive")
        self.session = open_session(onnx_path)
        self.output_names = [o.name for o in self.session.get_outputs()]

    def compute(self, request: pb.ModelInferRequest) -> pb.ModelInferResponse:
        self.check_model(request)
        if len(request.raw_input_contents) != len(request.inputs):
            raise ValueError("naive serves raw_input_contents only, one entry per input")
        feed = {
            t.name: tensors.decode(t.datatype, list(t.shape), raw)
            for t, raw in zip(request.inputs, request.raw_input_contents, strict=True)
        }
        names = [o.name for o in request.outputs] or self.output_names
        try:
            # Blocks the event loop on purpose: this is what the simple servers do.
            results = self.session.run(names, feed)
        except Exception as error:  # noqa: BLE001 - ONNX Runtime's errors have no common base
            raise ValueError(str(error)) from None
        response = pb.ModelInferResponse(
            model_name=request.model_name, model_version="1", id=request.id
        )
        for name, value in zip(names, results, strict=True):
            datatype, shape, raw = tensors.encode(value)
            response.outputs.add(name=name, datatype=datatype, shape=shape)
            response.raw_output_contents.append(raw)
        return response


def _make(signature: Signature, args: argparse.Namespace) -> NaiveService:
    return NaiveService(signature, args.onnx or signature.onnx_path or "")


if __name__ == "__main__":
    main(_make)
