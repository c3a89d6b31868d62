"""Optional OpenTelemetry tracing: a span per inference request, parented by the caller's
`traceparent` gRPC metadata. Without the SDK (extra `otel`) nothing here is active.

The SDK is configured the usual OpenTelemetry way (OTEL_* environment variables, or a
TracerProvider set by the embedding program); naiad only creates spans.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc

INFER_METHODS = ("/inference.GRPCInferenceService/ModelInfer",)
"""Unary methods whose handler runs inside the caller's trace context. Streams are not: one
stream carries many requests, each of which may belong to its own trace."""


def load_tracer() -> Any | None:
    """naiad's tracer, or None when the OpenTelemetry API is not installed."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace.get_tracer("naiad")


def start_span(tracer: Any, model: str, version: str, request_id: str) -> Any:
    """A span for one request, a child of the current trace context if there is one."""
    return tracer.start_span(
        "naiad.infer",
        attributes={"naiad.model": model, "naiad.version": version, "naiad.request_id": request_id},
    )


def end_span(
    tracer: Any, span: Any, status: str, version: str, queue_us: int = 0, compute_us: int = 0
) -> None:
    """Ends a request's span; a request that ran gets child spans for its queue wait and its
    batch's execution, placed from the engine's own timings."""
    from opentelemetry.trace import Status, StatusCode

    if compute_us and getattr(span, "start_time", None):
        _timed_child(tracer, span, "naiad.queue", span.start_time, queue_us)
        _timed_child(tracer, span, "naiad.execute", span.start_time + queue_us * 1000, compute_us)
    span.set_attribute("naiad.version", version)
    span.set_attribute("rpc.grpc.status", status)
    if status != "OK":
        span.set_status(Status(StatusCode.ERROR, status))
    span.end()


def _timed_child(tracer: Any, parent: Any, name: str, start_ns: int, duration_us: int) -> None:
    from opentelemetry import trace

    context = trace.set_span_in_context(parent)
    child = tracer.start_span(name, context=context, start_time=start_ns)
    child.end(end_time=start_ns + duration_us * 1000)


class TraceContextInterceptor(grpc.aio.ServerInterceptor):
    """Runs ModelInfer handlers inside the trace context that `traceparent` metadata names."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None or details.method not in INFER_METHODS or not handler.unary_unary:
            return handler
        behaviour = handler.unary_unary

        async def traced(request: Any, context: grpc.aio.ServicerContext) -> Any:
            from opentelemetry import context as otel_context
            from opentelemetry.propagate import extract

            carrier = {k: v for k, v in (context.invocation_metadata() or ()) if isinstance(v, str)}
            token = otel_context.attach(extract(carrier))
            try:
                return await behaviour(request, context)
            finally:
                otel_context.detach(token)

        return grpc.unary_unary_rpc_method_handler(
            traced,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


__all__ = ["TraceContextInterceptor", "end_span", "load_tracer", "start_span"]
