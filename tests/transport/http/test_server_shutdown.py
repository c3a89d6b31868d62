"""HttpServer.stop: answers in flight finish within the grace (told Connection: close), idle
connections close at once, and what outlives the grace is cut; a client that goes away
cancels the request being answered."""

from __future__ import annotations

import asyncio
import socket
import struct
from http import HTTPStatus

from naiad.transport.http.limits import HttpLimits
from naiad.transport.http.messages import HttpRequest, HttpResponse
from naiad.transport.http.server import HttpServer


class Held:
    """A handler whose /slow answers wait for `release`; counts cancellations."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.cancelled = 0
        self.seen: list[str] = []

    async def __call__(self, request: HttpRequest) -> HttpResponse | None:
        self.seen.append(request.path)
        if request.path == "/slow":
            self.started.set()
            try:
                await self.release.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return HttpResponse(HTTPStatus.OK, request.path.encode())


async def started(handler: Held, limits: HttpLimits | None = None) -> HttpServer:
    server = HttpServer("127.0.0.1", 0, handler, "test", limits=limits or HttpLimits())
    await server.start()
    return server


async def test_stop_lets_an_answer_in_flight_finish_and_closes_idle_connections() -> None:
    handler = Held()
    server = await started(handler)
    idle_reader, idle_writer = await asyncio.open_connection("127.0.0.1", server.port)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /slow HTTP/1.1\r\n\r\n")
    await asyncio.wait_for(handler.started.wait(), 5)

    stopping = asyncio.create_task(server.stop(grace_s=5))
    assert await asyncio.wait_for(idle_reader.read(), 5) == b""  # idle: closed at once
    await asyncio.sleep(0.1)
    assert not stopping.done()  # waiting for the answer it owes
    handler.release.set()
    answer = await asyncio.wait_for(reader.read(), 5)
    assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b"/slow")
    assert b"Connection: close" in answer
    await asyncio.wait_for(stopping, 5)
    with_refused = asyncio.open_connection("127.0.0.1", server.port)
    try:
        await asyncio.wait_for(with_refused, 2)
        raise AssertionError("the port still accepts after stop")
    except OSError:
        pass
    writer.close()
    idle_writer.close()


async def test_what_outlives_the_grace_is_cut() -> None:
    handler = Held()
    server = await started(handler)
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    writer.write(b"GET /slow HTTP/1.1\r\n\r\n")
    await asyncio.wait_for(handler.started.wait(), 5)
    await asyncio.wait_for(server.stop(grace_s=0.1), 5)
    try:
        assert await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionResetError:
        pass
    assert handler.cancelled == 1
    writer.close()


async def test_a_client_that_resets_cancels_its_request_one_that_half_closes_is_answered() -> None:
    handler = Held()
    server = await started(handler)
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /slow HTTP/1.1\r\n\r\n")
        writer.write_eof()  # half-closed: it still reads
        await asyncio.wait_for(handler.started.wait(), 5)
        await asyncio.sleep(0.05)
        handler.release.set()
        assert (await asyncio.wait_for(reader.read(), 5)).endswith(b"/slow")
        writer.close()

        handler.release.clear()
        handler.started.clear()
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /slow HTTP/1.1\r\n\r\n")
        await asyncio.wait_for(handler.started.wait(), 5)
        sock = writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.transport.abort()  # a reset: the client is gone
        for _ in range(100):
            if handler.cancelled:
                break
            await asyncio.sleep(0.02)
        assert handler.cancelled == 1
    finally:
        await server.stop()


async def test_pipelined_requests_are_answered_in_order_and_read_ahead_is_bounded() -> None:
    handler = Held()
    server = await started(handler, HttpLimits(max_pipelined=2))
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        paths = ["/slow", *(f"/{n}" for n in range(20))]
        writer.write(b"".join(f"GET {p} HTTP/1.1\r\n\r\n".encode() for p in paths))
        await asyncio.wait_for(handler.started.wait(), 5)
        await asyncio.sleep(0.1)
        assert handler.seen == ["/slow"]  # the rest waits its turn
        handler.release.set()
        bodies = []
        for _ in paths:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
            bodies.append((await reader.readexactly(length)).decode())
        assert bodies == paths and handler.seen == paths
        writer.close()
    finally:
        await server.stop()
