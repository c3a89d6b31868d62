"""bench/http_stacks without the candidates: payloads, framing, windows, summary, command line.
The servers themselves need aiohttp/uvicorn/granian/httptools, which the project does not
depend on; the one check that drives a server is skipped where its stack is missing."""

from __future__ import annotations

import asyncio
import json

import pytest

from bench.http_stacks import __main__ as cli
from bench.http_stacks import asgi_app, candidates, loadgen, payload


def test_request_body_is_a_v2_request_of_64_floats():
    doc = json.loads(payload.request_body())
    (tensor,) = doc["inputs"]
    assert tensor["datatype"] == "FP32" and tensor["shape"] == [1, 64]
    assert len(tensor["data"]) == 64 and all(isinstance(x, float) for x in tensor["data"])


def test_response_is_the_fixed_v2_response():
    doc = json.loads(payload.RESPONSE)
    assert doc["model_name"] == "tiny"
    (out,) = doc["outputs"]
    assert (out["name"], out["datatype"], out["shape"]) == ("OUTPUT0", "FP32", [1, 10])
    assert len(out["data"]) == 10 and all(isinstance(x, float) for x in out["data"])


def test_infer_request_frames_the_body():
    body = payload.request_body()
    raw = payload.infer_request("127.0.0.1", 8000, body)
    head, _, rest = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"POST /v2/models/tiny/infer HTTP/1.1\r\n")
    assert f"Content-Length: {len(body)}".encode() in head and rest == body
    assert b"Connection: close" not in head  # keep-alive


def test_parse_head_reads_status_and_length_case_insensitively():
    head = b"HTTP/1.1 200 OK\r\ncontent-LENGTH: 12\r\nServer: x\r\n\r\n"
    assert loadgen.parse_head(head) == (200, 12)


@pytest.mark.parametrize(
    "head",
    [
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n",
        b"garbage\r\n\r\n",
    ],
)
def test_parse_head_refuses_what_the_generator_cannot_frame(head):
    with pytest.raises(loadgen.ProtocolError):
        loadgen.parse_head(head)


def test_read_response_reads_back_to_back_responses():
    async def go():
        reader = asyncio.StreamReader()
        one = b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"
        reader.feed_data(one + b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        reader.feed_eof()
        return [await loadgen.read_response(reader), await loadgen.read_response(reader)]

    assert asyncio.run(go()) == [(200, b"abc"), (404, b"")]


def test_cut_windows_drops_warmup_and_tail():
    plan = loadgen.Plan(warmup_s=1.0, windows=2, window_s=2.0)
    samples = [(0.5, 0.001), (1.5, 0.002), (2.9, 0.003), (3.1, 0.004), (5.5, 0.005)]
    result = loadgen.cut_windows(samples, 0.0, plan, concurrency=4)
    assert result.window_rates == [1.0, 0.5]
    assert result.latencies_ms == pytest.approx([2.0, 3.0, 4.0])
    assert plan.total_s == 5.0


def test_summarize_takes_window_medians_and_ratios_per_level():
    def part(c, rates, lat):
        return loadgen.LevelResult(c, list(rates), list(lat))

    results = {
        ("a", 1): [part(1, [100, 110], [1.0, 2.0]), part(1, [120], [3.0])],
        ("b", 1): [part(1, [220, 220, 200], [0.5])],
        ("a", 16): [part(16, [1000], [4.0])],
    }
    rows = {(r.candidate, r.concurrency): r for r in cli.summarize(results)}
    assert rows[("a", 1)].rps == 110 and rows[("a", 1)].rps_min == 100
    assert rows[("a", 1)].ratio == pytest.approx(0.5) and rows[("b", 1)].ratio == 1.0
    assert rows[("a", 16)].ratio == 1.0
    assert rows[("a", 1)].p50_ms == 2.0 and rows[("a", 1)].p99_ms == 3.0
    table = cli.format_table(list(rows.values()))
    assert "vs best" in table and len(table.splitlines()) == 5


def test_percentile_is_nearest_rank():
    values = [float(x) for x in range(1, 101)]
    assert cli.percentile(values, 50) == 50.0 and cli.percentile(values, 99) == 99.0
    assert cli.percentile([7.0], 99) == 7.0


def test_command_line_defaults_follow_the_issue():
    args = cli.parser().parse_args([])
    assert args.concurrency == (1, 16) and args.rounds == 2
    assert (args.warmup, args.windows, args.window) == (1.0, 3, 3.0)
    args = cli.parser().parse_args(
        ["--python", "/x/python", "-c", "2,8", "--candidates", "aiohttp"]
    )
    assert args.python == "/x/python" and args.concurrency == (2, 8)
    assert candidates.select(args.candidates) == (candidates.BY_NAME["aiohttp"],)


def test_candidates_cover_the_issue_and_alternate():
    names = [c.name for c in candidates.select(None)]
    assert {"aiohttp", "uvicorn-httptools", "granian-asgi", "protocol-httptools"} <= set(names)
    chosen = candidates.select(("aiohttp", "granian-rsgi"))
    assert candidates.round_order(chosen, 0) == chosen
    assert candidates.round_order(chosen, 1) == tuple(reversed(chosen))
    with pytest.raises(ValueError, match="unknown"):
        candidates.select(("nginx",))


def _asgi_call(method, path, chunks):
    sent = []
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]

    async def receive():
        return messages.pop(0)

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path}
    asyncio.run(asgi_app.app(scope, receive, send))
    return sent


def test_asgi_app_parses_the_body_and_answers_the_fixed_response():
    body = payload.request_body()
    start, reply = _asgi_call("POST", payload.INFER_PATH, [body[:10], body[10:]])
    assert start["status"] == 200 and reply["body"] == payload.RESPONSE
    length = dict(start["headers"])[b"content-length"]
    assert int(length) == len(payload.RESPONSE)
    with pytest.raises(json.JSONDecodeError):
        _asgi_call("POST", payload.INFER_PATH, [b"{not json"])
    assert _asgi_call("GET", payload.READY_PATH, [b""])[0]["status"] == 200
    assert _asgi_call("GET", "/nope", [b""])[0]["status"] == 404


def test_protocol_server_answers_a_keep_alive_exchange():
    pytest.importorskip(
        "httptools", reason="httptools is a candidate, not a naiad dependency; see --python"
    )
    from bench.http_stacks import server_protocol

    async def go():
        server = await asyncio.get_running_loop().create_server(
            server_protocol.HttpProtocol, "127.0.0.1", 0
        )
        port = server.sockets[0].getsockname()[1]
        async with server:
            await loadgen.wait_ready("127.0.0.1", port, 5.0)
            return [await loadgen.check_once("127.0.0.1", port) for _ in range(2)]

    assert asyncio.run(go()) == [payload.RESPONSE] * 2
