"""Batch inference: `naiad batch` rows/s against what a user would run instead, on each model of
a scenario, in one run.

    python -m bench.batch [batch] [--rounds 3] [--scale 0.5] [--json out.json]

For each model a Parquet file of `rows` rows (an id and a list column of features) is written
once; then each round measures both systems on it, in alternating order:
- naiad: `naiad batch` over the file into a fresh output folder; rows/s from its summary line
  (reading, running and writing every row; model loading is not counted);
- baseline `inprocess`: in-process ONNX Runtime running max_batch_size rows back to back on
  features already in memory (the compute limit: no reading, no writing);
- baseline `plain`: a plain pyarrow + ONNX Runtime loop over the same file: read `chunk_rows`
  rows, one session.run on them, write a Parquet part, next (one step at a time, not
  overlapped); rows/s counts the loop, not opening the session.
Prints one line per (model, system, round) and the median ratio naiad/baseline with its range.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from bench import models, scenario
from bench.ort import open_session

SUMMARY = "naiad batch done "


def write_input(path: Path, rows: int, width: int) -> None:
    rng = np.random.default_rng(0)
    schema = pa.schema([("id", pa.int64()), ("x", pa.list_(pa.float32(), width))])
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, rows, 65_536):
            n = min(65_536, rows - start)
            values = pa.array(rng.standard_normal(n * width).astype(np.float32))
            column = pa.FixedSizeListArray.from_arrays(values, width)
            writer.write_table(pa.table({"id": np.arange(start, start + n), "x": column}))


def run_naiad(repository: Path, name: str, source: Path, out: Path, chunk_rows: int) -> float:
    command = [models.naiad_executable(), "batch", "--model-repository", str(repository),
               "--model", name, "--input", str(source), "--output", str(out),
               "--map", "INPUT0=x", "--keep-columns", "id", "--chunk-rows", str(chunk_rows),
               "--overwrite"]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith(SUMMARY)), None)
    if done.returncode != 0 or line is None:
        raise SystemExit(f"naiad batch failed:\n{done.stderr[-3000:]}")
    fields = dict(pair.split("=", 1) for pair in line[len(SUMMARY) :].split())
    return float(fields["rows_per_s"])


def run_inprocess(onnx: Path, source: Path, batch_rows: int) -> float:
    session = open_session(str(onnx))
    column = pq.read_table(source, columns=["x"]).column("x").combine_chunks()
    x = column.flatten().to_numpy().reshape(len(column), -1)
    session.run(None, {"INPUT0": x[:batch_rows]})  # warm-up
    start = time.perf_counter()
    for first in range(0, len(x), batch_rows):
        session.run(None, {"INPUT0": x[first : first + batch_rows]})
    return len(x) / (time.perf_counter() - start)


def run_plain(onnx: Path, source: Path, out: Path, chunk_rows: int) -> float:
    session = open_session(str(onnx))
    out.mkdir(parents=True, exist_ok=True)
    rows = 0
    start = time.perf_counter()
    with open(source, "rb") as file:
        reader = pq.ParquetFile(file, pre_buffer=False)
        for index, batch in enumerate(reader.iter_batches(batch_size=chunk_rows)):
            column = batch.column("x")
            x = column.flatten().to_numpy().reshape(len(column), -1)
            (y,) = session.run(None, {"INPUT0": x})
            predicted = pa.FixedSizeListArray.from_arrays(pa.array(y.reshape(-1)), y.shape[1])
            table = pa.table({"id": batch.column("id"), "OUTPUT0": predicted})
            pq.write_table(table, out / f"part-{index:06d}.parquet")
            rows += len(x)
    return rows / (time.perf_counter() - start)


def model_spec(table: dict[str, Any]) -> tuple[scenario.ModelSpec, dict[str, Any]]:
    run = {k: table.pop(k) for k in ("rows", "baseline", "chunk_rows") if k in table}
    table["hidden"] = tuple(table.get("hidden", (64,)))
    return scenario.ModelSpec(**table), run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.batch", description=__doc__)
    parser.add_argument("scenario", nargs="?", default="batch")
    parser.add_argument("--rounds", type=int, help="paired rounds (default: the scenario's)")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every row count")
    parser.add_argument("--json", type=Path, help="write the figures here too")
    args = parser.parse_args(argv)
    with scenario.resolve_path(args.scenario).open("rb") as f:
        settings = tomllib.load(f)
    rounds = args.rounds or settings.get("rounds", 1)
    report: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="naiad-bench-batch-"))
    try:
        for table in settings["models"]:
            spec, run = model_spec(dict(table))
            signature = models.ensure_generated(spec)
            assert signature.repository is not None
            repository = Path(signature.repository)
            onnx = repository / spec.name / "1" / "model.onnx"
            rows = max(1, int(run.get("rows", 10_000) * args.scale))
            chunk_rows = int(run.get("chunk_rows", 16_384))
            baseline = run.get("baseline", "plain")
            source = work / f"{spec.name}.parquet"
            write_input(source, rows, spec.num_in)
            found: dict[str, list[float]] = {"naiad": [], baseline: []}
            for number in range(rounds):
                order = ("naiad", baseline) if number % 2 == 0 else (baseline, "naiad")
                for kind in order:
                    out = work / f"out-{spec.name}-{kind}"
                    shutil.rmtree(out, ignore_errors=True)
                    if kind == "naiad":
                        rate = run_naiad(repository, spec.name, source, out, chunk_rows)
                    elif kind == "inprocess":
                        rate = run_inprocess(onnx, source, spec.max_batch_size)
                    else:
                        rate = run_plain(onnx, source, out, chunk_rows)
                    found[kind].append(rate)
                    print(f"{spec.name:12s} {kind:9s} round {number + 1}: {rate:10,.0f} rows/s"
                          f" ({rows:,} rows)", flush=True)  # fmt: skip
            ratios = [n / b for n, b in zip(found["naiad"], found[baseline], strict=True)]
            median = statistics.median(ratios)
            print(f"{spec.name:12s} naiad/{baseline}: x{median:.2f} (range {min(ratios):.2f}-"
                  f"{max(ratios):.2f} over {rounds} round(s))")  # fmt: skip
            report[spec.name] = {"rows": rows, "rows_per_s": found, "ratios": ratios}
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
