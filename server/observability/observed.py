"""Per-request observation: an access log line and a trace span for each inference request.

One wrapper around Engine.submit serves unary and streaming requests alike. The server uses
the plain Engine when neither is enabled, so a disabled access log costs nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from typing import Any

from naiad.engine.engine import Engine
from naiad.engine.request import InferRequest, InferResponse
from naiad.errors import NaiadError
from naiad.observability import tracing
from naiad.repository.manager import ModelRepository

access_log = logging.getLogger("naiad.access")


class ObservedEngine(Engine):
    """An Engine that logs (`access_log`) and traces (`tracer`) every inference request.

    Access lines go to the `naiad.access` logger at INFO with fields model, version, id,
    status (OK or the gRPC status name the client gets), duration_us (submit to answer),
    queue_us and compute_us (0 for a request that never ran).
    """

    def __init__(
        self, repository: ModelRepository, *, access_log: bool, tracer: Any | None = None
    ) -> None:
        super().__init__(repository)
        self._log = access_log
        self._tracer = tracer

    def submit(self, request: InferRequest) -> asyncio.Future[InferResponse]:
        started_ns = time.perf_counter_ns()
        model, version, request_id = request.model_name, request.model_version, request.id
        span = (
            tracing.start_span(self._tracer, model, version, request_id) if self._tracer else None
        )
        try:
            future = super().submit(request)
        except NaiadError as exc:
            self._finish(model, version, request_id, exc.code.name, started_ns, span)
            raise
        future.add_done_callback(
            functools.partial(self._done, model, version, request_id, started_ns, span)
        )
        return future

    def _done(
        self,
        model: str,
        version: str,
        request_id: str,
        started_ns: int,
        span: Any,
        future: asyncio.Future[InferResponse],
    ) -> None:
        if future.cancelled():
            status = "CANCELLED"
        elif (error := future.exception()) is not None:
            status = error.code.name if isinstance(error, NaiadError) else "INTERNAL"
        else:
            status = "OK"
            response = future.result()
            version = response.model_version
            self._finish(
                model, version, request_id, status, started_ns, span,
                response.queue_us, response.compute_us,
            )  # fmt: skip
            return
        self._finish(model, version, request_id, status, started_ns, span)

    def _finish(
        self,
        model: str,
        version: str,
        request_id: str,
        status: str,
        started_ns: int,
        span: Any,
        queue_us: int = 0,
        compute_us: int = 0,
    ) -> None:
        if span is not None:
            tracing.end_span(self._tracer, span, status, version, queue_us, compute_us)
        if self._log:
            fields = {
                "model": model,
                "version": version,
                "id": request_id,
                "status": status,
                "duration_us": (time.perf_counter_ns() - started_ns) // 1000,
                "queue_us": queue_us,
                "compute_us": compute_us,
            }
            access_log.info("request", extra={"fields": fields})
