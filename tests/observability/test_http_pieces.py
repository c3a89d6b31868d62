"""The HTTP listener, the text exposition and the readiness rule, without a model server."""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from types import SimpleNamespace

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from naiad.observability.exposition import render
from naiad.observability.health import Readiness
from naiad.observability.listener import HttpListener, Response
from naiad.repository.types import IndexEntry, ModelState


async def _route(path: str) -> Response | None:
    if path == "/hello":
        return Response(HTTPStatus.OK, b"hi")
    if path == "/boom":
        raise RuntimeError("boom")
    return None


async def _exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes
) -> bytes:
    writer.write(raw)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    return head + await reader.readexactly(length)


async def test_keep_alive_errors_and_orderly_stop() -> None:
    listener = HttpListener("127.0.0.1", 0, _route, "test")
    await listener.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
    try:
        first = await _exchange(reader, writer, b"GET /hello?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
        assert first.startswith(b"HTTP/1.1 200 OK") and first.endswith(b"hi")
        assert b"Connection: keep-alive" in first
        again = await _exchange(reader, writer, b"GET /missing HTTP/1.1\r\n\r\n")  # same socket
        assert again.startswith(b"HTTP/1.1 404")
        failed = await _exchange(reader, writer, b"GET /boom HTTP/1.1\r\n\r\n")
        assert failed.startswith(b"HTTP/1.1 500")
        # An idle kept-alive connection must not hold up stop().
        await asyncio.wait_for(listener.stop(), 5)
        assert await reader.read() == b""
    finally:
        writer.close()
        await writer.wait_closed()


async def test_bad_requests_close_the_connection() -> None:
    listener = HttpListener("127.0.0.1", 0, _route, "test")
    await listener.start()
    try:
        for raw, status in (
            (b"NONSENSE\r\n\r\n", b"400"),
            (b"POST /hello HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", b"413"),
            (b"GET /hello HTTP/1.0\r\n\r\n", b"200"),
        ):
            reader, writer = await asyncio.open_connection("127.0.0.1", listener.port)
            writer.write(raw)
            answer = await reader.read()  # read() to EOF: the server closed
            assert answer.split(b" ")[1] == status, raw
            writer.close()
            await writer.wait_closed()
    finally:
        await listener.stop()


def test_exposition_keeps_triton_counter_names() -> None:
    class Fixed:
        def collect(self):  # type: ignore[no-untyped-def]
            triton = Metric("nv_inference_count", "rows", "counter")
            triton.add_sample("nv_inference_count", {"model": 'a"b\\c', "version": "1"}, 7)
            usual = CounterMetricFamily("plain_requests", "usual counter", value=2)
            gauge = GaugeMetricFamily("g", "multi\nline", value=0.5)
            return [triton, usual, gauge]

    registry = CollectorRegistry()
    registry.register(Fixed())
    text = render(registry).decode()
    assert "# TYPE nv_inference_count counter\n" in text
    assert 'nv_inference_count{model="a\\"b\\\\c",version="1"} 7\n' in text
    assert "# TYPE plain_requests_total counter\nplain_requests_total 2\n" in text
    assert "# HELP g multi\\nline\n# TYPE g gauge\ng 0.5\n" in text


def test_strict_readiness_rule() -> None:
    entries: list[IndexEntry] = []
    engine = SimpleNamespace(ready=True, repository=SimpleNamespace(index=lambda: entries))
    strict = Readiness(engine, strict=True)  # type: ignore[arg-type]
    relaxed = Readiness(engine, strict=False)  # type: ignore[arg-type]
    for state, reason, expected in (
        (ModelState.READY, "", True),
        (ModelState.UNLOADING, "", True),
        (ModelState.UNAVAILABLE, "unloaded", True),
        (None, "", True),
        (ModelState.LOADING, "", False),
        (ModelState.UNAVAILABLE, "bad model", False),
    ):
        entries[:] = [IndexEntry("ok", "1", ModelState.READY), IndexEntry("m", "1", state, reason)]
        assert strict.server_ready() is expected, (state, reason)
        assert relaxed.server_ready()
    engine.ready = False
    assert not strict.server_ready() and not relaxed.server_ready()
