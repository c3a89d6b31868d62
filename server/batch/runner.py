"""Runs a chunk's tensors through a model: the local engine, or a running server (--url).

A chunk is cut into requests of `batch_rows` rows (the model's max_batch_size by default) and
as many are kept queued as `max_in_flight` allows, across chunks, so every instance finds a
full batch waiting and the queue never runs dry between two chunks. Requests go through the
engine's scheduler like any other (config, instances, providers and INT8 models apply).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import numpy as np

from naiad.batch.signature import Signature
from naiad.engine.context import CallContext
from naiad.engine.protocol import InferenceEngine
from naiad.engine.request import InferInput, InferRequest
from naiad.errors import NaiadError, Unavailable

BATCH = CallContext(protocol="batch")
_QUEUE_FULL = "queue is full"
_REMOTE_PATIENCE_S = 300.0
"""How long a request keeps trying a server whose queue is full (10 ms doubling to 0.5 s
between tries) before the job fails."""


class ChunkRunner:
    """Answers chunks; `run` may be called for several chunks at once (one event loop)."""

    def __init__(self, signature: Signature, batch_rows: int, max_in_flight: int) -> None:
        self.signature = signature
        self.batch_rows = batch_rows
        self._slots = asyncio.Semaphore(max_in_flight)
        self._outstanding: set[asyncio.Future[Any]] = set()
        self._ids = itertools.count()

    async def run(self, inputs: dict[str, np.ndarray], rows: int) -> dict[str, np.ndarray]:
        """The outputs for `rows` rows of `inputs`, (rows, *dims) each, in row order."""
        if rows == 0:
            return {
                t.name: np.empty((0, *[max(d, 0) for d in t.dims]), t.datatype.numpy)
                for t in self.signature.outputs
            }
        step = self.batch_rows if self.signature.max_batch_size > 0 else 1
        futures = []
        for start in range(0, rows, step):
            part = {n: a[start : start + step] for n, a in inputs.items()}
            await self._slots.acquire()
            try:
                future = await self._submit(part)
            except BaseException:
                self._slots.release()
                raise
            self._outstanding.add(future)
            future.add_done_callback(self._finished)
            futures.append(future)
        answers = await asyncio.gather(*futures)
        return {
            t.name: np.concatenate([answer[t.name] for answer in answers])
            for t in self.signature.outputs
        }

    def _finished(self, future: asyncio.Future[Any]) -> None:
        self._outstanding.discard(future)
        self._slots.release()

    async def _submit(self, part: dict[str, np.ndarray]) -> asyncio.Future[dict[str, np.ndarray]]:
        while True:
            try:
                return self._start(part, str(next(self._ids)))
            except Unavailable as exc:
                # A queue smaller than max_in_flight: wait for an answer, then try again.
                if _QUEUE_FULL not in str(exc) or not self._outstanding:
                    raise
                await asyncio.wait(list(self._outstanding), return_when=asyncio.FIRST_COMPLETED)

    def _start(
        self, part: dict[str, np.ndarray], request_id: str
    ) -> asyncio.Future[dict[str, np.ndarray]]:
        raise NotImplementedError


class EngineRunner(ChunkRunner):
    """Through an InferenceEngine in this process (Engine(ModelRepository(...)))."""

    def __init__(
        self,
        engine: InferenceEngine,
        signature: Signature,
        version: str,
        batch_rows: int,
        max_in_flight: int,
    ) -> None:
        super().__init__(signature, batch_rows, max_in_flight)
        self._engine = engine
        self._version = version
        self._batches = signature.max_batch_size > 0

    def _start(
        self, part: dict[str, np.ndarray], request_id: str
    ) -> asyncio.Future[dict[str, np.ndarray]]:
        tensors = []
        for spec in self.signature.inputs:
            if spec.name not in part:
                continue
            data = part[spec.name] if self._batches else part[spec.name][0]
            tensors.append(InferInput(spec.name, spec.datatype, data.shape, data))
        request = InferRequest(self.signature.name, self._version, request_id, tensors)
        answer = self._engine.submit(request, BATCH)
        batches = self._batches
        loop = asyncio.get_running_loop()
        result: asyncio.Future[dict[str, np.ndarray]] = loop.create_future()

        def settle(done: asyncio.Future[Any]) -> None:
            if result.cancelled():
                return
            if done.cancelled():
                result.cancel()
            elif done.exception() is not None:
                result.set_exception(done.exception())  # type: ignore[arg-type]
            else:
                outputs = done.result().outputs
                result.set_result({o.name: o.data if batches else o.data[None] for o in outputs})

        answer.add_done_callback(settle)
        return result


class RemoteRunner(ChunkRunner):
    """Through a running naiad (or any v2 gRPC server) at `url`, with naiad's client."""

    def __init__(
        self, client: Any, signature: Signature, version: str, batch_rows: int, max_in_flight: int
    ) -> None:
        super().__init__(signature, batch_rows, max_in_flight)
        self._client = client
        self._version = version
        self._batches = signature.max_batch_size > 0

    def _start(
        self, part: dict[str, np.ndarray], request_id: str
    ) -> asyncio.Future[dict[str, np.ndarray]]:
        inputs = part if self._batches else {n: a[0] for n, a in part.items()}
        return asyncio.ensure_future(self._answer(inputs, request_id))

    async def _answer(
        self, inputs: dict[str, np.ndarray], request_id: str
    ) -> dict[str, np.ndarray]:
        from naiad_client.errors import InferenceServerError

        give_up = time.monotonic() + _REMOTE_PATIENCE_S
        attempt = 0
        while True:
            try:
                result = await self._client.infer(
                    self.signature.name, inputs, version=self._version, request_id=request_id
                )
                break
            except InferenceServerError as exc:
                # The server's queue is shared with its other clients: a full one is a reason
                # to slow down, not to fail the job.
                if _QUEUE_FULL not in str(exc) or time.monotonic() > give_up:
                    raise NaiadError(f"server at the --url: {exc}") from None
                await asyncio.sleep(min(0.5, 0.01 * 2**attempt))
                attempt += 1
        outputs: dict[str, np.ndarray] = result.outputs
        return outputs if self._batches else {n: a[None] for n, a in outputs.items()}
