"""Registers GRPCInferenceService on a grpc.aio server with ModelInfer and ModelStreamInfer
taking and giving raw bytes (no protobuf deserializer or serializer: wire_request does that
work), and every other method as the generated stubs register it."""

from __future__ import annotations

from typing import Any

import grpc

from naiad_protocol import grpc_service_pb2_grpc as pb_grpc

SERVICE_NAME = "inference.GRPCInferenceService"
RAW_METHODS = ("ModelInfer", "ModelStreamInfer")


class _Collector:
    """Stands in for the server while the generated function registers its handlers."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, handlers: Any) -> None:
        pass  # the same handlers also arrive through add_registered_method_handlers

    def add_registered_method_handlers(
        self, service: str, handlers: dict[str, grpc.RpcMethodHandler]
    ) -> None:
        assert service == SERVICE_NAME
        self.handlers.update(handlers)


def add_inference_service(servicer: pb_grpc.GRPCInferenceServiceServicer, server: Any) -> None:
    """Registers `servicer`, whose ModelInfer and ModelStreamInfer handle bytes."""
    collector = _Collector()
    pb_grpc.add_GRPCInferenceServiceServicer_to_server(servicer, collector)
    handlers = collector.handlers
    handlers["ModelInfer"] = grpc.unary_unary_rpc_method_handler(servicer.ModelInfer)
    handlers["ModelStreamInfer"] = grpc.stream_stream_rpc_method_handler(servicer.ModelStreamInfer)
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE_NAME, handlers),))
    server.add_registered_method_handlers(SERVICE_NAME, handlers)
