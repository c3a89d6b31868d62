"""Monitoring as an engine layer: hands sampled requests and their answers to the MonitorBook.

Innermost (inside the rollout layer, so a rollout's shadow copies are watched as the
candidate's traffic). The request path pays a dict lookup per request, and for a sampled one a
done-callback; everything else happens on the book's worker thread after the answer went out.
"""

from __future__ import annotations

import asyncio
import functools

from naiad.engine.context import CallContext
from naiad.engine.layers import EngineLayer
from naiad.engine.protocol import InferenceEngine
from naiad.engine.request import InferRequest, InferResponse
from naiad.monitor.book import MonitorBook
from naiad.monitor.version import Sample


class MonitorLayer(EngineLayer):
    """Offers each sampled answered request of a watched model to `book`; never waits."""

    def __init__(self, inner: InferenceEngine, book: MonitorBook) -> None:
        super().__init__(inner)
        self.book = book

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        future = self.inner.submit(request, context)
        gate = self.book.gate(request.model_name)
        if gate is not None and gate.admit():
            future.add_done_callback(functools.partial(self._answered, request))
        return future

    def _answered(self, request: InferRequest, done: asyncio.Future[InferResponse]) -> None:
        if done.cancelled() or done.exception() is not None:
            return
        response = done.result()
        monitor = self.book.find(request.model_name)
        if monitor is None:
            return  # no longer watched
        self.book.offer(
            Sample(
                model=request.model_name,
                version=response.model_version,
                id=response.id or request.id,
                inputs={i.name: i.data for i in request.inputs},
                outputs={o.name: o.data for o in response.outputs},
                batched=monitor.batched,
                time_s=self.book.now(),
            )
        )
