"""`naiad batch` over Parquet, CSV, JSON lines, npy and npz inputs, local and fsspec URLs: the
output equals in-process ONNX Runtime row by row, next to the kept columns."""

from __future__ import annotations

import io
import json
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from batch_data import feature_table, features, predictions, read_output, reference

from naiad.batch.local import run_job
from naiad.batch.spec import BatchJob, parse_mapping

ROWS = 1000


def job(repository: Path, source: str, out: Path, **fields: object) -> BatchJob:
    settings: dict[str, object] = {
        "model": "clf",
        "model_repository": str(repository),
        "input": source,
        "output": str(out),
        "keep_columns": ("id",),
        "mapping": parse_mapping(["INPUT0=f*"]),
        "chunk_rows": 128,
    }
    settings.update(fields)
    return BatchJob(**settings)  # type: ignore[arg-type]


def assert_matches(repository: Path, out: Path, x: np.ndarray) -> None:
    table = read_output(out)
    assert table.column("id").to_pylist() == list(range(len(x)))
    np.testing.assert_allclose(predictions(table), reference(repository, x), rtol=1e-5, atol=1e-6)


def test_parquet_file_with_row_groups_unlike_the_chunks(repository: Path, tmp_path: Path) -> None:
    x = features(ROWS)
    pq.write_table(feature_table(x), tmp_path / "in.parquet", row_group_size=300)
    summary = run_job(job(repository, str(tmp_path / "in.parquet"), tmp_path / "out"))
    assert summary["rows"] == ROWS and summary["written"] == ROWS and summary["rejected"] == 0
    assert_matches(repository, tmp_path / "out", x)
    parts = sorted(p.name for p in (tmp_path / "out").glob("part-*.parquet"))
    assert parts == [f"part-00000-{i:06d}.parquet" for i in range(8)]  # 1000 rows / 128
    # Kept columns keep Parquet's dictionary; the float predictions are written plain.
    metadata = pq.ParquetFile(tmp_path / "out" / parts[0]).metadata.row_group(0)
    encodings = {metadata.column(i).path_in_schema: metadata.column(i).encodings
                 for i in range(metadata.num_columns)}  # fmt: skip
    assert "RLE_DICTIONARY" in encodings["id"]
    assert [p for p, e in encodings.items() if p.startswith("OUTPUT0")]
    assert all("RLE_DICTIONARY" not in e for p, e in encodings.items() if p.startswith("OUTPUT0"))


def test_folder_of_csv_files(repository: Path, tmp_path: Path) -> None:
    x = features(ROWS, seed=1)
    (tmp_path / "in").mkdir()
    for k, start in enumerate(range(0, ROWS, 400)):
        part = feature_table(x[start : start + 400], first_id=start)
        pacsv.write_csv(part, tmp_path / "in" / f"{k}.csv")
    summary = run_job(job(repository, str(tmp_path / "in"), tmp_path / "out"))
    assert summary["written"] == ROWS
    assert_matches(repository, tmp_path / "out", x)


def test_json_lines_with_a_list_column(repository: Path, tmp_path: Path) -> None:
    x = features(ROWS, seed=2)
    lines = [json.dumps({"id": i, "x": row.tolist(), "note": f"r{i}"}) for i, row in enumerate(x)]
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    run_job(
        job(
            repository,
            str(tmp_path / "in.jsonl"),
            out,
            mapping=parse_mapping(["INPUT0=x"]),
            keep_columns=("id", "note"),
        )
    )
    table = read_output(out)
    assert table.column("note").to_pylist() == [f"r{i}" for i in range(ROWS)]
    # JSON numbers are float64 text: the model sees them rounded to float32, as ORT here does.
    np.testing.assert_allclose(predictions(table), reference(repository, x), rtol=1e-5, atol=1e-6)


def test_npz_arrays_and_jsonl_output(repository: Path, tmp_path: Path) -> None:
    x = features(300, seed=3)
    np.savez(tmp_path / "in.npz", id=np.arange(300), INPUT0=x)
    out = tmp_path / "out"
    run_job(
        job(repository, str(tmp_path / "in.npz"), out, mapping=(), output_format="jsonl")
    )  # INPUT0 reads the array of its own name
    rows = [
        json.loads(line)
        for p in sorted(out.glob("part-*.jsonl"))
        for line in p.read_text().splitlines()
    ]
    assert [r["id"] for r in rows] == list(range(300))
    got = np.array([r["OUTPUT0"] for r in rows], np.float32)
    np.testing.assert_allclose(got, reference(repository, x), rtol=1e-5, atol=1e-6)


def test_npy_of_a_single_input_model_and_csv_output(repository: Path, tmp_path: Path) -> None:
    x = features(200, seed=4)
    np.save(tmp_path / "in.npy", x)
    out = tmp_path / "out"
    run_job(
        job(
            repository, str(tmp_path / "in.npy"), out, mapping=(), keep_columns=(),
            output_format="csv",
        )
    )  # fmt: skip
    table = pa.concat_tables(pacsv.read_csv(p) for p in sorted(out.glob("part-*.csv")))
    assert table.column_names == [f"OUTPUT0_{j}" for j in range(3)]
    got = np.stack([table.column(f"OUTPUT0_{j}").to_numpy() for j in range(3)], axis=1)
    np.testing.assert_allclose(got, reference(repository, x), rtol=1e-5, atol=1e-6)


def test_fsspec_url_input_and_output(repository: Path, tmp_path: Path) -> None:
    memory = fsspec.filesystem("memory")
    x = features(500, seed=5)
    buffer = io.BytesIO()
    pq.write_table(feature_table(x), buffer)
    memory.pipe("/batch-test/in/data.parquet", buffer.getvalue())
    run_job(job(repository, "memory://batch-test/in", "memory://batch-test/out"))
    names = sorted(p for p in memory.ls("/batch-test/out", detail=False) if "part-" in p)
    assert len(names) == 4  # 500 rows / 128
    tables = [pq.read_table(io.BytesIO(memory.cat(name))) for name in names]
    table = pa.concat_tables(tables)
    assert table.column("id").to_pylist() == list(range(500))
    np.testing.assert_allclose(predictions(table), reference(repository, x), rtol=1e-5, atol=1e-6)
    assert memory.exists("/batch-test/out/_naiad_manifest.json")


def test_a_mapping_that_cannot_fit_is_refused_before_anything_runs(
    repository: Path, tmp_path: Path
) -> None:
    pq.write_table(feature_table(features(10)), tmp_path / "in.parquet")
    source = str(tmp_path / "in.parquet")
    with pytest.raises(ValueError, match="takes 4 values per row; 2 columns"):
        run_job(job(repository, source, tmp_path / "a", mapping=parse_mapping(["INPUT0=f0,f1"])))
    with pytest.raises(ValueError, match="no column matches 'g\\*'"):
        run_job(job(repository, source, tmp_path / "b", mapping=parse_mapping(["INPUT0=g*"])))
    with pytest.raises(ValueError, match="unknown input"):
        run_job(job(repository, source, tmp_path / "c", mapping=parse_mapping(["X=f0"])))
    with pytest.raises(ValueError, match="at most 64 rows"):
        run_job(job(repository, source, tmp_path / "d", batch_size=65))
    assert not (tmp_path / "a").exists()
