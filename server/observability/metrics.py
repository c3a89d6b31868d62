"""The metrics endpoint: a registry of naiad's collector and the process collector, and the
route that renders it at `/metrics`."""

from __future__ import annotations

import asyncio
from http import HTTPStatus

from prometheus_client import CollectorRegistry, ProcessCollector

from naiad.observability.collector import NaiadCollector
from naiad.observability.exposition import CONTENT_TYPE, render
from naiad.observability.ledger import StatsLedger
from naiad.repository.manager import ModelRepository
from naiad.transport.http.messages import HttpRequest, HttpResponse

METRICS_PATH = "/metrics"


def build_registry(repository: ModelRepository, ledger: StatsLedger) -> CollectorRegistry:
    """A registry of its own (not prometheus_client's global one), so that servers in one
    process never share series."""
    registry = CollectorRegistry()
    registry.register(NaiadCollector(repository, ledger))
    ProcessCollector(registry=registry)  # process_cpu_seconds_total, process_resident_memory_bytes
    return registry


class MetricsRoute:
    """GET /metrics: the Prometheus text format, collected when asked."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self._registry = registry

    async def __call__(self, request: HttpRequest) -> HttpResponse | None:
        if request.path != METRICS_PATH:
            return None
        if request.method not in ("GET", "HEAD"):
            return HttpResponse(HTTPStatus.METHOD_NOT_ALLOWED, headers=(("Allow", "GET"),))
        # Off the event loop: reading /proc and every scheduler's stats must not stall gRPC.
        body = await asyncio.to_thread(render, self._registry)
        return HttpResponse(HTTPStatus.OK, body, CONTENT_TYPE)
