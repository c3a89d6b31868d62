"""grpc-noop: a grpc.aio server that parses each request and answers a fixed output of the
right shape without computing anything — the transport limit naiad is measured against.

    python -m bench.servers.noop --signature '<Signature JSON>' [--port 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from bench.models import Signature
from bench.servers.common import SignatureService, main
from naiad_client import tensors
from naiad_protocol import grpc_service_pb2 as pb


class NoopService(SignatureService):
    def __init__(self, signature: Signature) -> None:
        super().__init__(signature, "bench-grpc-noop")
        self._answers: dict[int, pb.ModelInferResponse] = {}

    def _answer(self, rows: int) -> pb.ModelInferResponse:
        response = pb.ModelInferResponse(model_name=self.signature.name, model_version="1")
        for t in self.signature.outputs:
            shape = ([rows] if self.batching else []) + [max(d, 1) for d in t.dims]
            dtype = tensors.DTYPE_BY_DATATYPE[t.datatype]
            value = np.full(shape, b"", dtype) if t.datatype == "BYTES" else np.zeros(shape, dtype)
            datatype, shape, raw = tensors.encode(value)
            response.outputs.add(name=t.name, datatype=datatype, shape=shape)
            response.raw_output_contents.append(raw)
        return response

    def compute(self, request: pb.ModelInferRequest) -> pb.ModelInferResponse:
        self.check_model(request)
        rows = self.rows(request)
        answer = self._answers.get(rows)
        if answer is None:
            answer = self._answers[rows] = self._answer(rows)
        # A copy per request: the cached answer may still be queued for sending.
        response = pb.ModelInferResponse()
        response.CopyFrom(answer)
        response.id = request.id
        return response


def _make(signature: Signature, args: argparse.Namespace) -> NoopService:
    return NoopService(signature)


if __name__ == "__main__":
    main(_make)
