"""The LogSettings RPC and the access log, on an in-process server."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import grpc
import modelgen
import numpy as np
import pytest
from obs_helpers import FAST_CONFIG, fast_model, running

from naiad.observability import logs
from naiad_client import AsyncClient, InferenceServerError
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc

Value = pb.LogSettingsRequest.SettingValue


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    return modelgen.write_repository(
        tmp_path / "repo", {"fast": {1: fast_model}}, {"fast": FAST_CONFIG}
    )


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    saved, level = logs.current(), logging.getLogger().level
    yield
    logs.update(asdict(saved))
    logging.getLogger().setLevel(level)


def _settings(response: pb.LogSettingsResponse) -> dict[str, object]:
    return {k: getattr(v, v.WhichOneof("parameter_choice")) for k, v in response.settings.items()}


async def test_log_settings_change_levels_at_run_time(repository: Path) -> None:
    async with running(repository) as server:
        async with grpc.aio.insecure_channel(server.grpc_address) as channel:
            stub = pb_grpc.GRPCInferenceServiceStub(channel)
            current = _settings(await stub.LogSettings(pb.LogSettingsRequest()))
            assert set(current) == {
                "log_info", "log_warning", "log_error", "log_verbose_level", "log_format",
                "log_file",
            }  # fmt: skip

            request = pb.LogSettingsRequest(
                settings={
                    "log_info": Value(bool_param=False),
                    "log_verbose_level": Value(uint32_param=2),
                    "log_format": Value(string_param="json"),
                }
            )
            changed = _settings(await stub.LogSettings(request))
            assert changed["log_info"] is False and changed["log_verbose_level"] == 2
            assert changed["log_format"] == "json"
            assert not logs.current().allows(logging.INFO)
            assert logs.current().allows(logging.DEBUG) and logs.current().allows(logging.ERROR)
            assert logging.getLogger("naiad.engine").isEnabledFor(logging.DEBUG)

            for bad in (
                {"log_colour": Value(bool_param=True)},
                {"log_info": Value(string_param="yes")},
                {"log_format": Value(string_param="xml")},
                {"log_file": Value(string_param="/tmp/elsewhere.log")},
            ):
                with pytest.raises(grpc.aio.AioRpcError) as refused:
                    await stub.LogSettings(pb.LogSettingsRequest(settings=bad))
                assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
            assert _settings(await stub.LogSettings(pb.LogSettingsRequest())) == changed


async def test_access_log_lines(repository: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="naiad.access")
    async with running(repository, access_log=True) as server:
        async with AsyncClient(server.grpc_address) as client:
            await client.infer("fast", {"INPUT0": np.ones((1, 4), np.float32)}, request_id="a1")
            with pytest.raises(InferenceServerError):
                await client.infer("fast", {"INPUT0": np.ones((1, 5), np.float32)}, request_id="a2")
            with pytest.raises(InferenceServerError):
                await client.infer("nope", {"INPUT0": np.ones((1, 4), np.float32)}, request_id="a3")
            async with client.stream() as session:
                await session.infer(
                    "fast", {"INPUT0": np.ones((2, 4), np.float32)}, request_id="s1"
                )
    lines = [r.fields for r in caplog.records if r.name == "naiad.access"]  # type: ignore[attr-defined]
    by_id = {line["id"]: line for line in lines}
    assert by_id["a1"]["status"] == "OK" and by_id["a1"]["version"] == "1"
    assert by_id["a1"]["model"] == "fast" and by_id["a1"]["duration_us"] >= 0
    assert by_id["a2"]["status"] == "INVALID_ARGUMENT"
    assert by_id["a3"]["status"] == "NOT_FOUND"
    assert by_id["s1"]["status"] == "OK"


async def test_no_access_log_means_no_access_log_layer(repository: Path) -> None:
    # Authorization is always there (it audits management calls even without tokens), and so
    # is the rollout (a model may declare a plan at any load); the access log only when asked.
    async with running(repository) as server:
        assert type(server.engine).__name__ == "AuthorizationLayer"
        rollout = server.engine.inner  # type: ignore[attr-defined]
        assert type(rollout).__name__ == "RolloutLayer"
        assert type(rollout.inner).__name__ == "Engine"
