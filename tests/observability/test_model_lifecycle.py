"""Metrics and health endpoints following models through load, failure, reload and unload."""

from __future__ import annotations

from pathlib import Path

import modelgen
import numpy as np
import pytest
from obs_helpers import FAST_CONFIG, broken_model, fast_model, http_get, running, scrape

from naiad_client import AsyncClient, InferenceServerError

ONE_ROW = {"INPUT0": np.ones((1, 4), np.float32)}
FAST = {"model": "fast", "version": "1"}


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return modelgen.write_repository(
        tmp_path / "repo",
        {"fast": {1: fast_model}, "broken": {1: broken_model}},
        {"fast": FAST_CONFIG},
    )


async def test_counters_continue_across_reloads_and_vanish_on_unload(repository: Path) -> None:
    async with running(repository, model_control_mode="explicit") as server:
        async with AsyncClient(server.grpc_address) as client:
            samples = await scrape(server)
            assert not samples.find("nv_inference_request_success", model="fast")
            assert not samples.find("naiad_model_state", model="fast")  # never asked to load

            await client.load_model("fast")
            for _ in range(3):
                await client.infer("fast", ONE_ROW)
            samples = await scrape(server)
            assert samples.value("nv_inference_request_success", **FAST) == 3
            assert samples.value("naiad_model_state", **FAST, state="READY") == 1
            assert samples.value("naiad_model_load_duration_seconds", **FAST) > 0

            await client.load_model("fast")  # a reload: a new scheduler counting from zero
            for _ in range(2):
                await client.infer("fast", ONE_ROW)
            samples = await scrape(server)
            stats = await client.statistics("fast")
            assert stats.model_stats[0].inference_stats.success.count == 2  # this load only
            assert samples.value("nv_inference_request_success", **FAST) == 5  # the series
            assert samples.value("nv_inference_count", **FAST) == 5
            assert samples.value("naiad_inference_request_duration_us_count", **FAST) == 5

            await client.unload_model("fast")
            samples = await scrape(server)
            assert not samples.find("nv_inference_request_success", model="fast")
            assert not samples.find("naiad_inference_batch_size_count", model="fast")
            assert samples.value("naiad_model_state", **FAST, state="UNAVAILABLE") == 1

            await client.load_model("fast")
            await client.infer("fast", ONE_ROW)
            samples = await scrape(server)
            assert samples.value("nv_inference_request_success", **FAST) == 6


@pytest.mark.parametrize("strict", [True, False])
async def test_health_follows_model_state(repository: Path, strict: bool) -> None:
    options = {"model_control_mode": "explicit", "strict_readiness": strict}
    async with running(repository, **options) as server:
        address = server.addresses["http"]

        async def status(path: str) -> int:
            return (await http_get(address, path))[0]

        assert await status("/v2/health/live") == 200
        assert await status("/v2/health/ready") == 200  # nothing is expected to be loaded
        assert await status("/v2/models/fast/ready") == 400

        async with AsyncClient(server.grpc_address) as client:
            await client.load_model("fast")
            assert await status("/v2/models/fast/ready") == 200
            assert await status("/v2/models/fast/versions/1/ready") == 200
            assert await status("/v2/models/fast/versions/2/ready") == 400
            assert await status("/v2/health/ready") == 200

            with pytest.raises(InferenceServerError):
                await client.load_model("broken")
            assert await status("/v2/models/broken/ready") == 400
            assert await status("/v2/health/ready") == (400 if strict else 200)
            samples = await scrape(server)
            assert samples.value("naiad_model_state", model="broken", state="UNAVAILABLE") == 1

            await client.unload_model("broken")  # no longer expected
            assert await status("/v2/health/ready") == 200
            await client.unload_model("fast")
            assert await status("/v2/models/fast/ready") == 400
            assert await status("/v2/health/ready") == 200


async def test_http_edges(repository: Path) -> None:
    async with running(repository, model_control_mode="explicit") as server:
        http, metrics = server.addresses["http"], server.addresses["metrics"]
        assert await http_get(http, "/v2/health/live", "HEAD") == (200, b"")
        assert (await http_get(http, "/nothing"))[0] == 404
        assert (await http_get(http, "/v2/health/live", "POST"))[0] == 405
        assert (await http_get(http, "/metrics"))[0] == 404  # its own port
        assert (await http_get(metrics, "/v2/health/live"))[0] == 404


async def test_listeners_can_be_disabled(repository: Path) -> None:
    async with running(repository, http_port=None, metrics_port=None) as server:
        assert server.ledger is None
        assert list(server.addresses) == ["grpc"]
