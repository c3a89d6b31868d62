"""HttpServer's bounds on clients: idle and slow-loris timeouts, the TLS handshake bound, the
connection cap, a client that stops reading, head and body sizes; and the parser's strictness.

Timeouts are tens of milliseconds here. Only lower bounds are exact (nothing is cut before its
time); upper bounds are loose, for a loaded machine.
"""

from __future__ import annotations

import asyncio
import json
import ssl
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http import HTTPStatus
from pathlib import Path

import pytest
from security.certs import make_pki

from naiad.security.tls import ServerTls, TlsFiles
from naiad.transport.http.limits import HttpLimits
from naiad.transport.http.messages import HttpRequest, HttpResponse
from naiad.transport.http.server import HttpServer

BIG = 16 * 1024 * 1024
"""More than any loopback socket buffers, so an answer this size waits on its reader."""


async def route(request: HttpRequest) -> HttpResponse | None:
    if request.path == "/big":
        return HttpResponse(HTTPStatus.OK, b"x" * BIG)
    if request.path == "/echo":
        seen = [request.method, request.path, request.query, dict(request.headers)]
        return HttpResponse(HTTPStatus.OK, json.dumps([*seen, len(request.body)]).encode())
    return HttpResponse(HTTPStatus.OK, b"ok")


@asynccontextmanager
async def listening(limits: HttpLimits, tls: ServerTls | None = None) -> AsyncIterator[int]:
    listener = HttpServer("127.0.0.1", 0, route, "test", tls=tls, limits=limits)
    await listener.start()
    try:
        yield listener.port
    finally:
        await asyncio.wait_for(listener.stop(), 10)


async def request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
    writer.write(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    return head + await reader.readexactly(2)


async def closed_after(reader: asyncio.StreamReader, started: float) -> float:
    """Seconds from `started` until the server closed the connection."""
    try:
        assert await asyncio.wait_for(reader.read(), 5) == b""
    except ConnectionResetError:
        pass
    return time.monotonic() - started


async def test_kept_alive_connections_close_when_idle() -> None:
    async with listening(HttpLimits(idle_timeout_s=0.15, head_timeout_s=5)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        started = time.monotonic()
        for _ in range(4):  # requests 0.1 s apart keep it open past the idle timeout
            assert (await request(reader, writer)).startswith(b"HTTP/1.1 200")
            await asyncio.sleep(0.1)
        assert time.monotonic() - started > 0.3
        answered = time.monotonic()
        assert (await request(reader, writer)).startswith(b"HTTP/1.1 200")
        assert 0.15 <= await closed_after(reader, answered) < 4
        writer.close()


async def test_a_dribbled_head_is_cut_off_however_steady() -> None:
    async with listening(HttpLimits(idle_timeout_s=5, head_timeout_s=0.2)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert (await request(reader, writer)).startswith(b"HTTP/1.1 200")
        await asyncio.sleep(0.3)  # idle, within idle_timeout_s: not cut
        started = time.monotonic()
        writer.write(b"GET /x HTTP/1.1\r\n")

        async def dribble() -> None:
            for n in range(300):  # 6 s of one header line every 20 ms
                writer.write(b"X-%d: y\r\n" % n)
                await asyncio.sleep(0.02)

        dribbling = asyncio.create_task(dribble())
        assert 0.2 <= await closed_after(reader, started) < 4
        dribbling.cancel()
        writer.close()


async def test_a_new_connection_that_says_nothing_is_cut_off() -> None:
    async with listening(HttpLimits(idle_timeout_s=5, head_timeout_s=0.1)) as port:
        started = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert 0.1 <= await closed_after(reader, started) < 4
        writer.close()


async def test_connections_beyond_the_cap_get_503_until_one_closes() -> None:
    async with listening(HttpLimits(max_connections=2)) as port:
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(2)]
        for reader, writer in held:
            assert (await request(reader, writer)).startswith(b"HTTP/1.1 200")
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        refused = await asyncio.wait_for(reader.read(), 5)
        assert refused.startswith(b"HTTP/1.1 503") and refused.endswith(b"too many connections\n")
        writer.close()

        held[0][1].close()
        for _ in range(200):  # until the listener has seen the close
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n")
            answer = await asyncio.wait_for(reader.read(), 5)
            writer.close()
            if not answer.startswith(b"HTTP/1.1 503"):
                break
            await asyncio.sleep(0.01)
        assert answer.startswith(b"HTTP/1.1 200")
        held[1][1].close()


async def test_a_client_that_stops_reading_is_cut_off() -> None:
    async with listening(HttpLimits(send_timeout_s=0.1)) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /big HTTP/1.1\r\n\r\n")
        await asyncio.sleep(0.5)  # not reading: the answer stalls, then the server gives up
        received = 0
        try:
            while chunk := await asyncio.wait_for(reader.read(1 << 20), 5):
                received += len(chunk)
        except ConnectionResetError:
            pass
        assert 0 < received < BIG
        writer.close()


async def test_tls_handshakes_are_bounded_and_count_against_the_cap(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    tls = ServerTls(TlsFiles(pki.server.cert, pki.server.key))
    client = ssl.create_default_context(cafile=pki.ca)
    limits = HttpLimits(handshake_timeout_s=0.3, max_connections=1)
    async with listening(limits, tls) as port:
        started = time.monotonic()
        stalled, stalled_writer = await asyncio.open_connection("127.0.0.1", port)  # no hello
        await asyncio.sleep(0.05)
        with pytest.raises((ssl.SSLError, ConnectionError)):  # the cap: closed at once
            await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, ssl=client, server_hostname="localhost"),
                5,
            )
        assert 0.3 <= await closed_after(stalled, started) < 4
        stalled_writer.close()
        for _ in range(200):  # until the listener has dropped the stalled one
            try:
                reader, writer = await asyncio.open_connection(
                    "127.0.0.1", port, ssl=client, server_hostname="localhost"
                )
                break
            except (ssl.SSLError, ConnectionError):
                await asyncio.sleep(0.01)
        assert (await request(reader, writer)).startswith(b"HTTP/1.1 200")
        writer.close()


def test_limits_refuse_nonsense() -> None:
    for bad in ({"idle_timeout_s": 0}, {"head_timeout_s": -1}, {"max_connections": 0}):
        with pytest.raises(ValueError):
            HttpLimits(**bad)  # type: ignore[arg-type]


async def exchange(port: int, raw: bytes) -> bytes:
    """Sends `raw` on a new connection and reads until the server closes it."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(raw)
    try:
        return await asyncio.wait_for(reader.read(), 5)
    finally:
        writer.close()


def answers(raw: bytes) -> list[tuple[int, bytes]]:
    """(status, body) of each answer in what a connection received."""
    found = []
    while raw:
        head, _, rest = raw.partition(b"\r\n\r\n")
        length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
        found.append((int(head.split(b" ")[1]), rest[:length]))
        raw = rest[length:]
    return found


async def test_heads_are_read_as_sent_and_keep_alive_follows_the_version() -> None:
    async with listening(HttpLimits(max_body_bytes=100)) as port:
        raw = await exchange(
            port,
            b"GET /echo?x=1 HTTP/1.1\r\nHost: a\r\nAccept: a\r\naccept:  b \r\n"
            b"X: caf\xe9\r\n\r\n"
            b"POST /echo HTTP/1.1\r\nContent-Length: 007\r\n\r\nabcdefg"
            b"POST /echo HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
            b"GET /x HTTP/1.1\r\nConnection: close\r\n\r\n"
            b"GET /never HTTP/1.1\r\n\r\n",
        )
        (s1, first), (s2, second), (s3, third), (s4, fourth) = answers(raw)
        assert (s1, s2, s3, s4) == (200, 200, 200, 200)
        assert json.loads(first) == [
            "GET",
            "/echo",
            "x=1",
            {"host": "a", "accept": "a, b", "x": "caf\xe9"},
            0,
        ]
        assert json.loads(second)[-1] == 7 and json.loads(third)[-1] == 3
        assert fourth == b"ok"  # and nothing after Connection: close
        assert b"Connection: close" in raw.split(b"\r\n\r\nok")[0].rsplit(b"HTTP/1.1", 1)[1]

        http10 = await exchange(port, b"GET /x HTTP/1.0\r\n\r\nGET /x HTTP/1.0\r\n\r\n")
        assert len(answers(http10)) == 1
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(2):  # HTTP/1.0 keep-alive, when asked for, is honoured
            writer.write(b"GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200") and b"keep-alive" in head
            await reader.readexactly(2)
        writer.close()


async def test_oversized_heads_and_bodies_are_refused_and_the_connection_closed() -> None:
    async with listening(HttpLimits(max_body_bytes=10, max_header_bytes=1024)) as port:
        cases = [
            (b"GET /x HTTP/1.1\r\nX: " + b"a" * 2000 + b"\r\n\r\n", 431),
            (b"GET /x HTTP/1.1\r\nX: " + b"a" * 200_000, 431),  # never completes
            (b"GET /" + b"a" * 2000 + b" HTTP/1.1\r\n\r\n", 431),
            (b"POST /x HTTP/1.1\r\nContent-Length: 11\r\n\r\n", 413),
            (b"POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n" + b"a" * 11, 413),
        ]
        for raw, status in cases:
            got = answers(await exchange(port, raw))
            assert [s for s, _ in got] == [status], raw[:60]
        # A refusal follows the answers owed before it.
        raw = await exchange(
            port, b"GET /x HTTP/1.1\r\n\r\nPOST /x HTTP/1.1\r\nContent-Length: 99\r\n\r\n"
        )
        assert [s for s, _ in answers(raw)] == [200, 413]


async def test_a_body_that_stops_arriving_is_cut_off() -> None:
    limits = HttpLimits(read_timeout_s=0.15, head_timeout_s=5, max_body_bytes=100)
    async with listening(limits) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"POST /x HTTP/1.1\r\nContent-Length: 50\r\n\r\nshort")  # lies
        started = time.monotonic()
        assert 0.15 <= await closed_after(reader, started) < 4
        writer.close()


@pytest.mark.parametrize(
    "head",
    [
        b"GET /\r\n\r\n",
        b"GET / HTTP/2.0\r\n\r\n",
        b"GET / http/1.1\r\n\r\n",
        b"GET http://a/ HTTP/1.1\r\n\r\n",  # absolute form: only proxies see it
        b"GET /a\x00b HTTP/1.1\r\n\r\n",
        b"GET /caf\xe9 HTTP/1.1\r\n\r\n",
        b"G(T / HTTP/1.1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : a\r\n\r\n",  # space before the colon
        b"GET / HTTP/1.1\r\nHost a\r\n\r\n",
        b"GET / HTTP/1.1\r\n: a\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: a\nX-Smuggled: b\r\n\r\n",  # bare LF
        b"GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n",  # bare CR
        b"GET / HTTP/1.1\r\nX: a\x01\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\nHost: a\r\n\r\n",  # an empty line inside
        b"GET / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: " + b"9" * 5000 + b"\r\n\r\n",
        b"GET / HTTP/1.1\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: x\r\n\r\n",
    ],
)
async def test_malformed_heads_are_answered_400_and_closed(head: bytes) -> None:
    """Strict enough that no two readers could frame the request differently."""
    async with listening(HttpLimits(max_body_bytes=100)) as port:
        for raw in (head, b"GET /x HTTP/1.1\r\n\r\n" + head):
            *before, last = [s for s, _ in answers(await exchange(port, raw))]
            # The valid requests in front are answered; the malformed one is the last.
            assert last in (400, 505) and set(before) <= {200}, raw
