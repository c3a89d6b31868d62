"""A small HTTP/1.1 listener on the server's event loop, for GET and HEAD only, plain or TLS.

Probes and Prometheus scrapes need nothing more, and running on the same loop as gRPC lets the
server stop everything in order. Keep-alive is honoured (Prometheus reuses its connection);
bodies of requests are not accepted.

The listener accepts connections itself (instead of asyncio.start_server) so that a connection
counts against `HttpLimits.max_connections` from the moment it is accepted, TLS handshake
included: a client that opens sockets and never finishes a handshake cannot exhaust the
process's file descriptors. Every wait on a client is bounded (see HttpLimits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from naiad.security.tls import ServerTls

log = logging.getLogger("naiad.http")

MAX_HEADER_BYTES = 16 * 1024
BACKLOG = 128
ACCEPT_RETRY_S = 0.1
"""Pause after a failed accept (out of file descriptors, say) before accepting again."""

OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})
"""Paths any TLS client may read when the server asks for client certificates: the kubelet's
HTTPS probes present none. Every other path, routes added later included, needs a verified
client certificate."""


@dataclass(frozen=True)
class HttpLimits:
    """How long the listener waits on a client, and how many clients it holds at once."""

    idle_timeout_s: float = 75.0
    """A kept-alive connection may wait this long for the first byte of its next request
    (above Prometheus' default 60 s scrape gap)."""
    head_timeout_s: float = 10.0
    """A request head must be complete this long after its first byte (on a new connection:
    after the connection is ready), however steadily its bytes arrive: a client dribbling a
    header (slow loris) is cut off."""
    handshake_timeout_s: float = 10.0
    """TLS handshake, and TLS shutdown, bound."""
    send_timeout_s: float = 10.0
    """A client that stops reading an answer is cut off after this long."""
    max_connections: int = 256
    """Open connections, those in a TLS handshake included; probes and scrapes need a handful.
    Beyond it a plain connection gets a 503 and is closed, a TLS one is closed at once."""

    def __post_init__(self) -> None:
        for name in ("idle_timeout_s", "head_timeout_s", "handshake_timeout_s", "send_timeout_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"HttpLimits.{name} must be positive, not {getattr(self, name)}")
        if self.max_connections < 1:
            raise ValueError(f"HttpLimits.max_connections must be at least 1: {self}")


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class RequestHead:
    """A parsed request line and header fields."""

    method: str
    target: str
    """As sent: an absolute path, with its query string if any."""
    version: str
    """HTTP/1.0 or HTTP/1.1."""
    headers: Mapping[str, str]
    """Field names lower-cased; a repeated field's values joined by ", "."""

    @property
    def path(self) -> str:
        return self.target.partition("?")[0]

    @property
    def keep_alive(self) -> bool:
        connection = self.headers.get("connection", "").lower()
        return connection != "close" and (self.version == "HTTP/1.1" or connection == "keep-alive")

    @property
    def has_body(self) -> bool:
        return "transfer-encoding" in self.headers or self.headers.get("content-length", "0") != "0"


Route = Callable[[RequestHead], Awaitable[Response | None]]
"""Answers a GET for a request head (its `path` has no query string), or None when the path
is not its own."""

_TOKEN = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
_TARGET = frozenset(range(0x21, 0x7F))
_FIELD_VALUE = frozenset(range(0x20, 0x7F)) | frozenset(range(0x80, 0x100)) | {0x09}


def parse_head(head: bytes) -> RequestHead:
    """Parses a request head: the request line and header lines, each ended by CRLF, then an
    empty line (which may be left off). Pure; raises ValueError for anything malformed, strictly
    enough that no two readers could frame the request differently: a bare CR or LF, a space
    before a field's colon, folded lines, a non-numeric or conflicting Content-Length."""
    if head.endswith(b"\r\n\r\n"):
        head = head[:-4]
    elif head.endswith(b"\r\n"):
        head = head[:-2]
    request_line, *field_lines = head.split(b"\r\n")
    parts = request_line.split(b" ")
    if len(parts) != 3:
        raise ValueError(f"request line is not 'METHOD TARGET VERSION': {request_line[:80]!r}")
    method, target, version = parts
    if not method or not set(method) <= _TOKEN:
        raise ValueError(f"bad method {method[:40]!r}")
    if not target.startswith(b"/") or not set(target) <= _TARGET:
        raise ValueError(f"bad request target {target[:80]!r}")
    if version not in (b"HTTP/1.0", b"HTTP/1.1"):
        raise ValueError(f"unsupported version {version[:20]!r}")
    headers: dict[str, str] = {}
    for line in field_lines:
        name, colon, value = line.partition(b":")
        if not colon or not name or not set(name) <= _TOKEN:
            raise ValueError(f"bad header line {line[:80]!r}")
        value = value.strip(b" \t")
        if not set(value) <= _FIELD_VALUE:
            raise ValueError(f"control character in header {name[:40]!r}")
        key, text = name.decode("ascii").lower(), value.decode("latin-1")
        if key in headers:
            if key == "content-length" and headers[key] != text:
                raise ValueError("conflicting Content-Length headers")
            text = text if key == "content-length" else f"{headers[key]}, {text}"
        headers[key] = text
    length = headers.get("content-length")
    if length is not None:
        if not (length.isascii() and length.isdigit() and len(length) <= 18):
            raise ValueError(f"bad Content-Length {length[:20]!r}")
        headers["content-length"] = str(int(length))
    return RequestHead(method.decode("ascii"), target.decode("ascii"), version.decode(), headers)


_NEEDS_CLIENT_CERT = Response(HTTPStatus.UNAUTHORIZED, b"a client certificate is required\n")
_TOO_MANY = Response(HTTPStatus.SERVICE_UNAVAILABLE, b"too many connections\n")


class HttpListener:
    """Serves `route` on host:port; port 0 picks a free one (read `port` after start()).

    With `tls`, connections are TLS; when it has a client CA, only OPEN_PATHS answer clients
    without a verified certificate, every other path answers 401.
    """

    def __init__(
        self,
        host: str,
        port: int,
        route: Route,
        name: str,
        *,
        tls: ServerTls | None = None,
        limits: HttpLimits = HttpLimits(),
    ) -> None:
        self.host = host
        self.port = port
        self.name = name
        self._route = route
        self._tls = tls
        self._limits = limits
        self._sockets: list[socket.socket] = []
        self._acceptors: list[asyncio.Task[None]] = []
        self._connections: set[asyncio.Task[None]] = set()
        self._full = False

    @property
    def address(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "[::]", "") else self.host
        return f"{host}:{self.port}"

    async def start(self) -> None:
        """Binds and starts accepting; raises OSError when the port cannot be bound."""
        loop = asyncio.get_running_loop()
        self._sockets = await _bind(self.host, self.port)
        self.port = self._sockets[0].getsockname()[1]
        self._acceptors = [loop.create_task(self._accept(sock)) for sock in self._sockets]

    async def serving(self, serving: bool) -> None:
        pass  # its routes read readiness on every request

    async def stop(self, grace_s: float = 0.0) -> None:
        """Stops accepting and closes open connections, answering none half-way (its answers
        take no time worth a grace)."""
        for task in self._acceptors:
            task.cancel()
        await asyncio.gather(*self._acceptors, return_exceptions=True)
        for sock in self._sockets:
            sock.close()
        self._acceptors, self._sockets = [], []
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)

    async def _accept(self, listening: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection, _ = await loop.sock_accept(listening)
            except OSError as exc:  # out of file descriptors, or the peer gave up already
                log.warning("%s listener: accept failed: %s", self.name, exc)
                await asyncio.sleep(ACCEPT_RETRY_S)
                continue
            if len(self._connections) >= self._limits.max_connections:
                self._refuse(connection)
                continue
            self._full = False
            task = loop.create_task(self._serve(connection))
            self._connections.add(task)
            task.add_done_callback(self._connections.discard)

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
                connection.send(_encode(_TOO_MANY, keep_alive=False))

    async def _serve(self, connection: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=MAX_HEADER_BYTES)
        protocol = asyncio.StreamReaderProtocol(reader)
        tls: dict[str, Any] = {}
        if self._tls is not None:
            tls = dict(
                ssl=self._tls.ssl_context(),
                ssl_handshake_timeout=self._limits.handshake_timeout_s,
                ssl_shutdown_timeout=self._limits.handshake_timeout_s,
            )
        try:
            transport, _ = await loop.connect_accepted_socket(lambda: protocol, connection, **tls)
        except (OSError, ssl.SSLError):  # a failed or timed-out handshake; nothing to answer
            connection.close()
            return
        writer = asyncio.StreamWriter(transport, protocol, reader, loop)
        certified = self._has_client_certificate(writer)
        try:
            fresh = True
            while await self._one_request(reader, writer, fresh, certified):
                fresh = False
        except (TimeoutError, asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        except asyncio.LimitOverrunError:
            with contextlib.suppress(Exception):
                await self._write(writer, Response(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE))
        finally:
            writer.close()
            try:
                async with asyncio.timeout(self._limits.send_timeout_s):
                    await writer.wait_closed()
            except Exception:  # a peer that never reads what is left, or a TLS close gone wrong
                transport.abort()

    def _has_client_certificate(self, writer: asyncio.StreamWriter) -> bool:
        """True when no certificate is asked for, or the client presented one that verified (a
        presented one that did not verify failed the handshake)."""
        if self._tls is None or not self._tls.mutual:
            return True
        ssl_object = writer.get_extra_info("ssl_object")
        return ssl_object is not None and bool(ssl_object.getpeercert())

    async def _one_request(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        fresh: bool,
        certified: bool,
    ) -> bool:
        """Answers one request; False when the connection should close."""
        raw = await self._read_head(reader, fresh)
        try:
            head = parse_head(raw)
        except ValueError:
            await self._write(writer, Response(HTTPStatus.BAD_REQUEST))
            return False
        if head.has_body:
            await self._write(writer, Response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE))
            return False
        if not certified and head.path not in OPEN_PATHS:
            response = _NEEDS_CLIENT_CERT
        elif head.method not in ("GET", "HEAD"):
            response = Response(HTTPStatus.METHOD_NOT_ALLOWED)
        else:
            response = await self._answer(head)
        await self._write(writer, response, head.keep_alive, head_only=head.method == "HEAD")
        return head.keep_alive

    async def _read_head(self, reader: asyncio.StreamReader, fresh: bool) -> bytes:
        """The next request head. A new connection's first request has head_timeout_s in all;
        later ones may idle idle_timeout_s before their first byte, then have head_timeout_s."""
        first = b""
        if not fresh:
            async with asyncio.timeout(self._limits.idle_timeout_s):
                first = await reader.readexactly(1)
        async with asyncio.timeout(self._limits.head_timeout_s):
            return first + await reader.readuntil(b"\r\n\r\n")

    async def _answer(self, head: RequestHead) -> Response:
        try:
            response = await self._route(head)
        except Exception:
            log.exception("%s listener failed to answer %s", self.name, head.path)
            return Response(HTTPStatus.INTERNAL_SERVER_ERROR)
        return response if response is not None else Response(HTTPStatus.NOT_FOUND)

    async def _write(
        self,
        writer: asyncio.StreamWriter,
        response: Response,
        keep_alive: bool = False,
        head_only: bool = False,
    ) -> None:
        writer.write(_encode(response, keep_alive, head_only))
        async with asyncio.timeout(self._limits.send_timeout_s):
            await writer.drain()


def _encode(response: Response, keep_alive: bool, head_only: bool = False) -> bytes:
    reason = HTTPStatus(response.status).phrase
    head = (
        f"HTTP/1.1 {response.status} {reason}\r\n"
        f"Content-Type: {response.content_type}\r\n"
        f"Content-Length: {len(response.body)}\r\n"
        f"Connection: {'keep-alive' if keep_alive else 'close'}\r\n\r\n"
    )
    return head.encode("latin-1") + (b"" if head_only else response.body)


async def _bind(host: str, port: int) -> list[socket.socket]:
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
