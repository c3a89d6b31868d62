"""Synchronous client over a blocking gRPC channel."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import grpc

from naiad_client.api import ClientApi, open_channel
from naiad_client.errors import from_rpc_error


class Client(ClientApi):
    """A blocking v2 inference client for ``url`` ("host:port").

    Every method raises InferenceServerError (with the gRPC status) when the server refuses or
    fails a call. The channel is thread-safe: one Client may serve many threads. Use it as a
    context manager, or call ``close()``. ``credentials`` (``grpc.ssl_channel_credentials``)
    make the channel TLS; ``metadata`` (e.g. ``[("authorization", "Bearer " + key)]``) goes
    with every call.
    """

    def __init__(
        self,
        url: str,
        channel_options: list[tuple[str, Any]] | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        metadata: Sequence[tuple[str, str]] = (),
    ) -> None:
        channel = open_channel(grpc, url, channel_options, credentials)
        super().__init__(channel, metadata)
        self.url = url

    def _call(
        self, rpc: Callable[..., Any], request: Any, convert: Callable[[Any], Any], timeout_s: Any
    ) -> Any:
        try:
            response = rpc(request, timeout=timeout_s, metadata=self._metadata)
        except grpc.RpcError as error:
            raise from_rpc_error(error) from None
        return convert(response)

    def close(self) -> None:
        """Closes the channel; calls in flight are cancelled."""
        self._channel.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
