"""StreamSession against the fake service, which answers out of order and in error_message."""

from __future__ import annotations

import asyncio

import grpc
import numpy as np
import pytest

from naiad_client import AsyncClient, InferenceServerError


async def test_out_of_order_answers_are_matched_by_id(fake_server):
    async with AsyncClient(fake_server.url) as client, client.stream() as session:
        values = [np.full(2, i, np.int32) for i in range(7)]
        results = await asyncio.gather(*(session.infer("echo", {"x": v}) for v in values))
        for value, result in zip(values, results, strict=True):
            np.testing.assert_array_equal(result.as_numpy("OUT_x"), value)
        assert len({r.id for r in results}) == 7
        assert results[0].parameters["triton_final_response"] is True
        assert session.num_pending == 0


async def test_error_message_fails_only_its_request(fake_server):
    async with AsyncClient(fake_server.url) as client, client.stream() as session:
        good = session.infer("echo", {"x": np.zeros(1)}, request_id="good")
        bad = session.infer("bad", {"x": np.zeros(1)}, request_id="bad")
        after = session.infer("echo", {"x": np.ones(1)})
        outcomes = await asyncio.gather(good, bad, after, return_exceptions=True)
        assert outcomes[0].id == "good"
        assert isinstance(outcomes[1], InferenceServerError)
        assert outcomes[1].status == grpc.StatusCode.INVALID_ARGUMENT
        assert outcomes[2].as_numpy("OUT_x").tolist() == [1.0]
        # The stream is still open after the error.
        assert (await session.infer("echo", {"x": np.zeros(1)})).model_name == "echo"


async def test_send_prepared_bytes_and_duplicate_ids(fake_server):
    async with AsyncClient(fake_server.url) as client, client.stream() as session:
        payload = client.prepare("echo", {"x": np.arange(3)}).SerializeToString()
        futures = [session.send(payload) for _ in range(5)]
        held = session.send(client.prepare("echo", {"x": np.zeros(1)}, request_id="mine"))
        with pytest.raises(ValueError, match="already pending"):
            session.send(payload, request_id="mine")
        results = await asyncio.gather(*futures, held)
        assert [r.as_numpy("OUT_x").tolist() for r in results[:5]] == [[0, 1, 2]] * 5
        assert results[5].id == "mine"


async def test_broken_stream_fails_pending_and_later_sends():
    async with AsyncClient("127.0.0.1:1") as client:
        session = client.stream()
        session.open()
        future = session.send(client.prepare("echo", {"x": np.zeros(1)}))
        with pytest.raises(InferenceServerError) as caught:
            await future
        assert caught.value.status == grpc.StatusCode.UNAVAILABLE
        with pytest.raises(InferenceServerError):
            session.send(client.prepare("echo", {"x": np.zeros(1)}))
        await session.close()


async def test_closed_session_refuses_sends(fake_server):
    async with AsyncClient(fake_server.url) as client:
        async with client.stream() as session:
            await session.infer("echo", {"x": np.zeros(1)})
        with pytest.raises(InferenceServerError) as caught:
            session.send(client.prepare("echo", {"x": np.zeros(1)}))
        assert caught.value.status == grpc.StatusCode.CANCELLED
