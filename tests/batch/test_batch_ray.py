"""`naiad batch --ray` on a local Ray cluster the test starts (2 CPUs): the same rows and
predictions as the local engine, rejects with reasons, and per-file resume."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from batch_data import feature_table, features, predictions, read_output, reference, rejects

from naiad.batch.local import run_job
from naiad.batch.spec import BatchJob, parse_mapping

ray = pytest.importorskip("ray")

from naiad.batch.ray_job import RayOptions, run_on_ray  # noqa: E402

# Ray Data warns about its own deprecated settings while it sets them up.
pytestmark = [
    pytest.mark.filterwarnings("ignore::DeprecationWarning:ray"),
    pytest.mark.filterwarnings("ignore::FutureWarning:ray"),
]


@pytest.fixture(scope="module")
def cluster() -> Iterator[None]:
    # One cluster for the module: Ray takes seconds to start on two cores.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _job(repository: Path, source: Path, out: Path) -> BatchJob:
    return BatchJob(
        model="clf",
        model_repository=str(repository),
        input=str(source),
        output=str(out),
        mapping=parse_mapping(["INPUT0=f*"]),
        keep_columns=("id",),
        chunk_rows=256,
    )


@pytest.mark.timeout(600)
def test_ray_output_equals_the_local_engine_and_resumes_per_file(
    cluster: None, repository: Path, tmp_path: Path
) -> None:
    x = features(2000, seed=21)
    (tmp_path / "in").mkdir()
    for k in range(2):
        part = feature_table(x[k * 1000 : (k + 1) * 1000], first_id=k * 1000)
        pq.write_table(part, tmp_path / "in" / f"{k}.parquet", row_group_size=250)
    options = RayOptions(num_actors=1, cpus_per_actor=1)  # the other CPU reads and writes
    summary = run_on_ray(_job(repository, tmp_path / "in", tmp_path / "ray"), options)
    assert summary["rows"] == 2000 and summary["written"] == 2000
    run_job(_job(repository, tmp_path / "in", tmp_path / "local"))
    on_ray, local = read_output(tmp_path / "ray"), read_output(tmp_path / "local")
    assert on_ray.column("id").to_pylist() == list(range(2000))
    assert on_ray.column("id").to_pylist() == local.column("id").to_pylist()
    np.testing.assert_allclose(predictions(on_ray), predictions(local), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(predictions(on_ray), reference(repository, x), rtol=1e-5, atol=1e-6)

    # A run that stopped after file 0: the manifest forgets file 1 while its part files stay
    # behind; the rerun removes those and writes each row once again.
    manifest_path = tmp_path / "ray" / "_naiad_manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["done"] = False
    manifest["files_done"] = [0]
    manifest["chunks"] = {"00000-ray": manifest["chunks"]["00000-ray"]}
    manifest_path.write_text(json.dumps(manifest))
    again = run_on_ray(_job(repository, tmp_path / "in", tmp_path / "ray"), options)
    assert again["skipped_rows"] == 1000 and again["rows"] == 1000
    assert read_output(tmp_path / "ray").column("id").to_pylist() == list(range(2000))


@pytest.mark.timeout(600)
def test_ray_writes_rejects_with_reasons(cluster: None, repository: Path, tmp_path: Path) -> None:
    x = features(200, seed=22)
    table = feature_table(x)
    lines = ["id,f0,f1,f2,f3"]
    for i, row in enumerate(table.to_pylist()):
        values = [str(row[f"f{j}"]) for j in range(4)]
        if i == 17:
            values[1] = "oops"
        lines.append(",".join([str(i), *values]))
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    summary = run_on_ray(_job(repository, tmp_path / "in.csv", out), RayOptions(num_actors=1))
    assert summary["rejected"] == 1 and summary["written"] == 199
    found = rejects(out / "_rejects")
    assert [(r["values"]["id"], r["reason"]) for r in found] == [
        (17, "column 'f1': 'oops' is not a FP32 value (input 'INPUT0')")
    ]
    good = [i for i in range(200) if i != 17]
    result = read_output(out)
    assert result.column("id").to_pylist() == good
    np.testing.assert_allclose(
        predictions(result), reference(repository, x[good]), rtol=1e-5, atol=1e-6
    )
