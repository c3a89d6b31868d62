"""The one seam every entry point calls: the InferenceEngine protocol.

Front ends (transport/grpc today; HTTP, broker consumers, batch jobs and front-end processes
later) decode their protocol's messages into InferRequest, make one call on an InferenceEngine
and encode what comes back. They never see a ServedModel, the scheduler, ONNX Runtime or the
repository object.

What serves the calls is a stack: the core `Engine` (engine.py) over the model repository, and
around it the layers the composition root (app.py) chose, in order: access log, tracing, and
later auth, routing and monitoring. Each layer is an `EngineLayer` (layers.py) holding the
next one; a layer overrides only the verbs it cares about. Every layer is itself an
InferenceEngine, so a front end cannot tell how many there are.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, Protocol, TypeVar

from naiad.config.settings import ModelSettings
from naiad.engine.context import CallContext
from naiad.engine.request import InferRequest, InferResponse
from naiad.native import Stats
from naiad.repository.types import IndexEntry
from naiad_protocol.model_config_pb2 import ModelConfig

M = TypeVar("M")


@dataclass(frozen=True)
class ModelDescription:
    """What ModelMetadata reports: one version's settings and every version that serves."""

    settings: ModelSettings
    ready_versions: tuple[int, ...]


@dataclass(frozen=True)
class VersionStats:
    """One serving version's native counters, for ModelStatistics."""

    name: str
    version: int
    stats: Stats


@dataclass(frozen=True, slots=True)
class StreamAnswer(Generic[M]):
    """One answer of a stream: the message it answers and its response or its error."""

    message: M
    response: InferResponse | None
    error: BaseException | None


class InferenceEngine(Protocol):
    """Inference and model management, as every front end sees them.

    Raising verbs raise NaiadError subclasses (NotFound, Unavailable, InvalidArgument, ...);
    each front end maps their ErrorCode to its protocol's status in one table. Verbs that
    return at once are safe to call on the event loop; the async ones do their blocking work
    on other threads.
    """

    def submit(self, request: InferRequest, context: CallContext) -> asyncio.Future[InferResponse]:
        """Queues `request`; the future resolves with its answer or its error.

        Raises at once (nothing queued) for an unknown model, a bad request or a full queue.
        Cancelling the future withdraws the request if it has not run yet.
        """
        ...

    async def stream(
        self,
        messages: AsyncIterable[M],
        decode: Callable[[M], InferRequest],
        context: Callable[[M], CallContext],
        send: Callable[[StreamAnswer[M]], Awaitable[None]],
    ) -> None:
        """Submits each message as it arrives and sends each answer as soon as it is ready
        (not in order). See streaming.answer_stream for the contract."""
        ...

    def describe(self, name: str, version: str, context: CallContext) -> ModelDescription:
        """Metadata of version `version` ("" = latest ready). Raises NotFound / Unavailable."""
        ...

    def config(self, name: str, version: str, context: CallContext) -> ModelConfig:
        """The effective ModelConfig of a serving version (read-only)."""
        ...

    def statistics(self, name: str, version: str, context: CallContext) -> list[VersionStats]:
        """Every ready version's counters when `name` is ""; a model's when `version` is ""."""
        ...

    def model_ready(self, name: str, version: str, context: CallContext) -> bool: ...

    def server_ready(self) -> bool:
        """Whether the server takes traffic (see Engine for the strict rule). No I/O."""
        ...

    async def index(self, ready_only: bool, context: CallContext) -> list[IndexEntry]:
        """Every model in the repository or loaded, one row per known version."""
        ...

    async def load(
        self, name: str, config_json: str | None, files: dict[str, bytes], context: CallContext
    ) -> None:
        """Loads or reloads `name`; raises ModelLoadError with the reason."""
        ...

    async def unload(self, name: str, context: CallContext) -> None: ...
