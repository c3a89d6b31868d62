"""The REST API behind the same guard as gRPC, in a real in-process server: tokens, scopes,
a rate limit, size caps and disabled groups answered with HTTP's statuses."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import modelgen
import pytest
from observability.obs_helpers import FAST_CONFIG, fast_model, running

from naiad.limits import TensorLimits
from naiad.security.rate_limit import Limits, Rate
from naiad.security.server_security import SecurityOptions

SECRET = "naiad_http-guard-secret"
READER = "naiad_http-guard-reader"
INFER = json.dumps(
    {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [1, 4], "data": [1, 2, 3, 4]}]}
).encode()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return modelgen.write_repository(
        tmp_path / "repo",
        {"fast": {1: fast_model}, "other": {1: fast_model}},
        configs={"fast": FAST_CONFIG},
    )


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    path = tmp_path / "keys.toml"
    rows = [("app", SECRET, '["*"]'), ("reader", READER, '["metadata:fast"]')]
    path.write_text(
        "".join(
            f'[[keys]]\nid = "{name}"\nsha256 = "{hashlib.sha256(secret.encode()).hexdigest()}"\n'
            f"scopes = {scopes}\n"
            for name, secret, scopes in rows
        )
    )
    return path


async def call(
    address: str, method: str, path: str, body: bytes = b"", token: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One request on its own connection: (status, headers, body)."""
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    writer.write(
        f"{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n".encode()
        + body
    )
    raw = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    head, _, content = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, content


async def test_tokens_and_scopes_answer_401_and_403(repo, keys) -> None:
    async with running(repo, security=SecurityOptions(api_keys=keys)) as server:
        address = server.addresses["http"]
        status, headers, body = await call(address, "POST", "/v2/models/fast/infer", INFER)
        assert status == 401 and headers["WWW-Authenticate"] == "Bearer"
        assert "bearer token" in json.loads(body)["error"]
        bad = await call(address, "POST", "/v2/models/fast/infer", INFER, "naiad_wrong")
        assert bad[0] == 401
        good = await call(address, "POST", "/v2/models/fast/infer", INFER, SECRET)
        assert good[0] == 200 and json.loads(good[2])["outputs"][0]["data"] == [1, 2, 3, 4]
        # A key scoped to read fast's metadata may do that and nothing else.
        assert (await call(address, "GET", "/v2/models/fast", token=READER))[0] == 200
        for method, path, body in (
            ("POST", "/v2/models/fast/infer", INFER),
            ("GET", "/v2/models/other", b""),
            ("POST", "/v2/repository/index", b""),
            ("POST", "/v2/logging", b'{"log_info": false}'),
        ):
            status, _, answer = await call(address, method, path, body, READER)
            assert status == 403, path
            assert json.loads(answer)["error"]
        assert (await call(address, "GET", "/v2/health/ready"))[0] == 200  # probes need none


async def test_a_rate_limit_answers_429_with_retry_after(repo) -> None:
    security = SecurityOptions(limits=Limits(rate=Rate(0.5, 1)))
    async with running(repo, security=security) as server:
        address = server.addresses["http"]
        assert (await call(address, "POST", "/v2/models/fast/infer", INFER))[0] == 200
        status, headers, body = await call(address, "POST", "/v2/models/fast/infer", INFER)
        assert status == 429 and 1 <= int(headers["Retry-After"]) <= 2
        assert json.loads(body)["error"].startswith("rate limit reached; retry in ")


async def test_size_caps_answer_413_and_the_server_keeps_serving(repo) -> None:
    security = SecurityOptions(tensor_limits=TensorLimits(max_elements=4))
    async with running(repo, security=security, max_message_bytes=4096) as server:
        address = server.addresses["http"]
        big = json.dumps(
            {"inputs": [{"name": "INPUT0", "datatype": "FP32", "shape": [2, 4], "data": [0] * 8}]}
        ).encode()
        status, _, body = await call(address, "POST", "/v2/models/fast/infer", big)
        assert status == 413 and "more than the server's limit of 4" in json.loads(body)["error"]
        huge = b'{"inputs": []}' + b" " * 5000
        assert (await call(address, "POST", "/v2/models/fast/infer", huge))[0] == 413
        assert (await call(address, "POST", "/v2/models/fast/infer", INFER))[0] == 200


async def test_a_disabled_group_is_refused_and_the_rest_serves(repo) -> None:
    security = SecurityOptions(disabled_apis=frozenset({"repository"}))
    async with running(repo, security=security) as server:
        address = server.addresses["http"]
        for path in ("/v2/repository/index", "/v2/repository/models/fast/unload"):
            status, _, body = await call(address, "POST", path)
            assert status == 403
            assert json.loads(body)["error"] == "the repository API is disabled on this server"
        assert (await call(address, "POST", "/v2/models/fast/infer", INFER))[0] == 200
