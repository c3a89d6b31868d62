"""A stream served in this process, on its own event loop thread: the engine, a StreamFrontEnd
over the real broker, and a private metrics registry the test reads."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from naiad.engine.context import INTERNAL
from naiad.engine.engine import Engine
from naiad.engine.loader import load_served_model
from naiad.repository.manager import ModelRepository
from naiad.streams.connector import ConnectorOptions
from naiad.streams.front_end import StreamFrontEnd
from naiad.streams.metrics import StreamMetrics
from naiad.streams.spec import StreamSpec

FAST_LAG = ConnectorOptions(lag_interval_s=0.2)


class InProcessStream:
    """`with InProcessStream(repo, spec) as stream:` consumes until the block ends, then
    drains (every answer acknowledged) and stops; a failure of the stream is raised there."""

    def __init__(self, repository: Path, spec: StreamSpec) -> None:
        self.spec = spec
        self.metrics = StreamMetrics(None)
        self.repository = ModelRepository(
            str(repository),
            factory=load_served_model,
            control_mode="explicit",
            startup_models=(spec.model,),
        )
        self.engine = Engine(self.repository)
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, daemon=True)

    def __enter__(self) -> InProcessStream:
        self._thread.start()
        self._ready.wait(60)
        if self._error is not None:
            raise self._error
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)
        if self._error is not None and error is None:
            raise self._error

    engine_context = INTERNAL

    def value(self, name: str, **labels: str) -> float:
        return self.metrics.value(name, stream=self.spec.label, **labels)

    def lag_samples(self) -> dict[str, float]:
        """The consumer-lag gauge's value per partition, once the stream has reported it."""
        found = {}
        for family in self.metrics.registry.collect():
            for sample in family.samples:
                if sample.name == "naiad_stream_consumer_lag":
                    found[sample.labels["partition"]] = sample.value
        return found

    def wait_for(self, holds: Callable[[], object], timeout_s: float = 20.0) -> None:
        deadline = time.monotonic() + timeout_s
        while not holds():
            assert time.monotonic() < deadline, "the stream never got there"
            time.sleep(0.05)

    def _main(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as exc:
            self._error = exc
        finally:
            self._ready.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        front = StreamFrontEnd(self.engine, self.spec, self.metrics, options=FAST_LAG)
        await front.start()
        await asyncio.to_thread(self.repository.start)
        self.engine.accept(True)
        await front.serving(True)
        self._ready.set()
        assert front.done is not None
        stopping = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait([stopping, front.done], return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        await front.serving(False)
        await front.stop(30)
        await asyncio.to_thread(self.repository.stop)
        if front.done.done() and not front.done.cancelled() and front.done.exception():
            raise front.done.exception()  # type: ignore[misc]
