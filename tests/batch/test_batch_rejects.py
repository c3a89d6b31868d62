"""Bad rows: each goes to the rejects with its reason and its values, the good rows are
answered as if the bad ones were not there; --strict stops the job at the first one."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from batch_data import features, predictions, read_output, reference, rejects, run_batch


def _csv(tmp_path: Path, x: np.ndarray, bad: dict[int, tuple[int, str]]) -> Path:
    lines = ["id,f0,f1,f2,f3"]
    for i, row in enumerate(x):
        values = [repr(float(v)) for v in row]
        if i in bad:
            column, text = bad[i]
            values[column] = text
        lines.append(",".join([str(i), *values]))
    path = tmp_path / "in.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_csv_rows_with_text_and_empty_values_go_to_the_rejects(
    repository: Path, tmp_path: Path
) -> None:
    x = features(300)
    bad = {5: (0, "abc"), 130: (2, ""), 299: (3, "1.0.0")}
    source = _csv(tmp_path, x, bad)
    done = run_batch(
        "--model-repository", str(repository), "--model", "clf", "--input", str(source),
        "--output", str(tmp_path / "out"), "--map", "INPUT0=f0,f1,f2,f3",
        "--keep-columns", "id", "--chunk-rows", "64",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "rejected=3" in done.stdout
    found = rejects(tmp_path / "out" / "_rejects")
    assert [(r["row"], r["reason"]) for r in found] == [
        (5, "column 'f0': 'abc' is not a FP32 value (input 'INPUT0')"),
        (130, "column 'f2' is null"),
        (299, "column 'f3': '1.0.0' is not a FP32 value (input 'INPUT0')"),
    ]
    assert all(r["file"] == str(source) for r in found)
    assert found[0]["values"]["id"] == 5 and found[0]["values"]["f0"] == "abc"
    table = read_output(tmp_path / "out")
    good = [i for i in range(300) if i not in bad]
    assert table.column("id").to_pylist() == good
    np.testing.assert_allclose(
        predictions(table), reference(repository, x[good]), rtol=1e-5, atol=1e-6
    )


def test_json_lines_with_malformed_lines_nulls_and_wrong_lengths(
    repository: Path, tmp_path: Path
) -> None:
    x = features(50, seed=7)
    lines = [json.dumps({"id": i, "x": row.tolist()}) for i, row in enumerate(x)]
    lines[3] = '{"id": 3, "x": [1, 2'  # cut off
    lines[10] = json.dumps({"id": 10, "x": [1.0, 2.0, 3.0]})
    lines[20] = json.dumps({"id": 20, "x": None})
    lines[30] = json.dumps({"id": 30, "x": [1.0, "two", 3.0, 4.0]})
    lines[40] = json.dumps({"id": 40, "x": [1.0, None, 3.0, 4.0]})
    (tmp_path / "in.jsonl").write_text("\n".join(lines) + "\n")
    done = run_batch(
        "--model-repository", str(repository), "--model", "clf",
        "--input", str(tmp_path / "in.jsonl"), "--output", str(tmp_path / "out"),
        "--map", "INPUT0=x", "--keep-columns", "id", "--chunk-rows", "16",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    found = {r["row"]: r["reason"] for r in rejects(tmp_path / "out" / "_rejects")}
    assert sorted(found) == [3, 10, 20, 30, 40]
    assert found[3].startswith("malformed JSON")
    assert found[10] == "column 'x' holds 3 values; input 'INPUT0' takes 4"
    assert found[20] == "column 'x' is null"
    assert "is not a FP32 value" in found[30]
    assert found[40] == "column 'x' is null"
    table = read_output(tmp_path / "out")
    good = [i for i in range(50) if i not in found]
    assert table.column("id").to_pylist() == good
    np.testing.assert_allclose(
        predictions(table), reference(repository, x[good]), rtol=1e-5, atol=1e-6
    )


def test_strict_stops_at_the_first_bad_row_and_keeps_what_was_committed(
    repository: Path, tmp_path: Path
) -> None:
    x = features(256, seed=8)
    table = pa.table({"id": np.arange(256), "x": list(x)})
    values = table.column("x").to_pylist()
    values[200] = None
    table = table.set_column(1, "x", pa.array(values, pa.list_(pa.float32())))
    pq.write_table(table, tmp_path / "in.parquet")
    arguments = (
        "--model-repository", str(repository), "--model", "clf",
        "--input", str(tmp_path / "in.parquet"), "--output", str(tmp_path / "out"),
        "--map", "INPUT0=x", "--keep-columns", "id", "--chunk-rows", "64",
    )  # fmt: skip
    stopped = run_batch(*arguments, "--strict")
    assert stopped.returncode == 1
    assert f"row 200 of {tmp_path / 'in.parquet'}: column 'x' is null (--strict)" in stopped.stderr
    manifest = json.loads((tmp_path / "out" / "_naiad_manifest.json").read_text())
    assert not manifest["done"] and set(manifest["chunks"]) <= {f"00000-00000{i}" for i in range(3)}
    # Without --strict the same output folder resumes and sends the row to the rejects.
    done = run_batch(*arguments)
    assert done.returncode == 0, done.stderr
    assert [r["row"] for r in rejects(tmp_path / "out" / "_rejects")] == [200]
    assert read_output(tmp_path / "out").column("id").to_pylist() == [
        i for i in range(256) if i != 200
    ]
