"""Candidate (d): a plain asyncio.Protocol with the httptools parser on uvloop: the floor a
Python server could reach with no framework at all (keep-alive, no pipelining assumed, no
limits). With naiad's engine behind it, each answer is a task awaiting the engine."""

from __future__ import annotations

import asyncio
import json

import httptools

from bench.http_stacks import common, engine_behind, payload

_ENGINE = engine_behind.from_env()

_INFER = payload.INFER_PATH.encode()
_READY = payload.READY_PATH.encode()
_OK_JSON = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
    + f"Content-Length: {len(payload.RESPONSE)}\r\n\r\n".encode()
    + payload.RESPONSE
)
_OK_EMPTY = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"
_NOT_FOUND = b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


class HttpProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.parser = httptools.HttpRequestParser(self)
        self.transport: asyncio.Transport | None = None
        self.url = b""
        self.body: list[bytes] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports implement asyncio.Transport without subclassing it.
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            assert self.transport is not None
            self.transport.close()

    # httptools callbacks
    def on_message_begin(self) -> None:
        self.url = b""
        self.body = []

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        assert self.transport is not None
        method = self.parser.get_method()
        if self.url == _INFER and method == b"POST":
            body = b"".join(self.body)
            if _ENGINE is not None:
                asyncio.get_running_loop().create_task(self._answer(body, self.transport))
                return
            json.loads(body)
            self.transport.write(_OK_JSON)
        elif self.url == _READY and method == b"GET":
            self.transport.write(_OK_EMPTY)
        else:
            self.transport.write(_NOT_FOUND)
        if not self.parser.should_keep_alive():
            self.transport.close()

    async def _answer(self, body: bytes, transport: asyncio.Transport) -> None:
        answer = await _ENGINE.infer(body)  # type: ignore[union-attr]
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(answer)}"
        transport.writelines((head.encode(), b"\r\n\r\n", answer))


async def serve(host: str, port: int) -> None:
    loop = asyncio.get_running_loop()
    if _ENGINE is not None:
        await _ENGINE.start()
    server = await loop.create_server(HttpProtocol, host, port)
    async with server:
        await server.serve_forever()


def main() -> None:
    host, port = common.parse_address()
    common.install_uvloop()
    asyncio.run(serve(host, port))


if __name__ == "__main__":
    main()
