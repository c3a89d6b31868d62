"""What every reference server shares: the metadata RPCs, statistics, errors, start-up and
shutdown. A server only says how one request becomes one response (``compute``)."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable
from time import perf_counter_ns
from typing import Any

import grpc

from bench import event_loop
from bench.models import Signature, TensorSpec
from naiad_client.messages import CHANNEL_OPTIONS
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc
from naiad_protocol import model_config_pb2 as mc

_STAGES = ("success", "queue", "compute_input", "compute_infer", "compute_output")


class SignatureService(pb_grpc.GRPCInferenceServiceServicer):
    """Serves one model described by a Signature; subclasses implement ``compute``.

    ``compute`` raises LookupError (NOT_FOUND) or ValueError (INVALID_ARGUMENT) for bad requests.
    Statistics count every request as queued for 0 ns and computed for the time ``compute``
    took (subclasses may ``record`` otherwise), so perf_analyzer's consistency checks hold.
    """

    def __init__(self, signature: Signature, server_name: str) -> None:
        self.signature = signature
        self.server_name = server_name
        self.batching = signature.max_batch_size > 0
        self.counts = dict.fromkeys(_STAGES, 0)
        self.compute_ns = 0
        self.queue_ns = 0
        self.inference_count = 0
        self.failures = 0

    def compute(self, request: pb.ModelInferRequest) -> pb.ModelInferResponse:
        raise NotImplementedError

    def check_model(self, request: pb.ModelInferRequest) -> None:
        if request.model_name != self.signature.name:
            raise LookupError(f"Request for unknown model: '{request.model_name}' is not found")

    def rows(self, request: pb.ModelInferRequest) -> int:
        if self.batching and request.inputs and request.inputs[0].shape:
            return int(request.inputs[0].shape[0])
        return 1

    def record(self, request: pb.ModelInferRequest, queue_ns: int, compute_ns: int) -> None:
        """Counts one successful request in the statistics."""
        self.queue_ns += queue_ns
        self.compute_ns += compute_ns
        for stage in _STAGES:
            self.counts[stage] += 1
        self.inference_count += self.rows(request)

    def _timed(self, request: pb.ModelInferRequest) -> pb.ModelInferResponse:
        start = perf_counter_ns()
        try:
            response = self.compute(request)
        except (LookupError, ValueError):
            self.failures += 1
            raise
        self.record(request, 0, perf_counter_ns() - start)
        return response

    async def ModelInfer(self, request, context):
        try:
            return self._timed(request)
        except LookupError as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(error.args[0]))
        except ValueError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))

    async def ModelStreamInfer(self, request_iterator, context):
        async for request in request_iterator:
            try:
                response = self._timed(request)
            except (LookupError, ValueError) as error:
                code = "NOT_FOUND" if isinstance(error, LookupError) else "INVALID_ARGUMENT"
                yield pb.ModelStreamInferResponse(
                    error_message=f"{code}: {error.args[0]}",
                    infer_response=pb.ModelInferResponse(id=request.id),
                )
                continue
            response.parameters["triton_final_response"].bool_param = True
            yield pb.ModelStreamInferResponse(infer_response=response)

    async def ServerLive(self, request, context):
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(self, request, context):
        return pb.ServerReadyResponse(ready=True)

    async def ModelReady(self, request, context):
        return pb.ModelReadyResponse(ready=request.name == self.signature.name)

    async def ServerMetadata(self, request, context):
        extensions = ["model_configuration", "statistics", "binary_tensor_data"]
        return pb.ServerMetadataResponse(name=self.server_name, version="0", extensions=extensions)

    async def _known(self, name: str, context: Any) -> None:
        if name != self.signature.name:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"Request for unknown model: '{name}' is not found"
            )

    async def ModelMetadata(self, request, context):
        await self._known(request.name, context)
        lead = [-1] if self.batching else []
        response = pb.ModelMetadataResponse(
            name=self.signature.name, versions=["1"], platform="onnxruntime_onnx"
        )
        for t in self.signature.inputs:
            response.inputs.add(name=t.name, datatype=t.datatype, shape=lead + list(t.dims))
        for t in self.signature.outputs:
            response.outputs.add(name=t.name, datatype=t.datatype, shape=lead + list(t.dims))
        return response

    async def ModelConfig(self, request, context):
        await self._known(request.name, context)
        config = mc.ModelConfig(
            name=self.signature.name,
            platform="onnxruntime_onnx",
            backend="onnxruntime",
            max_batch_size=self.signature.max_batch_size,
        )
        for t in self.signature.inputs:
            config.input.add(name=t.name, data_type=config_type(t), dims=t.dims)
        for t in self.signature.outputs:
            config.output.add(name=t.name, data_type=config_type(t), dims=t.dims)
        return pb.ModelConfigResponse(config=config)

    async def ModelStatistics(self, request, context):
        if request.name:
            await self._known(request.name, context)
        stats = pb.ModelStatistics(
            name=self.signature.name,
            version="1",
            inference_count=self.inference_count,
            execution_count=self.counts["success"],
        )
        for stage in _STAGES:
            getattr(stats.inference_stats, stage).count = self.counts[stage]
        stats.inference_stats.success.ns = self.queue_ns + self.compute_ns
        stats.inference_stats.queue.ns = self.queue_ns
        stats.inference_stats.compute_infer.ns = self.compute_ns
        stats.inference_stats.fail.count = self.failures
        return pb.ModelStatisticsResponse(model_stats=[stats])


def config_type(tensor: TensorSpec) -> int:
    return mc.DataType.Value(
        "TYPE_STRING" if tensor.datatype == "BYTES" else f"TYPE_{tensor.datatype}"
    )


async def serve(service: SignatureService, host: str, port: int) -> None:
    """Serves until SIGTERM/SIGINT, after printing ``<name> ready grpc=HOST:PORT`` like naiad."""
    server = grpc.aio.server(options=CHANNEL_OPTIONS)
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(service, server)
    bound = server.add_insecure_port(f"{host}:{port}")
    await server.start()
    print(f"{service.server_name} ready grpc={host}:{bound}", flush=True)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await stopping.wait()
    await server.stop(grace=2)


def main(make_service: Callable[[Signature, argparse.Namespace], SignatureService]) -> None:
    """Command line shared by the reference servers."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--signature", required=True, help="the model's Signature as JSON")
    parser.add_argument("--onnx", help="ONNX file (servers that run the model)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    service = make_service(Signature.from_json(args.signature), args)
    event_loop.run(serve(service, args.host, args.port))
