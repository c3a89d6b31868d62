"""The targets the harness starts itself: grpc-noop, naive, in-process, and a real naiad."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from bench_fakes import quick_scenario

from bench import models, report, targets
from bench.ort import InprocessRunner
from bench.runner import Runner
from bench.scenario import ModelSpec, TargetSpec
from naiad_client import AsyncClient, Client

TINY = {"name": "tiny_test", "num_in": 16, "hidden": [16], "num_out": 4, "max_batch_size": 8}


@pytest.fixture(scope="module")
def tiny_signature(bench_cache):
    return models.ensure_generated(ModelSpec(**{**TINY, "hidden": (16,)}))


@pytest.fixture
def started(tiny_signature, tmp_path):
    running = []

    def start(kind):
        target = targets.start(TargetSpec(kind=kind, label=kind), tiny_signature, tmp_path)
        running.append(target)
        return target

    yield start
    for target in running:
        assert target.server.stop() == 0  # SIGTERM is a clean shutdown


def test_generated_repository_has_config_and_model(tiny_signature):
    assert (
        models.repository_signature(
            ModelSpec(name="tiny_test", generate=None, repository=tiny_signature.repository)
        )
        == tiny_signature
    )


def test_naive_computes_what_onnxruntime_computes(started, tiny_signature):
    naive = started("naive")
    x = np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)
    with Client(naive.url) as client:
        result = client.infer("tiny_test", {"INPUT0": x}, request_id="n1")
        expected = InprocessRunner(tiny_signature.onnx_path)({"INPUT0": x})[0]
        np.testing.assert_allclose(result.as_numpy("OUTPUT0"), expected, rtol=1e-5)
        assert result.id == "n1"
        stats = client.statistics("tiny_test").model_stats[0]
        assert (stats.inference_count, stats.execution_count) == (3, 1)


async def test_noop_answers_a_fixed_output_on_every_rpc_the_harness_uses(started):
    noop = started("grpc-noop")
    async with AsyncClient(noop.url) as client:
        result = await client.infer("tiny_test", {"INPUT0": np.ones((2, 16), np.float32)})
        assert result.as_numpy("OUTPUT0").tolist() == [[0.0] * 4] * 2
        async with client.stream() as session:
            answers = [await session.infer("tiny_test", {"INPUT0": np.ones((1, 16), np.float32)})]
        assert answers[0].parameters["triton_final_response"] is True
        config = await client.model_config("tiny_test")
        assert config.max_batch_size == 8 and config.input[0].dims == [16]
        metadata = await client.model_metadata("tiny_test")
        assert metadata.inputs[0].shape == [-1, 16]
        stats = (await client.statistics("tiny_test")).model_stats[0].inference_stats
        # perf_analyzer refuses statistics where these counts differ.
        assert (
            stats.compute_input.count
            == stats.compute_infer.count
            == stats.compute_output.count
            == 2
        )
        assert "statistics" in (await client.server_metadata()).extensions


def test_reference_targets_side_by_side(tmp_path):
    scenario = quick_scenario(
        ["grpc-noop", "onnxruntime-inprocess"],
        model=TINY,
        request={"modes": ["async", "stream"]},
        load={"levels": [2]},
    )
    document = Runner(scenario, tmp_path).run(emit=lambda line: None)
    rows = {(r["target"], r["mode"]): r for r in document["runs"]}
    assert len(rows) == 4
    for row in rows.values():
        assert row["throughput_rps"] > 0 and row["errors"] == {}
    # The in-process limit is measured again beside every mode, not carried over.
    assert rows["onnxruntime-inprocess", "stream"] is not rows["onnxruntime-inprocess", "async"]
    assert rows["onnxruntime-inprocess", "stream"]["num_ok"] > 0
    assert rows["grpc-noop", "async"]["server"]["mean_batch"] == pytest.approx(1)
    assert (tmp_path / "grpc-noop.log").exists()


def test_against_a_real_naiad(tmp_path):
    """The harness on a real `naiad serve` (127.0.0.1:0) serving a tiny tests/modelgen model."""
    try:
        targets.naiad_executable()
    except RuntimeError:
        pytest.skip("naiad is not installed")
    import modelgen

    repository = modelgen.write_repository(
        tmp_path / "repo",
        {"classifier": {1: lambda p: modelgen.mlp(p, 16, 32, 4)}},
        configs={"classifier": "max_batch_size: 8\ndynamic_batching {}\n"},
    )
    scenario = quick_scenario(
        ["naiad"],
        model={"name": "classifier", "generate": "none", "repository": str(repository)},
        request={"modes": ["async", "stream"]},
        load={"levels": [4]},
    )
    out = tmp_path / "out"
    document = Runner(scenario, out).run(emit=lambda line: None)
    assert len(document["runs"]) == 2
    for row in document["runs"]:
        assert row["errors"] == {}, row
        assert row["throughput_rps"] > 10
        assert 0 < row["latency_ms"]["p50"] < 200
        assert row["server"]["compute_us"] is not None and row["server"]["mean_batch"] >= 1
    assert {p.name for p in out.iterdir()} >= {
        "results.json",
        "results.csv",
        "latency_throughput.png",
        "latency_distribution.png",
        "naiad.log",
    }


def test_a_dead_server_is_reported_not_measured(tmp_path, tiny_signature):
    server = targets.ServerProcess(["true"], tmp_path / "dead.log")
    server.process = subprocess.Popen(["true"])
    server.process.wait()
    target = targets.RunningTarget(TargetSpec("naiad", "naiad"), url="127.0.0.1:1", server=server)
    runner = Runner(quick_scenario(["naiad"], model=TINY), tmp_path)
    row = runner._measure_one(target, "async", 4, tiny_signature, [b""], [])
    assert row["throughput_rps"] == 0 and row["warnings"] == [
        "not measured: naiad exited with code 0"
    ]
    assert "not measured" in report.summary_line(row)
