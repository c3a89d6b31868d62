"""Fuzz targets on live HTTP servers in this process: the connection layer alone
(`http_server`), and the whole REST API of a real NaiadServer serving real models
(`http_rest`). Both send the fuzzer's request on a TCP connection, half-close it, read the
answer, and check that every answer is well formed and the server keeps serving.

The server runs on an event loop this module drives while it waits for an answer; the
engine's instance threads finish batches in between and hand results to that loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import logging
import os
import re
import tempfile
from collections.abc import Callable

import atheris

from fuzz.http_bodies import infer_body
from fuzz.targets import _check
from naiad.app import NaiadServer, ServerOptions
from naiad.demo import write_demo_repository
from naiad.security.server_security import SecurityOptions
from naiad.transport.http.limits import HttpLimits
from naiad.transport.http.messages import HttpRequest, HttpResponse
from naiad.transport.http.server import HttpServer

_ANSWER_TIMEOUT_S = 2.0
_CHECK_EVERY = 256
_STATUS_LINE = re.compile(rb"(?:^|\r\n\r\n)HTTP/1\.1 (\d{3}) ")


class _Exchange:
    """Talks to one server on 127.0.0.1: one connection per input, then EOF, then read all."""

    def __init__(self, loop: asyncio.AbstractEventLoop, port: int, errors: list[dict]) -> None:
        self.loop = loop
        self.port = port
        self.errors = errors
        self.inputs = 0
        self.fds = len(os.listdir("/proc/self/fd"))

    async def _send(self, data: bytes) -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", self.port)
        try:
            with contextlib.suppress(ConnectionError):
                writer.write(data)
                await writer.drain()
                writer.write_eof()
            with contextlib.suppress(ConnectionError):
                return await reader.read()
            return b""
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def __call__(self, data: bytes, statuses: set[int]) -> bytes:
        """Sends `data`; every answer on the connection must carry one of `statuses`."""
        answer = self.loop.run_until_complete(asyncio.wait_for(self._send(data), _ANSWER_TIMEOUT_S))
        _check(not self.errors, f"the server failed: {self.errors}")
        for status in _STATUS_LINE.findall(answer):
            _check(int(status) in statuses, f"status {status!r} for {data[:120]!r}")
        _check(not answer or answer.startswith(b"HTTP/1.1 "), f"malformed answer {answer[:80]!r}")
        self.inputs += 1
        return answer

    def check_descriptors(self) -> None:
        self.loop.run_until_complete(asyncio.sleep(0.01))  # let closed connections go
        fds = len(os.listdir("/proc/self/fd"))
        _check(fds <= self.fds + 8, f"{fds} open descriptors, {self.fds} at start")


def _loop() -> tuple[asyncio.AbstractEventLoop, list[dict]]:
    logging.getLogger("naiad").setLevel(logging.CRITICAL)
    loop = asyncio.new_event_loop()
    errors: list[dict] = []
    loop.set_exception_handler(lambda _loop, context: errors.append(context))
    return loop, errors


# The connection layer alone: statuses it can give with a handler that knows one path.
_LISTENER_STATUSES = {200, 400, 404, 405, 413, 431, 505}
_listener: _Exchange | None = None


def _start_listener() -> _Exchange:
    loop, errors = _loop()

    async def route(request: HttpRequest) -> HttpResponse | None:
        return HttpResponse(200, b"live") if request.path == "/v2/health/live" else None

    server = HttpServer("127.0.0.1", 0, route, "fuzz", limits=HttpLimits(max_body_bytes=4096))
    loop.run_until_complete(server.start())
    return _Exchange(loop, server.port, errors)


def http_server(data: bytes) -> None:
    """Raw bytes on a TCP connection to a real HttpServer, then EOF: every answer must be
    well formed, no task may fail, and a health check must pass (with no descriptor left
    open) every few hundred inputs."""
    global _listener
    if _listener is None:
        _listener = _start_listener()
    _listener(data, _LISTENER_STATUSES)
    if _listener.inputs % _CHECK_EVERY == 0:
        answer = _listener(b"GET /v2/health/live HTTP/1.1\r\nHost: x\r\n\r\n", {200})
        _check(answer.endswith(b"\r\n\r\nlive"), f"health check body {answer[-40:]!r}")
        _listener.check_descriptors()


# The REST API of a real server. 500 is never right: a bad request is the caller's error.
# 403: the admin group (log settings) is switched off, so inputs cannot turn logging up.
_REST_STATUSES = {100, 200, 400, 403, 404, 405, 409, 413, 429, 431, 501, 503, 504, 505}
_MAX_BODY = 1 << 16
_MODELS = {
    "simple": [("INPUT0", "INT32", (16,)), ("INPUT1", "INT32", (16,))],
    "classifier": [("features", "FP32", (4,))],
    "tiny_mlp": [("INPUT0", "FP32", (64,))],
}
_ROUTES = [
    "/v2", "/v2/health/live", "/v2/health/ready", "/v2/models/stats", "/v2/repository/index",
    "/v2/logging", "/v2/openapi.json", "/v2/models/{m}", "/v2/models/{m}/ready",
    "/v2/models/{m}/config", "/v2/models/{m}/stats", "/v2/models/{m}/versions/1",
    "/v2/models/{m}/versions/1/infer", "/v2/models/{m}/versions/x/ready",
    "/v2/repository/models/{m}/load", "/v2/repository/models/{m}/unload",
    "/v2/systemsharedmemory/status", "/v2/models/%ff%00/infer", "/v2/models//infer", "/",
]  # fmt: skip
_METHODS = ["POST", "GET", "HEAD", "PUT", "DELETE", "OPTIONS", "PATCH", "G\x00T", "CONNECT"]
_rest: _Exchange | None = None
_SIMPLE = json.dumps(
    {
        "inputs": [
            {"name": "INPUT0", "datatype": "INT32", "shape": [1, 16], "data": list(range(16))},
            {"name": "INPUT1", "datatype": "INT32", "shape": [1, 16], "data": [1] * 16},
        ]
    }
).encode()


def _start_rest() -> _Exchange:
    loop, errors = _loop()
    root = tempfile.mkdtemp(prefix="naiad-fuzz-")
    write_demo_repository(root)
    options = ServerOptions(
        model_repository=root,
        grpc_host="127.0.0.1",
        grpc_port=0,
        http_port=0,
        metrics_port=None,
        max_message_bytes=_MAX_BODY,
        grace_s=1.0,
        security=SecurityOptions(disabled_apis=frozenset({"admin"})),
    )
    server = NaiadServer(options)
    loop.run_until_complete(server.start())
    http = next(front for front in server.front_ends if front.name == "http")
    return _Exchange(loop, int(http.address.rsplit(":", 1)[1]), errors)


def _headers(fdp: atheris.FuzzedDataProvider, body: bytes, header_length: str) -> list[str]:
    """Headers for `body`, mostly true, some lying: Content-Length off by a little or a lot,
    duplicated, with Transfer-Encoding beside it; many junk headers; odd encodings."""
    lines = ["Host: fuzz"]
    length = len(body)
    if fdp.ConsumeProbability() < 0.15:
        length = fdp.PickValueInList([length + 1, length - 1, 0, 2**63, -1, 10**20])
    if fdp.ConsumeProbability() < 0.97:
        lines.append(f"Content-Length: {length}")
    if header_length:
        lines.append(f"Inference-Header-Content-Length: {header_length}")
    for _ in range(fdp.ConsumeIntInRange(0, 4)):
        lines.append(
            fdp.PickValueInList(
                [
                    f"Content-Length: {len(body)}",
                    "Transfer-Encoding: chunked",
                    "Content-Encoding: gzip",
                    "Content-Encoding: br",
                    "Accept-Encoding: gzip;q=0.5, deflate",
                    "Connection: close",
                    "Expect: 100-continue",
                    "Content-Type: application/json",
                    "Authorization: Bearer x",
                    "traceparent: 00-" + "a" * 32 + "-" + "b" * 16 + "-01",
                    "X-" + fdp.ConsumeUnicodeNoSurrogates(8) + ": " + "v" * 64,
                ]
            )
        )
    if fdp.ConsumeProbability() < 0.05:
        lines.extend(f"X-Many-{i}: {'v' * 40}" for i in range(fdp.ConsumeIntInRange(0, 600)))
    return lines


def _chunked(fdp: atheris.FuzzedDataProvider, body: bytes) -> bytes:
    """`body` in chunks of fuzzed sizes; sometimes a chunk-size line that lies."""
    out, rest = b"", body
    while rest:
        size = fdp.ConsumeIntInRange(1, max(1, len(rest)))
        said = (
            f"{size:x}"
            if fdp.ConsumeProbability() < 0.9
            else fdp.PickValueInList(["ffffffffffffffff", "0", "-1", "z", f"{size + 1:x}", ""])
        )
        out += said.encode() + b"\r\n" + rest[:size] + b"\r\n"
        rest = rest[size:]
    return out + (b"0\r\n\r\n" if fdp.ConsumeProbability() < 0.9 else b"")


def _request(fdp: atheris.FuzzedDataProvider) -> bytes:
    model = fdp.PickValueInList([*_MODELS, "nope"])
    path = fdp.PickValueInList(_ROUTES).replace("{m}", model)
    if path.endswith("/infer") or fdp.ConsumeProbability() < 0.3:
        path = path if path.endswith("/infer") else f"/v2/models/{model}/infer"
        body, header_length = infer_body(fdp, _MODELS.get(model, _MODELS["simple"]), True)
    else:
        body, header_length = fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 256)), ""
    method = "POST" if fdp.ConsumeProbability() < 0.8 else fdp.PickValueInList(_METHODS)
    if fdp.ConsumeProbability() < 0.1:
        path += "?" + fdp.ConsumeUnicodeNoSurrogates(8)
    headers = _headers(fdp, body, header_length)
    if "Content-Encoding: gzip" in headers and fdp.ConsumeProbability() < 0.8:
        body = gzip.compress(body)
        headers = [h for h in headers if not h.startswith("Content-Length")]
        headers.append(f"Content-Length: {len(body)}")
    if "Transfer-Encoding: chunked" in headers and fdp.ConsumeBool():
        headers = [h for h in headers if not h.startswith("Content-Length")]
        body = _chunked(fdp, body)
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(h + "\r\n" for h in headers) + "\r\n"
    return head.encode("utf-8", "surrogateescape") + body


def http_rest(data: bytes) -> None:
    """An HTTP request (or two, pipelined) to the REST API of a real NaiadServer serving the
    demo models: infer bodies built by http_bodies.infer_body, lying Content-Length,
    chunked bodies with lying chunk sizes, gzip bodies, hundreds of headers, odd methods and
    paths. No answer may be a 500 or malformed, no server task may fail; every few hundred
    inputs a real inference must still compute the right answer."""
    global _rest
    if _rest is None:
        _rest = _start_rest()
    fdp = atheris.FuzzedDataProvider(data)
    wire = _request(fdp)
    if fdp.ConsumeProbability() < 0.2:
        wire += _request(fdp)
    _rest(wire, _REST_STATUSES)
    if _rest.inputs % _CHECK_EVERY == 0:
        answer = _rest(
            b"POST /v2/models/simple/infer HTTP/1.1\r\nHost: x\r\n"
            + f"Content-Length: {len(_SIMPLE)}\r\n\r\n".encode()
            + _SIMPLE,
            {200},
        )
        outputs = json.loads(answer.split(b"\r\n\r\n", 1)[1])["outputs"]
        sums = next(o["data"] for o in outputs if o["name"] == "OUTPUT0")
        _check(sums == [i + 1 for i in range(16)], f"simple answered {sums}")
        _rest.check_descriptors()


TARGETS: dict[str, Callable[[bytes], None]] = {
    "http_server": http_server,
    "http_rest": http_rest,
}
