"""A stream as one of the server's front ends: `naiad serve --stream` and `naiad stream` alike.

start() connects to the broker (before the models load, so a wrong address fails start-up);
serving(True) starts consuming once the engine takes traffic; serving(False) stops reading;
stop() lets everything read be answered and acknowledged within the grace, then disconnects.
"""

from __future__ import annotations

import asyncio
import logging
from urllib.parse import urlsplit

from naiad.engine.protocol import InferenceEngine
from naiad.streams.adapter import BrokerAdapter, open_adapter
from naiad.streams.connector import Connector, ConnectorOptions
from naiad.streams.metrics import StreamMetrics
from naiad.streams.spec import StreamSpec

log = logging.getLogger("naiad.streams")


class StreamFrontEnd:
    """Consumes one StreamSpec through the server's engine."""

    def __init__(
        self,
        engine: InferenceEngine,
        spec: StreamSpec,
        metrics: StreamMetrics,
        *,
        name: str = "stream",
        adapter: BrokerAdapter | None = None,
        options: ConnectorOptions | None = None,
    ) -> None:
        """`adapter`: the broker's (default: the one `spec.broker` names)."""
        self.name = name
        self.spec = spec
        self._adapter = adapter or open_adapter(spec)
        self.connector = Connector(engine, self._adapter, spec, metrics, options=options)
        self._task: asyncio.Task[None] | None = None
        self._connected = False

    @property
    def address(self) -> str:
        parts = urlsplit(self.spec.broker)
        host = parts.hostname or ""
        return f"{parts.scheme}://{host}:{parts.port}" if parts.port else f"{parts.scheme}://{host}"

    @property
    def done(self) -> asyncio.Task[None] | None:
        """The consuming task once serving: it ends after a stop, or raises when the broker
        failed for good."""
        return self._task

    async def start(self) -> None:
        await self._adapter.connect()
        self._connected = True

    async def serving(self, serving: bool) -> None:
        if serving and self._task is None:
            self._task = asyncio.create_task(self.connector.run(), name=f"naiad-{self.name}")
            self._task.add_done_callback(self._report)
        elif not serving:
            self.connector.stop()

    async def stop(self, grace_s: float) -> None:
        self.connector.stop()
        if self._task is not None:
            done, _ = await asyncio.wait([self._task], timeout=grace_s)
            if not done:
                log.warning(
                    "%s: answers still in flight after the grace; left unacknowledged", self.name
                )
                self._task.cancel()
                await asyncio.gather(self._task, return_exceptions=True)
        if self._connected:
            await self._adapter.close()
            self._connected = False

    def _report(self, task: asyncio.Task[None]) -> None:
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            log.error("%s (%s): stopped: %r", self.name, self.spec.label, error, exc_info=error)
