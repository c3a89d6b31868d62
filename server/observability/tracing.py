"""Optional OpenTelemetry tracing: the layer that gives each inference request a span, parented
by the caller's `traceparent` (unary calls; a stream's requests each start their own trace).
Without the SDK (extra `otel`) nothing here is active.

The SDK is configured the usual OpenTelemetry way (OTEL_* environment variables, or a
TracerProvider set by the embedding program); naiad only creates spans.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from naiad.engine.context import CallContext
from naiad.engine.layers import EngineLayer
from naiad.engine.protocol import InferenceEngine
from naiad.engine.request import InferRequest, InferResponse
from naiad.errors import NaiadError, error_code


def load_tracer() -> Any | None:
    """naiad's tracer, or None when the OpenTelemetry API is not installed."""
    try:
        from opentelemetry import trace
    except ImportError:
        return None
    return trace.get_tracer("naiad")


def start_span(tracer: Any, request: InferRequest, context: CallContext) -> Any:
    """A span for one request: a child of the caller's trace when its headers name one, else
    of the current trace context (an embedding program's), else a new trace."""
    parent = None
    if context.trace:
        from opentelemetry.propagate import extract

        parent = extract(context.trace)
    attributes = {
        "naiad.model": request.model_name,
        "naiad.version": request.model_version,
        "naiad.request_id": request.id,
        "naiad.protocol": context.protocol,
    }
    return tracer.start_span("naiad.infer", context=parent, attributes=attributes)


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
    span.set_attribute("naiad.status", status)
    if status != "OK":
        span.set_status(Status(StatusCode.ERROR, status))
    span.end()


def _timed_child(tracer: Any, parent: Any, name: str, start_ns: int, duration_us: int) -> None:
    from opentelemetry import trace

    context = trace.set_span_in_context(parent)
    child = tracer.start_span(name, context=context, start_time=start_ns)
    child.end(end_time=start_ns + duration_us * 1000)


class TracingLayer(EngineLayer):
    """A span per inference request, parented by the caller's trace headers (CallContext.trace)."""

    def __init__(self, inner: InferenceEngine, tracer: Any) -> None:
        super().__init__(inner)
        self._tracer = tracer

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        span = start_span(self._tracer, request, context)
        try:
            future = self.inner.submit(request, context)
        except NaiadError as exc:
            end_span(self._tracer, span, exc.code.name, request.model_version)
            raise
        future.add_done_callback(functools.partial(self._done, span, request.model_version))
        return future

    def _done(self, span: Any, version: str, future: asyncio.Future[InferResponse]) -> None:
        if future.cancelled():
            end_span(self._tracer, span, "CANCELLED", version)
        elif (error := future.exception()) is not None:
            end_span(self._tracer, span, error_code(error).name, version)
        else:
            response = future.result()
            end_span(
                self._tracer, span, "OK", response.model_version,
                response.queue_us, response.compute_us,
            )  # fmt: skip


__all__ = ["TracingLayer", "end_span", "load_tracer", "start_span"]
