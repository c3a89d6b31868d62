"""GrpcFrontEnd's connection policy, seen on the wire: a client that pings too often is sent
away, idle connections are closed, and one connection holds a bounded number of streams.

A raw HTTP/2 client (a few hand-made frames) shows exactly what the server sends; grpc's own
client would hide it, and it will not ping more than once a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import struct
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from naiad.engine.layers import EngineLayer
from naiad.transport.grpc_server import (
    INT32_MAX,
    MAX_STREAMS_PER_CONNECTION,
    ConnectionPolicy,
    GrpcFrontEnd,
)

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
SETTINGS, PING, GOAWAY = 0x4, 0x6, 0x7
ACK = 0x1
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
ENHANCE_YOUR_CALM = 0xB


class ReadyEngine(EngineLayer):
    def __init__(self) -> None:
        super().__init__(inner=None)  # type: ignore[arg-type]

    def server_ready(self) -> bool:
        return True


@asynccontextmanager
async def front_end(**options: object) -> AsyncIterator[GrpcFrontEnd]:
    front = GrpcFrontEnd(ReadyEngine(), "127.0.0.1", 0, INT32_MAX, **options)  # type: ignore[arg-type]
    await front.start()
    try:
        yield front
    finally:
        await front.stop(0)


async def settled(futures: list[asyncio.Future[object]], count: int) -> None:
    """Waits until `count` of `futures` are done (5 s at most)."""
    deadline = time.monotonic() + 5
    while sum(f.done() for f in futures) < count:
        assert time.monotonic() < deadline, f"fewer than {count} done within 5 s"
        await asyncio.sleep(0.01)


def frame(kind: int, flags: int = 0, payload: bytes = b"") -> bytes:
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + bytes(4) + payload


class RawConnection:
    """An HTTP/2 connection that sends only what a test writes (stream 0 frames)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    @asynccontextmanager
    async def open(cls, port: int) -> AsyncIterator[RawConnection]:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(PREFACE + frame(SETTINGS))
        try:
            yield cls(reader, writer)
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def next_frame(self, timeout_s: float = 5) -> tuple[int, int, bytes] | None:
        """(type, flags, payload), or None once the server closed the connection; raises
        TimeoutError when nothing comes within `timeout_s`."""
        try:
            head = await asyncio.wait_for(self.reader.readexactly(9), timeout_s)
            payload = await self.reader.readexactly(int.from_bytes(head[:3], "big"))
        except (asyncio.IncompleteReadError, ConnectionResetError):
            return None
        return head[3], head[4], payload

    async def until(self, kind: int, flags: int = 0) -> bytes:
        while (got := await self.next_frame()) is not None:
            if got[:2] == (kind, flags):
                return got[2]
        raise AssertionError(f"closed before a frame of type {kind}")

    def ping(self, n: int) -> None:
        self.writer.write(frame(PING, payload=n.to_bytes(8, "big")))


@pytest.mark.parametrize("policy", [ConnectionPolicy(), ConnectionPolicy(max_ping_strikes=5)])
async def test_a_client_pinging_too_often_is_sent_away(policy: ConnectionPolicy) -> None:
    async with front_end(connections=policy) as front:
        async with RawConnection.open(front.port) as connection:
            # No call in flight: every ping after the first is a strike, and the policy bears
            # max_ping_strikes of them.
            for n in range(policy.max_ping_strikes + 1):
                connection.ping(n)
                assert await connection.until(PING, ACK) == n.to_bytes(8, "big")
            with pytest.raises(TimeoutError):  # within bounds: nothing more comes
                await connection.next_frame(timeout_s=0.2)
            connection.ping(99)
            goaway = await connection.until(GOAWAY)
            assert int.from_bytes(goaway[4:8], "big") == ENHANCE_YOUR_CALM
            assert goaway[8:] == b"too_many_pings"
            assert await connection.next_frame() is None  # and the server hung up


async def test_idle_connections_are_closed() -> None:
    async with front_end(connections=ConnectionPolicy(max_idle_ms=100)) as front:
        async with RawConnection.open(front.port) as connection:
            started = time.monotonic()
            assert b"connection idle" in await connection.until(GOAWAY)
            assert time.monotonic() - started >= 0.09
            assert await connection.next_frame() is None


async def test_streams_per_connection_are_advertised_and_bounded() -> None:
    for cap, advertised in ((MAX_STREAMS_PER_CONNECTION, MAX_STREAMS_PER_CONNECTION), (None, None)):
        async with front_end(max_streams_per_connection=cap) as front:
            async with RawConnection.open(front.port) as connection:
                payload = await connection.until(SETTINGS)
                settings = {
                    int.from_bytes(payload[i : i + 2], "big"): int.from_bytes(
                        payload[i + 2 : i + 6], "big"
                    )
                    for i in range(0, len(payload), 6)
                }
                assert settings.get(SETTINGS_MAX_CONCURRENT_STREAMS) == advertised

    async with front_end(max_streams_per_connection=2) as front:
        async with grpc.aio.insecure_channel(front.address) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            watches = [stub.Watch(health_pb2.HealthCheckRequest()) for _ in range(3)]
            firsts = [asyncio.ensure_future(watch.read()) for watch in watches]
            await settled(firsts, 2)
            await asyncio.sleep(0.2)
            assert sum(f.done() for f in firsts) == 2  # the third waits in the client
            queued = next(i for i, f in enumerate(firsts) if not f.done())
            watches[(queued + 1) % 3].cancel()  # a slot frees up
            answer = await asyncio.wait_for(firsts[queued], 5)
            assert answer.status == health_pb2.HealthCheckResponse.SERVING
            for watch in watches:
                watch.cancel()


async def test_a_connection_that_never_finishes_its_handshake_is_cut_off() -> None:
    policy = ConnectionPolicy(handshake_timeout_ms=200)
    async with front_end(connections=policy) as front:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", front.port)  # no preface
        try:
            await asyncio.wait_for(reader.read(), 5)  # the server's SETTINGS, then EOF
            assert time.monotonic() - started >= 0.19
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()
