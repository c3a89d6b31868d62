"""A real NaiadServer started inside the test process, for tests that call it over the network."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from naiad.app import NaiadServer, ServerOptions


@contextlib.asynccontextmanager
async def running(repository: Path, **options: Any) -> AsyncIterator[NaiadServer]:
    """A started NaiadServer on 127.0.0.1 with every listener on a free port."""
    settings: dict[str, Any] = dict(
        grpc_host="127.0.0.1", grpc_port=0, http_port=0, metrics_port=0, grace_s=5.0
    )
    settings.update(options)
    server = NaiadServer(ServerOptions(model_repository=str(repository), **settings))
    await server.start()
    try:
        yield server
    finally:
        await server.stop()
