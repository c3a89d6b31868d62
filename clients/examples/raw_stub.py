"""Calling a v2 server with nothing but the generated stubs (no naiad_client).

    python clients/examples/raw_stub.py 127.0.0.1:8001 MODEL

Asks for the model's signature, sends zeros (FP32 inputs, batch of 1 when the model batches)
and prints each output's name, datatype, shape and first values. This is what any language's
generated stubs do: fill ModelInferRequest, put each input's little-endian bytes in
raw_input_contents (one entry per input, in order), and read raw_output_contents back.
"""

from __future__ import annotations

import sys

import grpc
import numpy as np

from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc


def main(url: str, model: str) -> None:
    # Tensors routinely exceed grpcio's default 4 MiB receive limit.
    options = [
        ("grpc.max_send_message_length", 2**31 - 1),
        ("grpc.max_receive_message_length", 2**31 - 1),
    ]
    with grpc.insecure_channel(url, options=options) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        metadata = stub.ModelMetadata(pb.ModelMetadataRequest(name=model))
        request = pb.ModelInferRequest(model_name=model, id="raw-1")
        for tensor in metadata.inputs:
            if tensor.datatype != "FP32":
                raise SystemExit(
                    f"this example sends FP32 only; {tensor.name} is {tensor.datatype}"
                )
            shape = [1 if d < 0 else d for d in tensor.shape]
            request.inputs.add(name=tensor.name, datatype="FP32", shape=shape)
            request.raw_input_contents.append(np.zeros(shape, "<f4").tobytes())
        response = stub.ModelInfer(request)
        for output, raw in zip(response.outputs, response.raw_output_contents, strict=True):
            if output.datatype == "BYTES":
                print(output.name, "BYTES", list(output.shape), f"{len(raw)} bytes")
                continue
            dtype = {"FP32": "<f4", "FP64": "<f8", "INT64": "<i8", "INT32": "<i4"}[output.datatype]
            values = np.frombuffer(raw, dtype).reshape(output.shape)
            print(output.name, output.datatype, values.shape, values.ravel()[:5])


if __name__ == "__main__":
    main(*sys.argv[1:3])
