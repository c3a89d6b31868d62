"""Results: the JSON document, the CSV table, one summary line per run, and ratio tables."""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import asdict
from pathlib import Path
from typing import Any

from bench.models import Signature
from bench.scenario import Scenario

FORMAT = 1
CSV_COLUMNS = [
    "scenario", "target", "kind", "protocol", "mode", "load", "arrival", "level", "batch_size",
    "engine", "processes", "round", "throughput_rps", "throughput_rows", "offered_rps", "num_ok",
    "errors",
    "p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "max_ms", "mean_ms", "server_queue_us",
    "server_compute_us", "server_mean_batch", "server_cpu_cores", "server_own_cpu_cores",
    "generator_cpu", "generator_us_per_request", "trials", "stable", "warnings",
]  # fmt: skip


def document(
    scenario: Scenario, signature: Signature, rows: list[dict[str, Any]], host: dict[str, Any]
) -> dict[str, Any]:
    """The whole result of a run, as written to results.json."""
    return {
        "format": FORMAT,
        "scenario": asdict(scenario),
        "model": asdict(signature),
        "host": host,
        "runs": rows,
        "ratios": ratios(rows, scenario.baseline),
    }


def run_key(row: dict[str, Any]) -> tuple[str, str, str, float, int]:
    return (row["target"], row["mode"], row["load"], float(row["level"]), row.get("round", 0))


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def ratios(rows: list[dict[str, Any]], baseline: str) -> list[dict[str, Any]]:
    """Each target against the baseline at the same mode and level.

    A ratio is taken within each round (runs measured next to each other); with several rounds
    the entry gives their median and keeps the per-round values.
    """
    base = {
        (r["mode"], r["load"], r["level"], r.get("round", 0)): r
        for r in rows
        if r["target"] == baseline
    }
    paired: dict[tuple[str, str, str, float], list[dict[str, float | None]]] = {}
    for row in rows:
        other = base.get((row["mode"], row["load"], row["level"], row.get("round", 0)))
        if other is None or row["target"] == baseline:
            continue
        key = (row["target"], row["mode"], row["load"], row["level"])
        paired.setdefault(key, []).append(
            {
                "throughput_rows": _ratio(row["throughput_rows"], other["throughput_rows"]),
                "p50": _ratio(row["latency_ms"]["p50"], other["latency_ms"]["p50"]),
                "p99": _ratio(row["latency_ms"]["p99"], other["latency_ms"]["p99"]),
            }
        )
    result = []
    for (target, mode, load, level), rounds in paired.items():
        entry: dict[str, Any] = {
            "target": target,
            "baseline": baseline,
            "mode": mode,
            "load": load,
            "level": level,
        }
        for metric in ("throughput_rows", "p50", "p99"):
            entry[metric] = _median([r[metric] for r in rounds])
        if len(rounds) > 1:
            entry["rounds"] = rounds
        result.append(entry)
    return result


def _median(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}x"


def _errors_text(errors: dict[str, int]) -> str:
    if not errors:
        return "errors 0"
    by_status = ", ".join(f"{status} {count}" for status, count in errors.items())
    return f"errors {sum(errors.values())} ({by_status})"


def summary_line(row: dict[str, Any]) -> str:
    """One line per run: throughput, latency percentiles, errors, server split, generator CPU."""
    lat = row["latency_ms"]
    parts = [
        f"{row['target']} {row['mode']} {row['load']}={row['level']:g} b={row['batch_size']}: "
        f"{row['throughput_rps']:,.1f} req/s {row['throughput_rows']:,.1f} rows/s",
        "p50 {} p90 {} p99 {} p99.9 {} max {} ms".format(
            *(_ms(lat.get(k)) for k in ("p50", "p90", "p99", "p99.9", "max"))
        ),
        _errors_text(row["errors"]),
    ]
    server = row.get("server") or {}
    if server.get("queue_us") is not None:
        parts.append(
            f"server queue {server['queue_us']:.0f} us compute {server['compute_us'] or 0:.0f} us"
            + (f" batch {server['mean_batch']:.1f}" if server.get("mean_batch") else "")
        )
    if server.get("cpu_cores") is not None:
        cpu = f"server cpu {server['cpu_cores']:.2f}"
        own = server.get("own_cpu_cores")
        if own is not None and server["cpu_cores"] - own > 0.01:  # children (front ends) too
            cpu += f" (main process {own:.2f})"
        parts.append(cpu)
    if row.get("generator_cpu"):
        gen = "gen cpu " + "/".join(f"{c:.0%}" for c in row["generator_cpu"])
        if row.get("generator_us_per_request"):
            gen += f" ({row['generator_us_per_request']:.0f} us/req)"
        parts.append(gen)
    if row.get("engine") == "perf_analyzer":
        parts.append("engine perf_analyzer")
    else:
        parts.append(f"{row['trials']} trials" + (" stable" if row["stable"] else " UNSTABLE"))
    line = " | ".join(parts)
    for warning in row.get("warnings", []):
        line += f" | WARNING {warning}"
    return line


def ratio_lines(doc: dict[str, Any]) -> list[str]:
    """The ratio table printed after a side-by-side run (empty with a single target)."""
    if not doc["ratios"]:
        return []
    rounds = max((len(r.get("rounds", ())) for r in doc["ratios"]), default=0)
    title = f"ratios vs {doc['ratios'][0]['baseline']} (rows/s, p50, p99)"
    if rounds > 1:
        title += f", median of {rounds} paired rounds [rows/s range]"
    lines = [title + ":"]
    for r in doc["ratios"]:
        line = (
            f"  {r['target']:<24} {r['mode']:<6} {r['load']}={r['level']:<6g} "
            f"rows/s {_x(r['throughput_rows']):>7}  p50 {_x(r['p50']):>7}  p99 {_x(r['p99']):>7}"
        )
        spread = [x["throughput_rows"] for x in r.get("rounds", ()) if x["throughput_rows"]]
        if spread:
            line += f"  [{min(spread):.2f}-{max(spread):.2f}]"
        lines.append(line)
    return lines


def csv_row(row: dict[str, Any]) -> dict[str, Any]:
    lat = row["latency_ms"]
    server = row.get("server") or {}
    flat = {k: row.get(k) for k in CSV_COLUMNS}
    flat.update({f"{k}_ms": lat.get(k) for k in ("p50", "p90", "p99", "p99.9", "max", "mean")})
    flat.update(
        errors=";".join(f"{k}={v}" for k, v in row["errors"].items()),
        server_queue_us=server.get("queue_us"),
        server_compute_us=server.get("compute_us"),
        server_mean_batch=server.get("mean_batch"),
        server_cpu_cores=server.get("cpu_cores"),
        server_own_cpu_cores=server.get("own_cpu_cores"),
        generator_cpu=";".join(f"{c:.3f}" for c in row.get("generator_cpu") or []),
        warnings=";".join(row.get("warnings") or []),
    )
    return flat


def write_all(doc: dict[str, Any], out_dir: Path) -> list[Path]:
    """results.json, results.csv and the PNG plots; returns the paths written."""
    from bench import plots  # matplotlib is slow to import; only needed here

    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / "results.json"
    json_path.write_text(json.dumps(doc, indent=1, default=str))
    csv_path = out_dir / "results.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=CSV_COLUMNS)
        writer.writeheader()
        for row in doc["runs"]:
            writer.writerow(csv_row(row))
    return [json_path, csv_path, *plots.write(doc, out_dir)]


def load(path: str | Path) -> dict[str, Any]:
    """A results.json (or the directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    return json.loads(path.read_text())
