"""Wrappers around an engine: what sees every call without being the engine.

A layer holds the next engine (`inner`) and forwards every verb to it; a concrete layer
overrides the few it cares about (the access log and tracing override `submit`). Streams go
through the layer's own `submit`, so a layer that watches requests sees streamed ones too.

`compose(core, [a, b, c])` builds a(b(c(core))): the first layer listed sees a call first and
its answer last. The composition root decides the order; today it is access log, then tracing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import TypeVar

from naiad.engine.context import CallContext
from naiad.engine.protocol import InferenceEngine, ModelDescription, VersionStats
from naiad.engine.request import InferRequest, InferResponse
from naiad.engine.streaming import StreamsThroughSubmit
from naiad.repository.types import IndexEntry
from naiad_protocol.model_config_pb2 import ModelConfig

M = TypeVar("M")
Layer = Callable[[InferenceEngine], InferenceEngine]
"""Wraps an engine: typically an EngineLayer subclass, or a functools.partial of one."""


class EngineLayer(StreamsThroughSubmit):
    """Forwards every InferenceEngine verb to `inner`. Subclass and override what you need."""

    def __init__(self, inner: InferenceEngine) -> None:
        self.inner = inner

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        return self.inner.submit(request, context)

    def describe(self, name: str, version: str, context: CallContext) -> ModelDescription:
        return self.inner.describe(name, version, context)

    def config(self, name: str, version: str, context: CallContext) -> ModelConfig:
        return self.inner.config(name, version, context)

    def statistics(self, name: str, version: str, context: CallContext) -> list[VersionStats]:
        return self.inner.statistics(name, version, context)

    def model_ready(self, name: str, version: str, context: CallContext) -> bool:
        return self.inner.model_ready(name, version, context)

    def server_ready(self) -> bool:
        return self.inner.server_ready()

    async def index(self, ready_only: bool, context: CallContext) -> list[IndexEntry]:
        return await self.inner.index(ready_only, context)

    async def load(
        self, name: str, config_json: str | None, files: dict[str, bytes], context: CallContext
    ) -> None:
        await self.inner.load(name, config_json, files, context)

    async def unload(self, name: str, context: CallContext) -> None:
        await self.inner.unload(name, context)


def compose(core: InferenceEngine, layers: Sequence[Layer]) -> InferenceEngine:
    """`core` wrapped in `layers`, the first of them outermost."""
    engine = core
    for layer in reversed(layers):
        engine = layer(engine)
    return engine
