"""The access-log layer: one line per inference request, unary and streamed alike.

Lines go to the `naiad.access` logger at INFO with fields protocol (grpc, http, ...), model,
version, id, status (OK or the error code's name, which each front end maps to its own status),
duration_us (submit to answer), queue_us and compute_us (0 for a request that never ran). The
server adds the layer only when --access-log is given, so a disabled access log costs nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time

from naiad.engine.context import CallContext
from naiad.engine.layers import EngineLayer
from naiad.engine.request import InferRequest, InferResponse
from naiad.errors import NaiadError, error_code

access_log = logging.getLogger("naiad.access")


class AccessLogLayer(EngineLayer):
    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        started_ns = time.perf_counter_ns()
        try:
            future = self.inner.submit(request, context)
        except NaiadError as exc:
            _write(request, context.protocol, request.model_version, exc.code.name, started_ns)
            raise
        future.add_done_callback(functools.partial(_done, request, context.protocol, started_ns))
        return future


def _done(
    request: InferRequest, protocol: str, started_ns: int, future: asyncio.Future[InferResponse]
) -> None:
    if future.cancelled():
        _write(request, protocol, request.model_version, "CANCELLED", started_ns)
    elif (error := future.exception()) is not None:
        _write(request, protocol, request.model_version, error_code(error).name, started_ns)
    else:
        response = future.result()
        _write(
            request, protocol, response.model_version, "OK", started_ns,
            response.queue_us, response.compute_us,
        )  # fmt: skip


def _write(
    request: InferRequest,
    protocol: str,
    version: str,
    status: str,
    started_ns: int,
    queue_us: int = 0,
    compute_us: int = 0,
) -> None:
    fields = {
        "protocol": protocol,
        "model": request.model_name,
        "version": version,
        "id": request.id,
        "status": status,
        "duration_us": (time.perf_counter_ns() - started_ns) // 1000,
        "queue_us": queue_us,
        "compute_us": compute_us,
    }
    access_log.info("request", extra={"fields": fields})
