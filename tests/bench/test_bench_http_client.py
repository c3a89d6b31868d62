"""The load generator's HTTP client: framing, keep-alive, errors and timeouts against real
sockets on 127.0.0.1, and request bodies that naiad's own REST decoder accepts."""

from __future__ import annotations

import asyncio
import json
import socket
import threading

import numpy as np
import pytest

from bench import http_client, inputs, loops
from bench.models import Signature, TensorSpec
from bench.scenario import RequestSpec
from naiad.transport.http.infer_json import decode_request

SIGNATURE = Signature(
    name="m",
    max_batch_size=8,
    inputs=(TensorSpec("x", "FP32", (3,)), TensorSpec("s", "BYTES", (2,))),
    outputs=(TensorSpec("y", "FP32", (3,)),),
)


def test_parse_head_reads_status_length_and_keep_alive():
    head = http_client.parse_head(b"HTTP/1.1 503 Busy\r\ncontent-LENGTH: 7\r\n\r\n")
    assert (head.status, head.content_length, head.keep_alive) == (503, 7, True)
    closing = b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n"
    assert http_client.parse_head(closing).keep_alive is False
    assert (
        http_client.parse_head(b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n").keep_alive is False
    )


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n",
        b"SSH-2.0-OpenSSH\r\n\r\n",
    ],
)
def test_parse_head_refuses_what_it_cannot_frame(head):
    with pytest.raises(http_client.ProtocolError):
        http_client.parse_head(head)


def test_framer_cuts_back_to_back_answers_arriving_in_pieces():
    answers = _reply(200, b"abc") + _reply(404, b"no")
    framer, got = http_client._Framer(), []
    for i in range(len(answers)):
        framer.buffer += answers[i : i + 1]
        while (answer := framer.answer()) is not None:
            got.append((answer[0].status, answer[1]))
    assert got == [(200, b"abc"), (404, b"no")] and not framer.buffer


def test_request_bodies_decode_in_naiads_rest_decoder_to_the_same_tensors():
    rng = np.random.default_rng(0)
    variant = {
        "x": rng.standard_normal((2, 3)).astype(np.float32),
        "s": np.array([[b"ab", b""], [b"c", b"def"]], dtype=object),
    }
    ((body, json_length),) = inputs.encode_http_bodies(RequestSpec(), [variant])
    request, form = decode_request(body, str(json_length), "m", "")
    decoded = {t.name: t.data for t in request.inputs}
    np.testing.assert_array_equal(decoded["x"], variant["x"])
    assert decoded["s"].tolist() == variant["s"].tolist()
    assert form.is_binary("y") and request.requested_outputs is None
    named = inputs.encode_http_bodies(RequestSpec(outputs=("y",)), [variant])[0]
    request, form = decode_request(named[0], str(named[1]), "m", "")
    assert request.requested_outputs == ["y"] and form.is_binary("y")


def test_infer_request_carries_framing_and_token():
    raw = http_client.infer_request("/v2/models/m/infer", "h:1", b"{}xyz", 2, token="t0k")
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v2/models/m/infer HTTP/1.1\r\n") and body == b"{}xyz"
    for field in (b"Content-Length: 5", b"Inference-Header-Content-Length: 2", b"Bearer t0k"):
        assert field in head
    assert http_client.infer_path("a b", "2") == "/v2/models/a%20b/versions/2/infer"


class ScriptedServer:
    """Accepts connections on 127.0.0.1 and answers each request with the next scripted reply
    (bytes, or None: read the request and never answer). Counts connections."""

    def __init__(self, replies: list[bytes | None]) -> None:
        self.replies = list(replies)
        self.connections = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.address = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            buffer = b""
            while self.replies:
                while b"\r\n\r\n" not in buffer:
                    data = conn.recv(65536)
                    if not data:
                        return
                    buffer += data
                head, _, buffer = buffer.partition(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                while len(buffer) < length:
                    buffer += conn.recv(65536)
                buffer = buffer[length:]
                reply = self.replies.pop(0)
                if reply is None:
                    conn.recv(1)  # hold the connection until the client drops it
                    return
                conn.sendall(reply)
                if b"Connection: close" in reply:
                    return

    def close(self) -> None:
        self.listener.close()


def _reply(status: int, body: bytes, close: bool = False) -> bytes:
    extra = "Connection: close\r\n" if close else ""
    return f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


REQUEST = http_client.infer_request("/v2/models/m/infer", "h", b"{}", None)


@pytest.fixture
def scripted():
    servers: list[ScriptedServer] = []

    def make(replies):
        servers.append(ScriptedServer(replies))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def test_sync_client_keeps_alive_reconnects_after_close_and_raises_on_status(scripted):
    server = scripted([_reply(200, b"a"), _reply(200, b"b", close=True), _reply(503, b"busy")])
    client = http_client.SyncHttpClient(server.address)
    assert client.post(REQUEST) == b"a"
    assert client.post(REQUEST) == b"b"
    with pytest.raises(http_client.HttpStatusError) as failed:
        client.post(REQUEST)
    assert failed.value.status == 503 and loops.status_name(failed.value) == "HTTP_503"
    assert server.connections == 2  # one kept alive for two calls, one after the close
    client.close()


def test_sync_client_times_out_and_drops_the_connection(scripted):
    server = scripted([None, _reply(200, b"late ok")])
    client = http_client.SyncHttpClient(server.address, timeout_s=0.2)
    with pytest.raises(TimeoutError):
        client.post(REQUEST)
    assert client.post(REQUEST) == b"late ok" and server.connections == 2
    client.close()


async def test_async_client_pools_connections_per_concurrent_call(scripted):
    server = scripted([_reply(200, b"%d" % i) for i in range(8)])
    client = http_client.AsyncHttpClient(server.address)
    first = await asyncio.gather(*(client.post(REQUEST) for _ in range(4)))
    second = await asyncio.gather(*(client.post(REQUEST) for _ in range(4)))
    assert sorted(first + second) == [b"%d" % i for i in range(8)]
    assert server.connections == 4  # the second round reused the first round's connections
    await client.close()


async def test_async_client_times_out_drops_and_reports_a_lost_connection(scripted):
    server = scripted([None, _reply(200, b"ok"), _reply(404, json.dumps({"error": "x"}).encode())])
    client = http_client.AsyncHttpClient(server.address, timeout_s=0.2)
    with pytest.raises(TimeoutError):
        await client.post(REQUEST)
    assert await client.post(REQUEST) == b"ok"
    with pytest.raises(http_client.HttpStatusError, match="404"):
        await client.post(REQUEST)
    assert server.connections == 2
    # The script is spent: the server closes without answering, and the call says so.
    with pytest.raises(ConnectionError):
        await client.post(REQUEST)
    await client.close()
