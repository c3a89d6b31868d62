"""asyncio client over a grpc.aio channel, and the entry to streaming sessions."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc

from naiad_client import messages
from naiad_client.api import ClientApi, open_channel
from naiad_client.errors import from_rpc_error
from naiad_client.stream import StreamSession
from naiad_protocol import grpc_service_pb2 as pb


class AsyncClient(ClientApi):
    """The Client API over grpc.aio: every call method returns an awaitable.

    Create and use it inside one running event loop; ``await client.close()`` or use
    ``async with``. ``stream()`` opens a ModelStreamInfer session. ``credentials`` and
    ``metadata`` as in Client; a stream sends the metadata once, when it opens.
    """

    def __init__(
        self,
        url: str,
        channel_options: list[tuple[str, Any]] | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        channel = open_channel(grpc.aio, url, channel_options, credentials)
        super().__init__(channel, metadata)
        self.url = url
        # Stream requests go out pre-serialized so a session can stamp ids onto shared bytes.
        self._stream_infer = self._channel.stream_stream(
            messages.SERVICE + "ModelStreamInfer",
            request_serializer=None,
            response_deserializer=pb.ModelStreamInferResponse.FromString,
        )

    def _call(
        self, rpc: Callable[..., Any], request: Any, convert: Callable[[Any], Any], timeout_s: Any
    ) -> Any:
        async def call() -> Any:
            try:
                response = await rpc(request, timeout=timeout_s, metadata=self._metadata)
            except grpc.RpcError as error:
                raise from_rpc_error(error) from None
            return convert(response)

        return call()

    def stream(self, timeout_s: float | None = None) -> StreamSession:
        """A ModelStreamInfer session; use ``async with client.stream() as session``.

        ``timeout_s`` bounds the whole stream's life, not one request.
        """
        return StreamSession(self._stream_infer, timeout_s, self._metadata)

    async def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()
