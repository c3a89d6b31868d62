"""perf_analyzer (Triton's C++ load generator) as an alternative engine: same targets, same
inputs, its CSV report turned into the harness's result row."""

from __future__ import annotations

import csv
import functools
import io
import shutil
import subprocess
from pathlib import Path
from typing import Any

from bench import inputs
from bench.models import Signature
from bench.scenario import Scenario
from bench.targets import REPO_ROOT

SHARED_TOOL = REPO_ROOT.parent / "shared" / "tools" / "perf-analyzer"
MODE_FLAGS = {"sync": ["--sync"], "async": ["--async"], "stream": ["--streaming"]}


@functools.cache
def executable() -> str:
    """perf_analyzer on PATH if it starts, else the shared installer-wrapper
    (../shared/tools/perf-analyzer).

    The tritonclient wheel puts a perf_analyzer on PATH that needs CUDA's runtime library to
    start; where that is missing it cannot run at all, and the wrapper brings its own.
    """
    found = shutil.which("perf_analyzer")
    if found and _starts(found):
        return found
    if SHARED_TOOL.exists():
        return str(SHARED_TOOL)
    raise RuntimeError("perf_analyzer not found on PATH nor at " + str(SHARED_TOOL))


def _starts(path: str) -> bool:
    try:
        done = subprocess.run([path, "--version"], capture_output=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def command(
    url: str,
    signature: Signature,
    scenario: Scenario,
    mode: str,
    level: float,
    input_json: Path,
    csv_path: Path,
) -> list[str]:
    """The perf_analyzer command line for one (mode, level) run."""
    measure = scenario.measure
    cmd = [executable(), "-m", signature.name, "-i", "grpc", "-u", url]
    if scenario.model.version:
        cmd += ["-x", scenario.model.version]
    if signature.max_batch_size > 0:
        cmd += ["-b", str(scenario.request.batch_size)]
    if scenario.load.kind == "closed":
        cmd += ["--concurrency-range", f"{int(level)}:{int(level)}"]
    else:
        cmd += ["--request-rate-range", f"{level:g}:{level:g}"]
        cmd += ["--request-distribution", scenario.load.arrival]
    cmd += MODE_FLAGS[mode]
    cmd += ["-p", str(int(measure.window_s * 1000)), "-s", f"{measure.stable_pct:g}"]
    # perf_analyzer gives no result at all when unstable, so it gets at least its default trials.
    trials = max(measure.max_trials, 10)
    cmd += ["-r", str(trials), "--input-data", str(input_json), "-f", str(csv_path)]
    for t in signature.inputs:
        dims = scenario.request.shapes.get(t.name, t.dims)
        cmd += ["--shape", f"{t.name}:{','.join(str(d) for d in dims)}"]
    return cmd


def parse_csv(text: str) -> dict[str, float]:
    """The first data row of perf_analyzer's -f CSV as {column: value} (latencies in µs)."""
    reader = csv.DictReader(io.StringIO(text))
    for record in reader:
        return {k.strip(): float(v) for k, v in record.items() if k and v not in (None, "")}
    raise ValueError("perf_analyzer CSV holds no data row")


def to_row(values: dict[str, float], base: dict[str, Any]) -> dict[str, Any]:
    """A harness result row from perf_analyzer's numbers (what it does not report is None)."""
    rows_per_s = values.get("Inferences/Second", 0.0)
    batch = base["batch_size"]

    def ms(column: str) -> float | None:
        return values[column] / 1000 if column in values else None

    compute = [values.get(f"Server Compute {s}") for s in ("Input", "Infer", "Output")]
    return {
        **base,
        "engine": "perf_analyzer",
        "processes": 1,
        "throughput_rps": rows_per_s / batch,
        "throughput_rows": rows_per_s,
        "offered_rps": rows_per_s / batch,
        "num_ok": None,
        "errors": {},
        "latency_ms": {
            "p50": ms("p50 latency"),
            "p90": ms("p90 latency"),
            "p95": ms("p95 latency"),
            "p99": ms("p99 latency"),
            "p99.9": None,
            "max": None,
            "mean": ms("Avg latency"),
        },
        "trials": None,
        "stable": True,
        "generator_cpu": [],
        "server": {
            "queue_us": values.get("Server Queue"),
            "compute_us": sum(c for c in compute if c is not None) if any(compute) else None,
            "mean_batch": None,
        },
        "max_lag_ms": None,
        "histogram": {"edges_ms": [], "counts": []},
        "warnings": [],
    }


def run(
    url: str,
    signature: Signature,
    scenario: Scenario,
    mode: str,
    level: float,
    variants: list[dict],
    out_dir: Path,
    base: dict[str, Any],
) -> dict[str, Any]:
    """Runs perf_analyzer for one (mode, level) against ``url``; a failed run becomes a row
    with zero throughput and the reason in ``warnings``."""
    stem = f"pa-{base['target']}-{mode}-{base['load']}{level:g}".replace("/", "_").replace(":", "_")
    input_json = inputs.perf_analyzer_json(signature, variants, out_dir / "pa-inputs.json")
    csv_path = out_dir / f"{stem}.csv"
    cmd = command(url, signature, scenario, mode, level, input_json, csv_path)
    limit_s = 120 + 3 * scenario.measure.window_s * max(scenario.measure.max_trials, 10)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=limit_s)
        (out_dir / f"{stem}.log").write_text(" ".join(cmd) + "\n" + done.stdout + done.stderr)
        row = to_row(parse_csv(csv_path.read_text()), base)
        if done.returncode != 0:
            row["stable"] = False
            row["warnings"].append(f"perf_analyzer exited {done.returncode}")
        row["command"] = " ".join(cmd)
        return row
    except (subprocess.TimeoutExpired, OSError, ValueError) as error:
        row = to_row({}, base)
        row["stable"] = False
        row["warnings"].append(f"perf_analyzer failed: {error}")
        row["command"] = " ".join(cmd)
        return row
