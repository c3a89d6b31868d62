"""A front-end pool whose processes cannot bind fails to start, clearly, and leaves nothing
running."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from naiad.app import NaiadServer, ServerOptions


async def test_a_port_taken_by_another_program_fails_the_start(tmp_path: Path) -> None:
    taken = socket.socket()  # no SO_REUSEPORT: nobody may share it
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    options = ServerOptions(
        str(tmp_path), grpc_host="127.0.0.1", grpc_port=port, http_port=None,
        metrics_port=None, frontends=2, grace_s=1.0,
    )  # fmt: skip
    server = NaiadServer(options)
    try:
        with pytest.raises(OSError, match="front end 0"):
            await server.start()
        assert server.pool is not None
        assert not server.pool.all_attached()
    finally:
        await server.stop()
        taken.close()
    assert all(not Path(f"/proc/{pid}").exists() for pid in server.pool.pids().values())
