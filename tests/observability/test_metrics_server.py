"""/metrics of a real server after a known mix of requests: exact counts, labels, histograms."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import grpc
import modelgen
import numpy as np
import pytest
from obs_helpers import FAST_CONFIG, HELD_CONFIG, Samples, fast_model, running, scrape

from naiad_client import AsyncClient, InferenceServerError

TRITON_COUNTERS = (
    "nv_inference_request_success",
    "nv_inference_request_failure",
    "nv_inference_count",
    "nv_inference_exec_count",
    "nv_inference_request_duration_us",
    "nv_inference_queue_duration_us",
    "nv_inference_compute_input_duration_us",
    "nv_inference_compute_infer_duration_us",
    "nv_inference_compute_output_duration_us",
)


@pytest.fixture(scope="module")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repo")
    return modelgen.write_repository(
        root,
        {"fast": {1: fast_model}, "held": {1: fast_model}},
        {"fast": FAST_CONFIG, "held": HELD_CONFIG},
    )


async def _until(server, condition, timeout_s: float = 10.0) -> Samples:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        samples = await scrape(server)
        if condition(samples):
            return samples
        assert asyncio.get_running_loop().time() < deadline, "condition never met:\n" + samples.text
        await asyncio.sleep(0.02)


def _rows(n: int, width: int = 4) -> dict[str, np.ndarray]:
    return {"INPUT0": np.ones((n, width), np.float32)}


def _value_by_priority(samples: Samples) -> float:
    return samples.value("naiad_inference_pending_requests_by_priority", **HELD, priority="1")


FAST = {"model": "fast", "version": "1"}
HELD = {"model": "held", "version": "1"}


async def test_counts_after_a_known_mix_of_requests(repository: Path) -> None:
    async with running(repository) as server, AsyncClient(server.grpc_address) as client:
        for _ in range(5):
            await client.infer("fast", _rows(1))
        await client.infer("fast", _rows(3))
        for _ in range(2):  # a bad shape: refused before the queue, counted OTHER
            with pytest.raises(InferenceServerError) as bad:
                await client.infer("fast", _rows(1, width=5))
            assert bad.value.status is grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(InferenceServerError):  # unknown model: nobody's failure
            await client.infer("missing", _rows(1))

        # Held in the queue (waiting for company) until its deadline: cancelled while queued.
        leaving = asyncio.ensure_future(client.infer("held", _rows(1), timeout_s=1.5))
        await _until(server, lambda s: s.value("nv_inference_pending_request_count", **HELD) == 1)
        assert _value_by_priority(await scrape(server)) == 1
        with pytest.raises(InferenceServerError) as full:  # the queue (size 1) is full
            await client.infer("held", _rows(1))
        assert full.value.status is grpc.StatusCode.UNAVAILABLE
        with pytest.raises(InferenceServerError) as late:
            await leaving
        assert late.value.status is grpc.StatusCode.DEADLINE_EXCEEDED
        await _until(server, lambda s: s.value("nv_inference_pending_request_count", **HELD) == 0)
        with pytest.raises(InferenceServerError) as expired:  # its own queue timeout: 50 ms
            await client.infer("held", _rows(1), parameters={"timeout": 50_000})
        assert expired.value.status is grpc.StatusCode.UNAVAILABLE
        await client.infer("held", _rows(8))  # a full batch leaves at once

        samples = await scrape(server)
        stats = await client.statistics(as_dict=False)

    for name in TRITON_COUNTERS:
        assert samples.types[name] == "counter", name
    assert samples.types["nv_inference_pending_request_count"] == "gauge"

    assert samples.value("nv_inference_request_success", **FAST) == 6
    assert samples.value("nv_inference_count", **FAST) == 8
    assert samples.value("nv_inference_exec_count", **FAST) == 6
    assert samples.value("nv_inference_request_success", **HELD) == 1
    assert samples.value("nv_inference_count", **HELD) == 8
    assert samples.value("nv_inference_exec_count", **HELD) == 1
    expected_failures = {
        ("fast", "OTHER"): 2, ("fast", "REJECTED"): 0, ("fast", "CANCELED"): 0,
        ("fast", "BACKEND"): 0, ("held", "OTHER"): 0, ("held", "REJECTED"): 2,
        ("held", "CANCELED"): 1, ("held", "BACKEND"): 0,
    }  # fmt: skip
    for (model, reason), count in expected_failures.items():
        value = samples.value("nv_inference_request_failure", model=model, reason=reason)
        assert value == count, (model, reason)
    assert not samples.find("nv_inference_request_success", model="missing")
    # Of held's two REJECTED, one was the queue-full rejection and one its queue timeout.
    assert samples.value("naiad_inference_queue_timeout_count", model="held") == 1
    assert samples.value("naiad_inference_queue_timeout_count", model="fast") == 0

    by_name = {s.name: s for s in stats.model_stats}
    for model in ("fast", "held"):
        _check_consistent(samples, by_name[model], model)


def _check_consistent(samples: Samples, stats, model: str) -> None:  # type: ignore[no-untyped-def]
    """The histograms and Triton counters agree with ModelStatistics."""
    labels = {"model": model, "version": "1"}
    infer = stats.inference_stats
    assert samples.value("nv_inference_request_success", **labels) == infer.success.count
    assert samples.value("nv_inference_request_duration_us", **labels) == infer.success.ns // 1000
    assert samples.value("nv_inference_queue_duration_us", **labels) == infer.queue.ns // 1000
    for part in ("input", "infer", "output"):
        value = samples.value(f"nv_inference_compute_{part}_duration_us", **labels)
        assert value == getattr(infer, f"compute_{part}").ns // 1000
    fails = sum(v for _, v in samples.find("nv_inference_request_failure", **labels))
    assert fails == infer.fail.count

    def histogram(name: str) -> tuple[list[float], float, float]:
        buckets = [v for _, v in samples.find(f"naiad_inference_{name}_bucket", **labels)]
        count = samples.value(f"naiad_inference_{name}_count", **labels)
        total = samples.value(f"naiad_inference_{name}_sum", **labels)
        assert buckets == sorted(buckets) and buckets[-1] == count  # cumulative, +Inf last
        return buckets, count, total

    _, count, total = histogram("request_duration_us")
    assert count == infer.success.count
    assert total == pytest.approx(infer.success.ns / 1000, rel=1e-6)
    _, count, total = histogram("queue_duration_us")
    assert count == infer.queue.count
    assert total == pytest.approx(infer.queue.ns / 1000, rel=1e-6, abs=1e-3)
    _, count, _ = histogram("compute_infer_duration_us")
    assert count == infer.compute_infer.count
    buckets, count, total = histogram("batch_size")
    assert count == stats.execution_count == sum(b.compute_infer.count for b in stats.batch_stats)
    assert total == stats.inference_count
    bounds = [
        float(lbl["le"]) for lbl, _ in samples.find("naiad_inference_batch_size_bucket", **labels)
    ]
    for bound, cumulative in zip(bounds, buckets, strict=True):
        expected = sum(b.compute_infer.count for b in stats.batch_stats if b.batch_size <= bound)
        assert cumulative == expected, bound
    assert stats.last_inference > 0
    assert samples.value("naiad_inference_last_timestamp_seconds", **labels) == pytest.approx(
        stats.last_inference / 1000
    )


DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "naiad-dashboard.json"


async def test_dashboard_queries_only_exported_metrics(repository: Path) -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    queries = " ".join(t["expr"] for panel in panels for t in panel["targets"])
    used = set(re.findall(r"\b((?:nv|naiad|process)_[a-z_]+)", queries))
    # exported only while a rollout runs, with monitoring or with a response cache:
    # tests/rollout/test_dashboard.py and tests/monitor/test_dashboard_series.py check those
    only_when = re.compile(
        r"naiad_(rollout|drift|model_drift|drifted|prediction|accuracy|monitor|cache)(_|$)|nv_cache_"
    )
    used = {name for name in used if not only_when.match(name)}
    async with running(repository) as server:
        samples = await scrape(server)
    exported = {name for name, _, _ in samples.rows}
    assert used and used <= exported, used - exported
