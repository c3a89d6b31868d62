"""ModelStreamInfer through tritonclient's stream API, sync and asyncio."""

from __future__ import annotations

import asyncio
import queue

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.grpc.aio as aioclient
from helpers import tensor
from modelgen import identity, write_repository
from server_process import naiad_server


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    root = tmp_path_factory.mktemp("repo")
    write_repository(root, {"echo": {1: lambda p: identity(p, "FP32", [-1])}})
    with naiad_server(root) as process:
        yield process


def test_stream_answers_every_request_by_id_and_keeps_going_after_errors(server) -> None:
    answers: queue.Queue = queue.Queue()  # type: ignore[type-arg]
    with grpcclient.InferenceServerClient(server.url) as client:
        client.start_stream(callback=lambda result, error: answers.put((result, error)))
        sent = {}
        for i in range(40):
            x = np.full((1, i % 5 + 1), i, dtype=np.float32)
            if i % 10 == 3:  # a wrong datatype: answered with error_message, stream stays open
                bad = tensor("INPUT0", x.astype(np.int32), "INT32")
                client.async_stream_infer("echo", [bad], request_id=f"r{i}")
                continue
            sent[f"r{i}"] = x
            client.async_stream_infer("echo", [tensor("INPUT0", x, "FP32")], request_id=f"r{i}")
        results = [answers.get(timeout=30) for _ in range(40)]
        client.stop_stream()
    errors = [e for _, e in results if e is not None]
    assert len(errors) == 4
    assert all("INT32" in e.message() for e in errors)
    got = {}
    for result, error in results:
        if error is None:
            response = result.get_response()
            assert response.parameters["triton_final_response"].bool_param is True
            got[response.id] = result.as_numpy("OUTPUT0")
    assert set(got) == set(sent)
    for request_id, x in sent.items():
        np.testing.assert_array_equal(got[request_id], x)


async def test_asyncio_infer_and_stream(server) -> None:
    client = aioclient.InferenceServerClient(server.url)
    try:
        x = np.arange(6, dtype=np.float32).reshape(2, 3)
        inputs = [tensor("INPUT0", x, "FP32")]
        results = await asyncio.gather(*(client.infer("echo", inputs) for _ in range(16)))
        for result in results:
            np.testing.assert_array_equal(result.as_numpy("OUTPUT0"), x)

        async def requests():  # type: ignore[no-untyped-def]
            for i in range(20):
                y = np.full((1, 2), i, dtype=np.float32)
                yield {"model_name": "echo", "inputs": [tensor("INPUT0", y, "FP32")],
                       "request_id": str(i)}  # fmt: skip

        seen = {}
        async for result, error in client.stream_infer(requests()):
            assert error is None
            seen[result.get_response().id] = result.as_numpy("OUTPUT0")
            if len(seen) == 20:
                break
        assert {k: float(v[0, 0]) for k, v in seen.items()} == {str(i): float(i) for i in range(20)}
    finally:
        await client.close()
