"""naiad's engine behind a candidate: the same decode, one engine call, the same encode.

With ``NAIAD_HTTP_STACKS_REPOSITORY`` set (``--engine`` does it), a candidate answers infer
requests through a NaiadServer's engine on its own event loop instead of with the fixed
response, so the table shows what each stack costs in front of real work. The engine runs no
front end of its own (no gRPC clients, no HTTP, no metrics port).
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.http_stacks import payload

ENV = "NAIAD_HTTP_STACKS_REPOSITORY"


class EngineBehind:
    def __init__(self, repository: str) -> None:
        self._repository = repository
        self._server = None

    async def start(self) -> None:
        from naiad.app import NaiadServer, ServerOptions

        options = ServerOptions(
            model_repository=self._repository,
            grpc_host="127.0.0.1",
            grpc_port=0,
            http_port=None,
            metrics_port=None,
        )
        self._server = NaiadServer(options)
        await self._server.start()

    @property
    def server(self):  # type: ignore[no-untyped-def]
        """The started NaiadServer."""
        assert self._server is not None, "start() first"
        return self._server

    async def stop(self) -> None:
        if self._server is not None:
            await self._server.stop()

    async def infer(self, body: bytes) -> bytes:
        from naiad.engine.context import CallContext
        from naiad.transport.http.infer_json import decode_request, encode_response

        assert self._server is not None, "start() first"
        request, form = decode_request(body, "", payload.MODEL, "")
        response = await self._server.engine.submit(request, CallContext("http"))
        return encode_response(response, form)[0]


def from_env() -> EngineBehind | None:
    repository = os.environ.get(ENV)
    return EngineBehind(repository) if repository else None


def write_repository(root: Path) -> Path:
    """A repository with the payload's model: a 64-in/10-out MLP (tiny.toml's), batching."""
    from bench.models import build_mlp

    version = root / payload.MODEL / "1"
    version.mkdir(parents=True, exist_ok=True)
    build_mlp(version / "model.onnx", payload.REQUEST_FLOATS, (64,), payload.RESPONSE_FLOATS, 0)
    (root / payload.MODEL / "config.pbtxt").write_text(
        f'name: "{payload.MODEL}"\nplatform: "onnxruntime_onnx"\nmax_batch_size: 64\n'
        "dynamic_batching { }\ninstance_group [{ count: 1 kind: KIND_CPU }]\n"
    )
    return root
