"""The load generator's HTTP/1.1 client: pre-encoded v2 infer requests written as they are, one
request in flight per keep-alive connection, answers framed by Content-Length.

Both clients only frame and check the status; like InferResult on the gRPC side, nothing
decodes the outputs while the load runs. A connection the server closes, a framing error or a
timeout drops that connection; the next call opens a new one.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from typing import cast
from urllib.parse import quote

HEAD_END = b"\r\n\r\n"
MAX_HEAD_BYTES = 64 * 1024
RECV_BYTES = 256 * 1024


class HttpStatusError(Exception):
    """The server answered with a status other than 200; counted as ``HTTP_<status>``."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:200]!r}")
        self.status = status
        self.body = body


class ProtocolError(ConnectionError):
    """An answer the client cannot frame (no Content-Length, chunked, not HTTP/1.x)."""


@dataclass(frozen=True, slots=True)
class Head:
    status: int
    content_length: int
    keep_alive: bool


def parse_head(head: bytes) -> Head:
    """Status, Content-Length and keep-alive of a response head (ending in a blank line)."""
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ", 2)
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/1.") or not parts[1].isdigit():
        raise ProtocolError(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    keep_alive = parts[0] == b"HTTP/1.1"
    length = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"connection":
            keep_alive = value.strip().lower() == b"keep-alive"
        elif name == b"transfer-encoding":
            raise ProtocolError("a chunked answer; the generator frames by Content-Length only")
    if length is None:
        raise ProtocolError("an answer without Content-Length")
    return Head(int(parts[1]), length, keep_alive)


def infer_path(model: str, version: str = "") -> str:
    path = f"/v2/models/{quote(model, safe='')}"
    if version:
        path += f"/versions/{quote(version, safe='')}"
    return path + "/infer"


def infer_request(
    path: str, host: str, body: bytes, json_length: int | None, token: str | None = None
) -> bytes:
    """A whole keep-alive POST, encoded once and written as is for every call. With
    ``json_length`` the body is a JSON header of that many bytes followed by binary tensors."""
    head = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    if json_length is None:
        head.append("Content-Type: application/json")
    else:
        head += ["Content-Type: application/octet-stream"]
        head.append(f"Inference-Header-Content-Length: {json_length}")
    if token:
        head.append(f"Authorization: Bearer {token}")
    return ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.removeprefix("http://").removeprefix("https://").rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


def client_tls(root_certificates: bytes | None) -> ssl.SSLContext | None:
    """A TLS context trusting only ``root_certificates`` (PEM); None: plain text."""
    if root_certificates is None:
        return None
    return ssl.create_default_context(cadata=root_certificates.decode())


class _Framer:
    """Cuts answers out of the bytes a connection receives."""

    __slots__ = ("buffer", "head")

    def __init__(self) -> None:
        self.buffer = bytearray()
        self.head: Head | None = None

    def answer(self) -> tuple[Head, bytes] | None:
        """The next whole answer, if the buffer holds one."""
        if self.head is None:
            end = self.buffer.find(HEAD_END)
            if end < 0:
                if len(self.buffer) > MAX_HEAD_BYTES:
                    raise ProtocolError("an answer head over 64 KiB")
                return None
            self.head = parse_head(bytes(self.buffer[: end + 4]))
            del self.buffer[: end + 4]
        if len(self.buffer) < self.head.content_length:
            return None
        head, self.head = self.head, None
        body = bytes(self.buffer[: head.content_length])
        del self.buffer[: head.content_length]
        return head, body


class _Connection(asyncio.Protocol):
    """One asyncio connection with at most one request outstanding."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.reusable = True
        self._framer = _Framer()
        self._waiter: asyncio.Future[tuple[Head, bytes]] | None = None
        self.lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._framer.buffer += data
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        try:
            answer = self._framer.answer()
        except ProtocolError as exc:
            self.close()
            waiter.set_exception(exc)
            return
        if answer is not None:
            self._waiter = None
            waiter.set_result(answer)

    def connection_lost(self, exc: Exception | None) -> None:
        self.reusable = False
        if not self.lost.done():
            self.lost.set_result(None)
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_exception(ConnectionError(f"connection lost: {exc or 'closed by server'}"))

    def usable(self) -> bool:
        return self.reusable and self.transport is not None and not self.transport.is_closing()

    async def request(self, data: bytes) -> tuple[Head, bytes]:
        assert self.transport is not None
        self._waiter = asyncio.get_running_loop().create_future()
        self.transport.write(data)
        head, body = await self._waiter
        self.reusable = self.reusable and head.keep_alive
        return head, body

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None:
            self.transport.close()


class AsyncHttpClient:
    """Keep-alive connections to one server, opened on demand: each concurrent call takes an
    idle one or opens another, so a closed loop at concurrency c holds c connections."""

    def __init__(
        self, address: str, tls: ssl.SSLContext | None = None, timeout_s: float | None = None
    ) -> None:
        self.host, self.port = split_address(address)
        self._tls = tls
        self._timeout_s = timeout_s
        self._idle: list[_Connection] = []
        self._open_connections: set[_Connection] = set()

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            _Connection, self.host, self.port, ssl=self._tls
        )
        sock = connection.transport.get_extra_info("socket") if connection.transport else None
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._open_connections.add(connection)
        connection.lost.add_done_callback(lambda _: self._open_connections.discard(connection))
        return connection

    async def post(self, request: bytes) -> bytes:
        """Sends one pre-encoded request; returns the answer's body, raises HttpStatusError
        for a status other than 200."""
        connection = None
        while self._idle and connection is None:
            connection = self._idle.pop()
            if not connection.usable():  # closed by the server while idle
                connection = None
        if connection is None:
            connection = await self._open()
        try:
            if self._timeout_s is None:
                head, body = await connection.request(request)
            else:
                async with asyncio.timeout(self._timeout_s):
                    head, body = await connection.request(request)
        except BaseException:
            connection.close()  # an answer may still be on its way: never reuse it
            raise
        if connection.reusable:
            self._idle.append(connection)
        else:
            connection.close()
        if head.status != 200:
            raise HttpStatusError(head.status, body)
        return body

    async def close(self, grace_s: float = 2.0) -> None:
        """Closes every connection; waits for them to go (a TLS close takes round trips, and
        uvloop refuses to close a loop with transports still open), aborting stragglers."""
        self._idle = []
        connections = list(self._open_connections)
        for connection in connections:
            connection.close()
        if connections:
            await asyncio.wait([c.lost for c in connections], timeout=grace_s / 2)
        stragglers = [c for c in connections if not c.lost.done()]
        for connection in stragglers:  # e.g. a TLS peer that never answers close_notify
            if connection.transport is not None:
                connection.transport.abort()
        if stragglers:
            await asyncio.wait([c.lost for c in stragglers], timeout=grace_s / 2)
        # connection_lost runs before the loop lets go of the socket's handle.
        await asyncio.sleep(0.01)


class SyncHttpClient:
    """Blocking calls, one keep-alive socket per calling thread."""

    def __init__(
        self, address: str, tls: ssl.SSLContext | None = None, timeout_s: float | None = None
    ) -> None:
        self.host, self.port = split_address(address)
        self._tls = tls
        self._timeout_s = timeout_s
        self._local = threading.local()
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def _socket(self) -> socket.socket:
        sock: socket.socket | None = getattr(self._local, "sock", None)
        if sock is None:
            sock = socket.create_connection((self.host, self.port), timeout=self._timeout_s)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self._tls is not None:
                sock = self._tls.wrap_socket(sock, server_hostname=self.host)
            self._local.sock, self._local.framer = sock, _Framer()
            with self._lock:
                self._sockets.append(sock)
        return sock

    def _drop(self) -> None:
        sock = getattr(self._local, "sock", None)
        self._local.sock = None
        if sock is not None:
            sock.close()

    def post(self, request: bytes) -> bytes:
        """As AsyncHttpClient.post, blocking; ``timeout_s`` bounds each send and read."""
        sock = self._socket()
        framer: _Framer = self._local.framer
        try:
            sock.sendall(request)
            while (answer := framer.answer()) is None:
                data = sock.recv(RECV_BYTES)
                if not data:
                    raise ConnectionError("connection lost: closed by server")
                framer.buffer += data
        except BaseException:
            self._drop()
            raise
        head, body = answer
        if not head.keep_alive:
            self._drop()
        if head.status != 200:
            raise HttpStatusError(head.status, body)
        return body

    def close(self) -> None:
        with self._lock:
            sockets, self._sockets = self._sockets, []
        for sock in sockets:
            sock.close()


def get_json(
    address: str,
    path: str,
    tls: ssl.SSLContext | None = None,
    token: str | None = None,
    timeout_s: float = 5.0,
) -> object:
    """One GET on a fresh connection (for the harness's probes, not the load): the decoded JSON
    body; raises HttpStatusError, OSError or ValueError."""
    host, port = split_address(address)
    head = f"GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    sock = socket.create_connection((host, port), timeout=timeout_s)
    if tls is not None:
        sock = tls.wrap_socket(sock, server_hostname=host)
    framer = _Framer()
    with sock:
        sock.sendall((head + "\r\n").encode("latin-1"))
        while (answer := framer.answer()) is None:
            data = sock.recv(RECV_BYTES)
            if not data:
                raise ConnectionError("connection lost: closed by server")
            framer.buffer += data
    status, body = answer[0].status, answer[1]
    if status != 200:
        raise HttpStatusError(status, body)
    return json.loads(body)
