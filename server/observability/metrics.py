"""The metrics endpoint: a registry of naiad's collector and the process collector, and the
route that renders it at `/metrics`."""

from __future__ import annotations

import asyncio
from http import HTTPStatus

from prometheus_client import CollectorRegistry, ProcessCollector

from naiad.observability.collector import NaiadCollector
from naiad.observability.exposition import CONTENT_TYPE, render
from naiad.observability.ledger import StatsLedger
from naiad.observability.listener import RequestHead, Response
from naiad.repository.manager import ModelRepository

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

    async def __call__(self, head: RequestHead) -> Response | None:
        if head.path != METRICS_PATH:
            return None
        # Off the event loop: reading /proc and every scheduler's stats must not stall gRPC.
        body = await asyncio.to_thread(render, self._registry)
        return Response(HTTPStatus.OK, body, CONTENT_TYPE)
