"""Synchronous client over a blocking gRPC channel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from naiad_client import messages
from naiad_client.api import ClientApi, channel_target
from naiad_client.errors import from_rpc_error


class Client(ClientApi):
    """A blocking v2 inference client for ``url`` ("host:port").

    Every method raises InferenceServerError (with the gRPC status) when the server refuses or
    fails a call. The channel is thread-safe: one Client may serve many threads. Use it as a
    context manager, or call ``close()``.
    """

    def __init__(self, url: str, channel_options: list[tuple[str, Any]] | None = None) -> None:
        options = messages.CHANNEL_OPTIONS + list(channel_options or [])
        super().__init__(grpc.insecure_channel(channel_target(url), options=options))
        self.url = url

    def _call(
        self, rpc: Callable[..., Any], request: Any, convert: Callable[[Any], Any], timeout_s: Any
    ) -> Any:
        try:
            response = rpc(request, timeout=timeout_s)
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
