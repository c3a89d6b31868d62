"""The response cache through tritonclient: identical bytes on a hit, Triton's statistics and
metrics, never across versions, and the --cache-bytes cap."""

from __future__ import annotations

import queue

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from helpers import tensor
from modelgen import offset, write_repository
from server_process import naiad_server

WIDTH = 1024
"""FP32 elements per row: a 4 KiB answer per one-row request."""
CACHED = f"""
max_batch_size: 8
input [ {{ name: "INPUT0" data_type: TYPE_FP32 dims: [ {WIDTH} ] }} ]
output [ {{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [ {WIDTH} ] }} ]
version_policy {{ all {{ }} }}
response_cache {{ enable: true }}
"""
UNCACHED = CACHED.replace("response_cache { enable: true }", "")
ENTRY_BYTES = 4 * WIDTH + 32 + 128
"""What one answer costs in the cache: its tensor, its key and the fixed overhead."""
CAP = 3 * ENTRY_BYTES + 100


@pytest.fixture(scope="module")
def server(tmp_path_factory):  # type: ignore[no-untyped-def]
    dims = [WIDTH]
    root = write_repository(
        tmp_path_factory.mktemp("repo"),
        {
            "cached": {1: lambda p: offset(p, 1.0, dims), 2: lambda p: offset(p, 2.0, dims)},
            "capped": {1: lambda p: offset(p, 1.0, dims)},
            "uncached": {1: lambda p: offset(p, 1.0, dims)},
        },
        configs={"cached": CACHED, "capped": CACHED, "uncached": UNCACHED},
    )
    with naiad_server(root, "--cache-bytes", str(CAP)) as process:
        yield process


def _rows(seed: float, rows: int = 1) -> np.ndarray:
    return np.arange(rows * WIDTH, dtype=np.float32).reshape(rows, WIDTH) + seed


def _infer(client, model: str, x: np.ndarray, version: str = "") -> grpcclient.InferResult:  # type: ignore[no-untyped-def]
    return client.infer(model, [tensor("INPUT0", x, "FP32")], model_version=version)


def _stats(client, model: str, version: str) -> dict:  # type: ignore[no-untyped-def,type-arg]
    found = client.get_inference_statistics(model, version, as_json=True)["model_stats"]
    return found[0]


def _count(stats: dict, key: str) -> int:  # type: ignore[type-arg]
    return int(stats["inference_stats"].get(key, {}).get("count", 0))


def test_hits_return_identical_bytes_and_statistics_match_the_traffic(server) -> None:  # type: ignore[no-untyped-def]
    client = grpcclient.InferenceServerClient(server.url)
    x, y = _rows(0.5, rows=2), _rows(7.0)
    first = _infer(client, "cached", x, "1")
    answers = [_infer(client, "cached", x, "1") for _ in range(3)]
    other = _infer(client, "cached", y, "1")
    raw = first.get_response().raw_output_contents[0]
    for answer in answers:
        assert answer.get_response().raw_output_contents[0] == raw
    np.testing.assert_array_equal(first.as_numpy("OUTPUT0"), x + 1.0)
    np.testing.assert_array_equal(other.as_numpy("OUTPUT0"), y + 1.0)

    stats = _stats(client, "cached", "1")
    assert _count(stats, "cache_hit") == 3
    assert _count(stats, "cache_miss") == 2
    assert _count(stats, "success") == 5
    assert _count(stats, "queue") == 5  # hits count as queued, as in Triton
    assert _count(stats, "compute_infer") == _count(stats, "compute_input") == 2
    assert int(stats["execution_count"]) == 2  # only the misses ran
    assert int(stats["inference_count"]) == 3  # rows that ran: 2 + 1
    assert int(stats["inference_stats"]["cache_miss"]["ns"]) > 0

    labels = {"model": "cached", "version": "1"}
    assert server.metric("nv_cache_num_hits_per_model", **labels) == 3
    assert server.metric("nv_cache_num_misses_per_model", **labels) == 2
    assert server.metric("nv_inference_request_success", **labels) == 5


def test_an_answer_never_crosses_versions_and_uncached_models_run_every_time(server) -> None:  # type: ignore[no-untyped-def]
    client = grpcclient.InferenceServerClient(server.url)
    x = _rows(100.0)
    one = [_infer(client, "cached", x, "1").as_numpy("OUTPUT0") for _ in range(2)]
    two = [_infer(client, "cached", x, "2").as_numpy("OUTPUT0") for _ in range(2)]
    np.testing.assert_array_equal(one[1], x + 1.0)
    np.testing.assert_array_equal(two[0], x + 2.0)
    np.testing.assert_array_equal(two[1], x + 2.0)
    assert _count(_stats(client, "cached", "2"), "cache_hit") == 1
    assert _count(_stats(client, "cached", "2"), "cache_miss") == 1
    for _ in range(3):
        _infer(client, "uncached", x)
    stats = _stats(client, "uncached", "1")
    assert int(stats["execution_count"]) == 3
    assert _count(stats, "cache_hit") == _count(stats, "cache_miss") == 0


def test_http_and_streaming_requests_share_the_cache(server) -> None:  # type: ignore[no-untyped-def]
    grpc_client = grpcclient.InferenceServerClient(server.url)
    x = _rows(-3.0)
    before = _stats(grpc_client, "cached", "2")
    expected = _infer(grpc_client, "cached", x, "2").as_numpy("OUTPUT0")

    http_client = httpclient.InferenceServerClient(server.http_url)
    given = httpclient.InferInput("INPUT0", list(x.shape), "FP32")
    given.set_data_from_numpy(x, binary_data=True)
    try:
        over_http = http_client.infer("cached", [given], model_version="2")
    finally:
        http_client.close()
    assert over_http.as_numpy("OUTPUT0").tobytes() == expected.tobytes()

    answers: queue.Queue = queue.Queue()  # type: ignore[type-arg]
    grpc_client.start_stream(callback=lambda result, error: answers.put((result, error)))
    try:
        for i in range(2):
            grpc_client.async_stream_infer(
                "cached", [tensor("INPUT0", x, "FP32")], model_version="2", request_id=str(i)
            )
        for _ in range(2):
            result, error = answers.get(timeout=30)
            assert error is None
            assert result.as_numpy("OUTPUT0").tobytes() == expected.tobytes()
    finally:
        grpc_client.stop_stream()
    after = _stats(grpc_client, "cached", "2")
    assert _count(after, "cache_hit") - _count(before, "cache_hit") == 3
    assert _count(after, "cache_miss") - _count(before, "cache_miss") == 1


def test_the_cap_holds_and_the_least_recently_used_answer_goes_first(server) -> None:  # type: ignore[no-untyped-def]
    client = grpcclient.InferenceServerClient(server.url)
    # Whatever the other tests cached is evicted too: the cap is the server's, not the model's.
    for seed in range(5):
        _infer(client, "capped", _rows(1000.0 + seed))
    assert server.metric("naiad_cache_bytes") <= CAP
    assert server.metric("naiad_cache_entries") == 3
    assert server.metric("naiad_cache_max_bytes") == CAP
    before = _stats(client, "capped", "1")
    _infer(client, "capped", _rows(1004.0))  # the newest: still there
    _infer(client, "capped", _rows(1000.0))  # the oldest: evicted
    after = _stats(client, "capped", "1")
    assert _count(after, "cache_hit") - _count(before, "cache_hit") == 1
    assert _count(after, "cache_miss") - _count(before, "cache_miss") == 1
    assert server.metric("naiad_cache_bytes") <= CAP
