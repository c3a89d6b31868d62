"""One HTTP/1.1 connection: httptools (llhttp) parses, this class bounds and orders.

Requests are answered one at a time in the order they arrived, so a pipelining client gets
its answers in order; up to `max_pipelined` more are read ahead, then reading pauses. Every
wait on the client is bounded (see HttpLimits): an idle kept-alive connection, a head that
never completes, a body that stops arriving, an answer the client stops reading. A request
the parser refuses, or one over a size cap, is answered (after the answers it follows) and
the connection closed: after a framing error no later byte can be trusted.

A client that half-closes (shuts its write side) still gets the answers it is owed. One that
goes away (a reset, or the server cutting it) cancels the request being answered, which
withdraws it from its model's queue if it has not run yet.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import json
import logging
from collections.abc import Callable
from http import HTTPStatus

import httptools

from naiad.transport.http.limits import HttpLimits
from naiad.transport.http.messages import JSON, HttpRequest, HttpResponse

log = logging.getLogger("naiad.http")

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
OPEN_PATHS = frozenset({"/v2/health/live", "/v2/health/ready"})
"""Paths any TLS client may read when the server asks for client certificates: the kubelet's
HTTPS probes present none. Every other path, routes added later included, answers 401 to a
client without a verified certificate."""
_NEEDS_CLIENT_CERT = HttpResponse(HTTPStatus.UNAUTHORIZED, b"a client certificate is required\n")
LINGER_S = 2.0
"""After closing its write side, how long a connection drops what the client still sends."""


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing with an answer."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response


def _refusal(status: HTTPStatus, text: str) -> HttpResponse:
    return HttpResponse(status, json.dumps({"error": text}).encode(), JSON)


class _Queued:
    __slots__ = ("request", "keep_alive", "head_only")

    def __init__(self, request: HttpRequest, keep_alive: bool, head_only: bool) -> None:
        self.request = request
        self.keep_alive = keep_alive
        self.head_only = head_only


class HttpConnection(asyncio.Protocol):
    """Serves `handler` on one connection. With `mutual_tls` (the server asks for client
    certificates), a peer that presented none may read only OPEN_PATHS. `on_closed` is told
    once, when the connection is gone."""

    def __init__(
        self,
        handler: Callable[[HttpRequest], object],
        limits: HttpLimits,
        on_closed: Callable[[HttpConnection], None],
        mutual_tls: bool = False,
    ) -> None:
        self._handler = handler
        self._limits = limits
        self._on_closed = on_closed
        self._mutual_tls = mutual_tls
        self._loop = asyncio.get_running_loop()
        self._parser = httptools.HttpRequestParser(self)
        self._transport: asyncio.Transport | None = None
        self._certified = True
        self._queue: collections.deque[_Queued | HttpResponse] = collections.deque()
        self._answering: asyncio.Task[HttpResponse] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._send_timer: asyncio.TimerHandle | None = None
        self._fresh = True
        self._closing = False  # no more requests are read; close once the queue is answered
        self._reading_paused = False
        self._writing_paused = False
        self._lingering = False
        # The request being parsed
        self._in_message = False
        self._in_body = False
        self._url = b""
        self._headers: dict[str, str] = {}
        self._head_bytes = 0
        self._unparsed_head_bytes = 0
        self._body: list[bytes] = []
        self._body_bytes = 0

    # -- connection events

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self._transport = transport  # type: ignore[assignment]
        if self._mutual_tls:
            ssl_object = transport.get_extra_info("ssl_object")
            self._certified = ssl_object is not None and bool(ssl_object.getpeercert())
        self._arm(self._limits.head_timeout_s)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._timer, self._send_timer):
            if timer is not None:
                timer.cancel()
        if self._answering is not None:
            self._answering.cancel()
        self._queue.clear()
        self._closing = True
        self._on_closed(self)

    def eof_received(self) -> bool:
        if self._lingering:
            return False
        # A client may half-close after its last request: answer what is queued, then close.
        self._stop_reading()
        if not self._queue and self._answering is None:
            return False
        return True

    def pause_writing(self) -> None:
        self._writing_paused = True
        self._send_timer = self._loop.call_later(self._limits.send_timeout_s, self._abort)

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._send_timer is not None:
            self._send_timer.cancel()
            self._send_timer = None
        self._next()

    def data_received(self, data: bytes) -> None:
        if self._closing:
            return
        if not self._in_body:
            self._unparsed_head_bytes += len(data)
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            self._stop_reading()  # what follows an upgrade request is not HTTP/1.1
        except httptools.HttpParserCallbackError as exc:
            refused = exc.__context__
            if isinstance(refused, _Refused):
                self._refuse(refused.response)
            else:
                log.exception("HTTP parser callback failed")
                self._refuse(HttpResponse(HTTPStatus.INTERNAL_SERVER_ERROR))
        except httptools.HttpParserError as exc:
            self._refuse(_refusal(HTTPStatus.BAD_REQUEST, f"malformed HTTP request: {exc}"))
        else:
            if not self._in_body and self._unparsed_head_bytes > self._limits.max_header_bytes:
                self._refuse(self._head_too_large())
        self._next()

    def shutdown(self) -> None:
        """Stops reading requests: answers those read, then closes (at once when idle)."""
        self._stop_reading()
        self._next()

    def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # -- parser callbacks

    def on_message_begin(self) -> None:
        self._in_message = True
        self._url = b""
        self._headers = {}
        self._head_bytes = 0
        self._body = []
        self._body_bytes = 0
        if not self._fresh:
            self._arm(self._limits.head_timeout_s)
        self._fresh = False

    def on_url(self, url: bytes) -> None:
        self._url += url
        self._count_head(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count_head(len(name) + len(value) + 4)
        key = name.decode("latin-1").lower()
        text = value.strip(b" \t").decode("latin-1")  # llhttp keeps trailing whitespace
        known = self._headers.get(key)
        self._headers[key] = text if known is None else f"{known}, {text}"

    def on_headers_complete(self) -> None:
        self._unparsed_head_bytes = 0
        # llhttp is lenient where a server need not be: HTTP/0.9 and 2.0 request lines, and
        # absolute-form targets (meant for proxies).
        if self._parser.get_http_version() not in ("1.1", "1.0"):
            raise _Refused(
                _refusal(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "only HTTP/1.0 and 1.1 are served")
            )
        if not self._url.startswith(b"/"):
            raise _Refused(
                _refusal(HTTPStatus.BAD_REQUEST, "the request target must be an absolute path")
            )
        length = self._headers.get("content-length")
        chunked = "chunked" in self._headers.get("transfer-encoding", "").lower()
        if chunked or (length is not None and length != "0"):
            if length is not None and int(length) > self._limits.max_body_bytes:
                raise _Refused(self._body_too_large())
            self._in_body = True
            self._arm(self._limits.read_timeout_s)
            if self._headers.get("expect", "").lower() == "100-continue":
                if self._transport is not None and not self._queue and self._answering is None:
                    self._transport.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        self._body_bytes += len(body)
        if self._body_bytes > self._limits.max_body_bytes:
            raise _Refused(self._body_too_large())
        self._body.append(body)
        self._arm(self._limits.read_timeout_s)

    def on_message_complete(self) -> None:
        self._in_message = self._in_body = False
        self._unparsed_head_bytes = 0
        self._disarm()
        parser = self._parser
        method = parser.get_method().decode("ascii")
        path, _, query = self._url.decode("latin-1").partition("?")
        body = self._body[0] if len(self._body) == 1 else b"".join(self._body)
        request = HttpRequest(method, path, query, self._headers, body)
        self._queue.append(_Queued(request, parser.should_keep_alive(), method == "HEAD"))
        if len(self._queue) >= self._limits.max_pipelined and self._transport is not None:
            self._transport.pause_reading()
            self._reading_paused = True

    # -- answering

    def _next(self) -> None:
        """Starts answering the oldest queued request, or closes when nothing is left."""
        transport = self._transport
        if transport is None or self._answering is not None or self._writing_paused:
            return
        while self._queue:
            item = self._queue.popleft()
            if isinstance(item, HttpResponse):  # a refusal: the last answer on this connection
                transport.write(item.encode_head(keep_alive=False) + item.body)
                self._close()
                return
            if not self._certified and item.request.path not in OPEN_PATHS:
                if not self._write(_NEEDS_CLIENT_CERT, item):
                    return
                continue
            task = self._loop.create_task(self._answer(item.request))
            self._answering = task
            task.add_done_callback(functools.partial(self._answered, item=item))
            return
        if self._closing:
            self._close()
        elif self._reading_paused:
            self._reading_paused = False
            transport.resume_reading()
        if not self._in_message and not self._closing:
            self._arm(self._limits.idle_timeout_s)

    async def _answer(self, request: HttpRequest) -> HttpResponse:
        try:
            response = await self._handler(request)  # type: ignore[misc]
        except Exception:
            log.exception("HTTP handler failed on %s %s", request.method, request.path)
            return _refusal(HTTPStatus.INTERNAL_SERVER_ERROR, "internal error")
        if response is None:
            return _refusal(HTTPStatus.NOT_FOUND, f"no such endpoint: {request.path}")
        return response  # type: ignore[no-any-return]

    def _answered(self, task: asyncio.Task[HttpResponse], *, item: _Queued) -> None:
        self._answering = None
        transport = self._transport
        if task.cancelled() or transport is None or transport.is_closing():
            return
        if self._write(task.result(), item):
            self._next()

    def _write(self, response: HttpResponse, item: _Queued) -> bool:
        """Writes an answer; False when the connection closes after it."""
        transport = self._transport
        assert transport is not None
        keep_alive = item.keep_alive and not (self._closing and not self._queue)
        head = response.encode_head(keep_alive, item.head_only)
        if item.head_only or not response.body:
            transport.write(head)
        else:
            transport.writelines((head, response.body))
        if not keep_alive:
            self._stop_reading()
            self._queue.clear()
            self._close()
            return False
        return True

    # -- limits and closing

    def _count_head(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > self._limits.max_header_bytes:
            raise _Refused(self._head_too_large())

    def _head_too_large(self) -> HttpResponse:
        return _refusal(
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            f"request head larger than {self._limits.max_header_bytes} bytes",
        )

    def _body_too_large(self) -> HttpResponse:
        return _refusal(
            HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
            f"request body larger than the server's limit of {self._limits.max_body_bytes} bytes",
        )

    def _refuse(self, response: HttpResponse) -> None:
        self._stop_reading()
        self._queue.append(response)

    def _stop_reading(self) -> None:
        if self._closing:
            return
        self._closing = True
        self._disarm()
        if self._transport is not None and not self._transport.is_closing():
            self._transport.pause_reading()

    def _arm(self, timeout_s: float) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = self._loop.call_later(timeout_s, self._close)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _close(self) -> None:
        """Closes after what is written has gone. On plain TCP the write side closes first
        and what the client still sends is read and dropped for a moment (a lingering close):
        closing a socket with unread input resets the connection, and the reset can destroy
        the answer before the client reads it (a 413 after a body it is still sending)."""
        self._closing = True
        self._disarm()
        transport = self._transport
        if transport is None or transport.is_closing() or self._lingering:
            return
        if self._writing_paused and self._send_timer is None:
            self._send_timer = self._loop.call_later(self._limits.send_timeout_s, self._abort)
        if not transport.can_write_eof():
            transport.close()
            return
        self._lingering = True
        try:
            transport.write_eof()
        except OSError:  # the peer is gone already (reset, not connected): nothing to linger for
            transport.close()
            return
        transport.resume_reading()
        self._timer = self._loop.call_later(LINGER_S, transport.close)

    def _abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()
