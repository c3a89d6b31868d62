"""The HTTP server's basics, the text exposition and the readiness rule, without a model server."""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from types import SimpleNamespace

from prometheus_client import CollectorRegistry
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from naiad.engine.engine import Engine
from naiad.observability.exposition import render
from naiad.repository.types import ModelState
from naiad.repository.views import ModelView, Snapshot, VersionView
from naiad.transport.http.messages import HttpRequest, HttpResponse
from naiad.transport.http.server import HttpServer


async def _route(request: HttpRequest) -> HttpResponse | None:
    path = request.path
    if path == "/hello":
        return HttpResponse(HTTPStatus.OK, b"hi")
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
    listener = HttpServer("127.0.0.1", 0, _route, "test")
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
    listener = HttpServer("127.0.0.1", 0, _route, "test")
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
    """Strict readiness reads the repository's snapshot: READY, UNLOADING and UNLOADED are as
    expected; LOADING and UNAVAILABLE (failed) are not; models never loaded do not count."""
    ok = ModelView("ok", {1: VersionView(1, ModelState.READY)})
    for state, expected in (
        (ModelState.READY, True),
        (ModelState.UNLOADING, True),
        (ModelState.UNLOADED, True),
        (ModelState.LOADING, False),
        (ModelState.UNAVAILABLE, False),
    ):
        other = ModelView("m", {1: VersionView(1, state, "why")})
        assert Snapshot({"ok": ok, "m": other}).as_expected is expected, state
        versionless = ModelView("m", reason="why", state=state)
        assert Snapshot({"ok": ok, "m": versionless}).as_expected is expected, state
    assert Snapshot().as_expected

    repository = SimpleNamespace(serving_as_expected=lambda: as_expected)
    strict = Engine(repository, strict_readiness=True)  # type: ignore[arg-type]
    relaxed = Engine(repository, strict_readiness=False)  # type: ignore[arg-type]
    for as_expected in (True, False):
        assert not strict.server_ready() and not relaxed.server_ready()  # not accepting yet
        strict.accept(True)
        relaxed.accept(True)
        assert strict.server_ready() is as_expected and relaxed.server_ready()
        strict.accept(False)
        relaxed.accept(False)
