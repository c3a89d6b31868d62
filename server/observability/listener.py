"""A small HTTP/1.1 listener on the server's event loop, for GET and HEAD only.

Probes and Prometheus scrapes need nothing more, and running on the same loop as gRPC lets the
server stop everything in order. Keep-alive is honoured (Prometheus reuses its connection);
bodies of requests are not accepted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from http import HTTPStatus

log = logging.getLogger("naiad.http")

MAX_HEADER_BYTES = 16 * 1024
IDLE_TIMEOUT_S = 75.0
"""How long a kept-alive connection may sit idle (above Prometheus' default 60 s scrape gap)."""


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


Route = Callable[[str], Awaitable[Response | None]]
"""Answers a GET for a path (query string removed), or None when the path is not its own."""


class HttpListener:
    """Serves `route` on host:port; port 0 picks a free one (read `port` after start())."""

    def __init__(self, host: str, port: int, route: Route, name: str) -> None:
        self.host = host
        self.port = port
        self.name = name
        self._route = route
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "[::]", "") else self.host
        return f"{host}:{self.port}"

    async def start(self) -> None:
        """Binds and starts accepting; raises OSError when the port cannot be bound."""
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=MAX_HEADER_BYTES, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def serving(self, serving: bool) -> None:
        pass  # its routes read readiness on every request

    async def stop(self, grace_s: float = 0.0) -> None:
        """Stops accepting and closes open connections, answering none half-way (its answers
        take no time worth a grace)."""
        if self._server is None:
            return
        self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        await self._server.wait_closed()
        self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            while await self._one_request(reader, writer):
                pass
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError):
            pass
        except asyncio.LimitOverrunError:
            await _write(writer, Response(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE), False)
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one_request(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> bool:
        """Answers one request; False when the connection should close."""
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), IDLE_TIMEOUT_S)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            await _write(writer, Response(HTTPStatus.BAD_REQUEST), False)
            return False
        method, target, version = parts
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        connection = headers.get("connection", "").lower()
        keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
        if headers.get("content-length", "0") != "0" or "transfer-encoding" in headers:
            await _write(writer, Response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE), False)
            return False
        if method not in ("GET", "HEAD"):
            response = Response(HTTPStatus.METHOD_NOT_ALLOWED)
        else:
            response = await self._answer(target.partition("?")[0])
        await _write(writer, response, keep_alive, head_only=method == "HEAD")
        return keep_alive

    async def _answer(self, path: str) -> Response:
        try:
            response = await self._route(path)
        except Exception:
            log.exception("%s listener failed to answer %s", self.name, path)
            return Response(HTTPStatus.INTERNAL_SERVER_ERROR)
        return response if response is not None else Response(HTTPStatus.NOT_FOUND)


async def _write(
    writer: asyncio.StreamWriter, response: Response, keep_alive: bool, head_only: bool = False
) -> None:
    reason = HTTPStatus(response.status).phrase
    head = (
        f"HTTP/1.1 {response.status} {reason}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + (b"" if head_only else response.body))
    await writer.drain()
