"""An HTTP/1.1 front end on the server's event loop, plain or TLS.

The server accepts connections itself (instead of loop.create_server) so that a connection
counts against `HttpLimits.max_connections` from the moment it is accepted, TLS handshake
included: a client that opens sockets and never finishes a handshake cannot exhaust the
process's file descriptors. Each accepted socket then becomes an HttpConnection.

Stopping is graceful: the listening sockets close first, idle connections at once, busy ones
after the answers they owe (each told `Connection: close`), within the grace; what is left
after it is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from typing import TYPE_CHECKING

from naiad.transport.http.connection import HttpConnection
from naiad.transport.http.limits import HttpLimits
from naiad.transport.http.messages import Handler, HttpResponse

if TYPE_CHECKING:
    from naiad.security.tls import ServerTls

log = logging.getLogger("naiad.http")

BACKLOG = 1024
ACCEPT_RETRY_S = 0.1
"""Pause after a failed accept (out of file descriptors, say) before accepting again."""

DEFAULT_LIMITS = HttpLimits()
_TOO_MANY = HttpResponse(503, b"too many connections\n")


class HttpServer:
    """Serves `handler` on host:port; port 0 picks a free one (read `port` after start())."""

    def __init__(
        self,
        host: str,
        port: int,
        handler: Handler,
        name: str,
        *,
        tls: ServerTls | None = None,
        limits: HttpLimits = DEFAULT_LIMITS,
        reuse_port: bool = False,
    ) -> None:
        """`reuse_port`: bind with SO_REUSEPORT, so that front-end processes share the port
        (naiad.frontends) and the kernel spreads connections over them."""
        self.host = host
        self.port = port
        self.name = name
        self._handler = handler
        self._tls = tls
        self._limits = limits
        self._reuse_port = reuse_port
        self._sockets: list[socket.socket] = []
        self._acceptors: list[asyncio.Task[None]] = []
        self._handshakes: set[asyncio.Task[None]] = set()
        self._connections: set[HttpConnection] = set()
        self._all_closed: asyncio.Event | None = None
        self._full = False

    @property
    def address(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "[::]", "") else self.host
        return f"{host}:{self.port}"

    async def start(self) -> None:
        """Binds and starts accepting; raises OSError when the port cannot be bound."""
        loop = asyncio.get_running_loop()
        self._sockets = await bind(self.host, self.port, reuse_port=self._reuse_port)
        self.port = self._sockets[0].getsockname()[1]
        self._acceptors = [loop.create_task(self._accept(sock)) for sock in self._sockets]

    async def serving(self, serving: bool) -> None:
        pass  # readiness is read on every request

    async def stop(self, grace_s: float = 0.0) -> None:
        """Stops accepting; connections finish the answers they owe within `grace_s`."""
        for task in self._acceptors:
            task.cancel()
        await asyncio.gather(*self._acceptors, return_exceptions=True)
        for sock in self._sockets:
            sock.close()
        self._acceptors, self._sockets = [], []
        for task in list(self._handshakes):
            task.cancel()
        await asyncio.gather(*self._handshakes, return_exceptions=True)
        if self._connections:
            self._all_closed = asyncio.Event()
            for connection in list(self._connections):
                connection.shutdown()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(grace_s, 0.05)):
                    await self._all_closed.wait()
            for connection in list(self._connections):
                connection.abort()

    def _closed(self, connection: HttpConnection) -> None:
        self._connections.discard(connection)
        if not self._connections and self._all_closed is not None:
            self._all_closed.set()

    async def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection, _ = await loop.sock_accept(listening)
            except OSError as exc:  # out of file descriptors, or the peer gave up already
                log.warning("%s listener: accept failed: %s", self.name, exc)
                await asyncio.sleep(ACCEPT_RETRY_S)
                continue
            if len(self._connections) + len(self._handshakes) >= self._limits.max_connections:
                self._refuse(connection)
                continue
            self._full = False
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = loop.create_task(self._open(connection))
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    def _refuse(self, connection: socket.socket) -> None:
        if not self._full:
            self._full = True
            log.warning(
                "%s listener: %d connections open, refusing more",
                self.name,
                self._limits.max_connections,
            )
        with contextlib.suppress(OSError), connection:
            if self._tls is None:  # a TLS client could not read an answer before a handshake
                connection.setblocking(False)
                connection.send(_TOO_MANY.encode_head(keep_alive=False) + _TOO_MANY.body)

    async def _open(self, sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        tls = self._tls
        mutual = tls is not None and tls.mutual

        created: list[HttpConnection] = []

        def protocol() -> HttpConnection:
            connection = HttpConnection(self._handler, self._limits, self._closed, mutual)
            self._connections.add(connection)
            created.append(connection)
            return connection

        try:
            if tls is None:
                await loop.connect_accepted_socket(protocol, sock)
            else:
                await loop.connect_accepted_socket(
                    protocol,
                    sock,
                    ssl=tls.ssl_context(),
                    ssl_handshake_timeout=self._limits.handshake_timeout_s,
                    ssl_shutdown_timeout=self._limits.handshake_timeout_s,
                )
        except (OSError, ssl.SSLError, asyncio.CancelledError) as exc:
            # A failed or timed-out handshake (nothing to answer), or the server stopping.
            sock.close()
            for connection in created:  # never made, so never told it was lost
                self._closed(connection)
            if isinstance(exc, asyncio.CancelledError):
                raise


async def bind(host: str, port: int, *, reuse_port: bool = False) -> list[socket.socket]:
    """Listening sockets for every address `host` resolves to ("" or "::" style wildcards
    included); with port 0 they all share the port the first one got."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(
        host.strip("[]") or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    sockets: list[socket.socket] = []
    try:
        for family, kind, proto, _, address in dict.fromkeys(infos):
            sock = socket.socket(family, kind, proto)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if reuse_port:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            if family == socket.AF_INET6:  # as asyncio does: IPv4 gets its own socket
                sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            if port == 0 and len(sockets) > 1:
                address = (address[0], sockets[0].getsockname()[1], *address[2:])
            sock.bind(address)
            sock.listen(BACKLOG)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets
