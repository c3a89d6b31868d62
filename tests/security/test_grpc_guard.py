"""The gRPC front end's guard in a real in-process server: caps, limits and disabled groups
answered with the right status, and the retry hint of a rate limit."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import modelgen
import numpy as np
import pytest
from observability.obs_helpers import FAST_CONFIG, HELD_CONFIG, fast_model, http_get, running

from naiad.limits import TensorLimits
from naiad.security.rate_limit import Limits, Rate
from naiad.security.server_security import SecurityOptions
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc

SECRET = "naiad_guard-test-secret"
TOKEN = (("authorization", f"Bearer {SECRET}"),)


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return modelgen.write_repository(
        tmp_path / "repo",
        {"fast": {1: fast_model}, "held": {1: fast_model}},
        configs={"fast": FAST_CONFIG, "held": HELD_CONFIG},
    )


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    path = tmp_path / "keys.toml"
    path.write_text(f'[[keys]]\nid = "app"\nsha256 = "{digest}"\nscopes = ["*"]\n')
    return path


def infer(model: str, rows: int = 1, request_id: str = "") -> pb.ModelInferRequest:
    data = np.ones((rows, 4), np.float32)
    return pb.ModelInferRequest(
        model_name=model,
        id=request_id,
        inputs=[
            pb.ModelInferRequest.InferInputTensor(name="INPUT0", datatype="FP32", shape=[rows, 4])
        ],
        raw_input_contents=[data.tobytes()],
    )


async def stub_for(server) -> AsyncIterator[pb_grpc.GRPCInferenceServiceStub]:  # type: ignore[no-untyped-def]
    async with grpc.aio.insecure_channel(server.grpc_address) as channel:
        yield pb_grpc.GRPCInferenceServiceStub(channel)


async def test_rate_limit_answers_resource_exhausted_with_a_retry_hint(repo) -> None:
    security = SecurityOptions(limits=Limits(rate=Rate(0.5, 1)))
    async with running(repo, security=security) as server:
        async for stub in stub_for(server):
            await stub.ModelInfer(infer("fast"))
            call = stub.ModelInfer(infer("fast"))
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await call
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert refused.value.details().startswith("rate limit reached; retry in ")
            trailers = dict(refused.value.trailing_metadata() or ())
            assert 1000 <= int(trailers["grpc-retry-pushback-ms"]) <= 2000


async def test_an_api_keys_own_rate_applies_without_any_limit_flag(repo, tmp_path) -> None:
    digest = hashlib.sha256(SECRET.encode()).hexdigest()
    keys = tmp_path / "rated.toml"
    keys.write_text(
        f'[[keys]]\nid = "app"\nsha256 = "{digest}"\nscopes = ["*"]\nrate = 0.5\nburst = 1\n'
    )
    async with running(repo, security=SecurityOptions(api_keys=keys)) as server:
        async for stub in stub_for(server):
            with pytest.raises(grpc.aio.AioRpcError) as unknown:  # refused below: costs nothing
                await stub.ModelInfer(infer("missing"), metadata=TOKEN)
            assert unknown.value.code() == grpc.StatusCode.NOT_FOUND
            await stub.ModelInfer(infer("fast"), metadata=TOKEN)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ModelInfer(infer("fast"), metadata=TOKEN)
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_tensor_caps_answer_resource_exhausted(repo) -> None:
    security = SecurityOptions(tensor_limits=TensorLimits(max_elements=4))
    async with running(repo, security=security) as server:
        async for stub in stub_for(server):
            assert (await stub.ModelInfer(infer("fast", rows=1))).outputs
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ModelInfer(infer("fast", rows=2))
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert "more than the server's limit of 4" in refused.value.details()


async def test_disabled_group_is_refused_and_the_rest_serves(repo) -> None:
    security = SecurityOptions(disabled_apis=frozenset({"repository"}))
    async with running(repo, security=security) as server:
        async for stub in stub_for(server):
            for call in (
                stub.RepositoryIndex(pb.RepositoryIndexRequest()),
                stub.RepositoryModelUnload(pb.RepositoryModelUnloadRequest(model_name="fast")),
            ):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await call
                assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
                assert refused.value.details() == "the repository API is disabled on this server"
            assert (await stub.ModelInfer(infer("fast"))).outputs
            ready = await stub.ModelReady(pb.ModelReadyRequest(name="fast"))
            assert ready.ready


async def test_streams_per_caller_are_capped(repo, keys) -> None:
    security = SecurityOptions(api_keys=keys, max_streams_per_caller=1)
    async with running(repo, security=security) as server:
        async for stub in stub_for(server):
            first = stub.ModelStreamInfer(metadata=TOKEN)
            await first.write(infer("fast", request_id="a"))
            assert (await first.read()).infer_response.id == "a"
            second = stub.ModelStreamInfer(metadata=TOKEN)
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await second.read()
            assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert refused.value.details() == "caller 'app' already has 1 streams open"
            await first.done_writing()
            assert await first.read() == grpc.aio.EOF
            third = stub.ModelStreamInfer(metadata=TOKEN)
            await third.write(infer("fast", request_id="c"))
            assert (await third.read()).infer_response.id == "c"
            await third.done_writing()


async def test_inflight_per_caller_is_capped_until_the_first_answers(repo, keys) -> None:
    security = SecurityOptions(api_keys=keys, limits=Limits(max_inflight_per_caller=1))
    async with running(repo, security=security) as server:
        async for stub in stub_for(server):
            # "held" waits 5 s for company in its queue: in flight until cancelled.
            held = stub.ModelInfer(infer("held"), metadata=TOKEN)
            refusal = await _until_refused(stub)
            assert refusal.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert refusal.details() == "caller 'app' already has 1 requests in flight"
            held.cancel()
            with pytest.raises(asyncio.CancelledError):
                await held
            await _until_served(stub)


async def _until_refused(stub: pb_grpc.GRPCInferenceServiceStub) -> grpc.aio.AioRpcError:
    """Sends until a request is refused (the held one has reached the engine by then)."""
    for _ in range(2000):
        try:
            await stub.ModelInfer(infer("fast"), metadata=TOKEN)
        except grpc.aio.AioRpcError as exc:
            return exc
        await asyncio.sleep(0.001)
    raise AssertionError("no request was refused while one was held")


async def _until_served(stub: pb_grpc.GRPCInferenceServiceStub) -> None:
    for _ in range(2000):
        try:
            await stub.ModelInfer(infer("fast"), metadata=TOKEN)
            return
        except grpc.aio.AioRpcError as exc:
            assert exc.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            await asyncio.sleep(0.001)
    raise AssertionError("the cancelled request never left the caller's in-flight count")


async def test_http_model_readiness_needs_a_token_when_auth_is_on(repo, keys) -> None:
    async with running(repo, security=SecurityOptions(api_keys=keys)) as server:
        address = server.addresses["http"]
        assert (await http_get(address, "/v2/health/ready"))[0] == 200
        status, body = await http_get(address, "/v2/models/fast/ready")
        assert status == 401 and b"bearer token" in body
        token = f"Bearer {SECRET}"
        assert await _get_with(address, "/v2/models/fast/ready", token) == 200
        assert await _get_with(address, "/v2/models/fast/ready", "Bearer naiad_wrong") == 401


async def test_health_can_require_a_token_too(repo, keys) -> None:
    security = SecurityOptions(api_keys=keys, open_health=False)
    async with running(repo, security=security) as server:
        address = server.addresses["http"]
        assert (await http_get(address, "/v2/health/live"))[0] == 401
        assert await _get_with(address, "/v2/health/ready", f"Bearer {SECRET}") == 200
        async for stub in stub_for(server):
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await stub.ServerLive(pb.ServerLiveRequest())
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert (await stub.ServerReady(pb.ServerReadyRequest(), metadata=TOKEN)).ready


async def _get_with(address: str, path: str, authorization: str) -> int:
    host, _, port = address.rpartition(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        request = f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {authorization}\r\n"
        writer.write((request + "Connection: close\r\n\r\n").encode())
        await writer.drain()
        raw = await reader.read()
    finally:
        writer.close()
        await writer.wait_closed()
    return int(raw.split(b" ")[1])
