"""Killed half-way for real (SIGKILL), the same command resumes from the last committed chunk and
the output holds every row exactly once; memory stays bounded on an input many times larger
than the chunk budget (peak RSS of the job's process)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import modelgen
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from batch_data import (
    batch_command,
    feature_table,
    features,
    predictions,
    read_output,
    reference,
    run_batch,
)

ROWS = 30_000
CHUNK = 100


def _committed(manifest: Path) -> int:
    try:
        return len(json.loads(manifest.read_text())["chunks"])
    except (FileNotFoundError, ValueError):
        return 0  # not written yet (it is replaced atomically, so never half-read)


def test_a_killed_job_resumes_and_writes_every_row_exactly_once(
    repository: Path, tmp_path: Path
) -> None:
    x = features(ROWS, seed=11)
    pq.write_table(feature_table(x), tmp_path / "in.parquet", row_group_size=7_000)
    out = tmp_path / "out"
    arguments = (
        "--model-repository", str(repository), "--model", "clf",
        "--input", str(tmp_path / "in.parquet"), "--output", str(out),
        "--map", "INPUT0=f*", "--keep-columns", "id", "--chunk-rows", str(CHUNK),
    )  # fmt: skip
    process = subprocess.Popen(
        batch_command(*arguments), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    manifest = out / "_naiad_manifest.json"
    deadline = time.monotonic() + 120
    while _committed(manifest) < 20 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)  # waiting for a condition, not for time to pass
    process.send_signal(signal.SIGKILL)
    process.wait(30)
    state = json.loads(manifest.read_text())
    total_chunks = ROWS // CHUNK
    assert not state["done"] and 20 <= len(state["chunks"]) < total_chunks, len(state["chunks"])
    # What a kill between a part file's rename and the manifest's commit leaves behind, and a
    # half-written temporary: the rerun must not count either.
    (out / f"part-00000-{total_chunks - 1:06d}.parquet").write_bytes(b"not a parquet file")
    (out / ".naiad-tmp-0123-part-00000-000001.parquet").write_bytes(b"half")

    resumed = run_batch(*arguments)
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(state['chunks'])} chunk(s) already committed" in resumed.stderr
    assert f"skipped_rows={len(state['chunks']) * CHUNK}" in resumed.stdout
    table = read_output(out)
    assert table.column("id").to_pylist() == list(range(ROWS))  # each row once, none missing
    np.testing.assert_allclose(predictions(table), reference(repository, x), rtol=1e-5, atol=1e-6)
    assert not list(out.glob(".naiad-tmp-*"))
    assert json.loads(manifest.read_text())["done"]


def _peak_rss_kib(arguments: list[str]) -> int:
    # A fresh parent, so that RUSAGE_CHILDREN holds this one job's peak and no earlier child's.
    probe = (
        "import resource, subprocess, sys\n"
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
        "assert done.returncode == 0, done.stderr\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    answer = subprocess.run(
        [sys.executable, "-c", probe, *batch_command(*arguments)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert answer.returncode == 0, answer.stderr
    return int(answer.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(900)
def test_memory_stays_bounded_on_an_input_larger_than_the_chunk_budget(tmp_path: Path) -> None:
    width = 32
    repo = modelgen.write_repository(
        tmp_path / "repo",
        {"wide": {1: lambda p: modelgen.mlp(p, width, 16, 4)}},
        {"wide": "max_batch_size: 1024\ndynamic_batching {}\n"},
    )
    # Both inputs are many chunks long: with memory bounded by the chunk budget their peaks
    # match; memory that grew with the input would add about 96 MiB for the larger one.
    small, large = 262_144, 1_048_576
    rng = np.random.default_rng(0)
    for name, rows in (("small", small), ("large", large)):
        schema = pa.schema([("id", pa.int64()), ("x", pa.list_(pa.float32(), width))])
        with pq.ParquetWriter(tmp_path / f"{name}.parquet", schema) as writer:
            for start in range(0, rows, 65_536):
                n = min(65_536, rows - start)
                values = pa.array(rng.standard_normal(n * width).astype(np.float32))
                writer.write_table(
                    pa.table(
                        {
                            "id": np.arange(start, start + n),
                            "x": pa.FixedSizeListArray.from_arrays(values, width),
                        },
                        schema=schema,
                    ),
                    row_group_size=16_384,
                )
    peaks = {}
    for name in ("small", "large"):
        peaks[name] = _peak_rss_kib(
            [
                "--model-repository", str(repo), "--model", "wide",
                "--input", str(tmp_path / f"{name}.parquet"), "--output", str(tmp_path / name),
                "--map", "INPUT0=x", "--keep-columns", "id", "--chunk-rows", "4096",
            ]
        )  # fmt: skip
    extra_input_mib = (large - small) * width * 4 / 2**20  # 96 MiB more features
    grown_mib = (peaks["large"] - peaks["small"]) / 1024
    assert grown_mib < extra_input_mib / 3, (peaks, extra_input_mib)
    assert read_output(tmp_path / "large").num_rows == large
