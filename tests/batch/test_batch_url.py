"""`naiad batch --url`: the same job through a running `naiad serve`, whose batching scheduler
forms the batches; the output equals in-process ONNX Runtime."""

from __future__ import annotations

from pathlib import Path

import modelgen
import numpy as np
import pyarrow.parquet as pq
from batch_data import feature_table, features, predictions, read_output, reference, run_batch
from e2e.server_process import naiad_server

from naiad_client import Client


def test_a_job_through_a_running_server(repository: Path, tmp_path: Path) -> None:
    x = features(2000, seed=31)
    pq.write_table(feature_table(x), tmp_path / "in.parquet")
    with naiad_server(repository) as server:
        done = run_batch(
            "--url", server.url, "--model", "clf", "--input", str(tmp_path / "in.parquet"),
            "--output", str(tmp_path / "out"), "--map", "INPUT0=f0,f1,f2,f3",
            "--keep-columns", "id", "--batch-size", "16", "--chunk-rows", "500",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        with Client(server.url) as client:
            stats = client.statistics("clf", as_dict=True)["model_stats"][0]
    table = read_output(tmp_path / "out")
    assert table.column("id").to_pylist() == list(range(2000))
    np.testing.assert_allclose(predictions(table), reference(repository, x), rtol=1e-5, atol=1e-6)
    # 125 requests of 16 rows, joined by the scheduler into fewer, larger batches.
    assert int(stats["inference_count"]) == 2000
    assert int(stats["execution_count"]) < 125


def test_a_full_server_queue_slows_the_job_down_instead_of_failing_it(tmp_path: Path) -> None:
    small_queue = (
        "max_batch_size: 64\ninstance_group { count: 1 kind: KIND_CPU }\n"
        "dynamic_batching { max_queue_delay_microseconds: 20000 "
        "default_queue_policy { max_queue_size: 2 } }\n"
    )
    repository = modelgen.write_repository(
        tmp_path / "repo", {"clf": {1: lambda p: modelgen.mlp(p, 4, 8, 3)}}, {"clf": small_queue}
    )
    x = features(1000, seed=32)
    pq.write_table(feature_table(x), tmp_path / "in.parquet")
    with naiad_server(repository) as server:
        done = run_batch(
            "--url", server.url, "--model", "clf", "--input", str(tmp_path / "in.parquet"),
            "--output", str(tmp_path / "out"), "--map", "INPUT0=f*", "--keep-columns", "id",
            "--batch-size", "8", "--max-in-flight", "32",
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        with Client(server.url) as client:
            stats = client.statistics("clf", as_dict=True)["model_stats"][0]
    assert int(stats["inference_stats"]["fail"]["count"]) > 0  # the queue was full at times
    table = read_output(tmp_path / "out")
    assert table.column("id").to_pylist() == list(range(1000))
    np.testing.assert_allclose(predictions(table), reference(repository, x), rtol=1e-5, atol=1e-6)
