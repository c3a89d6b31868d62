"""``python -m bench compare A.json B.json``: how B differs from A, run by run, as ratios."""

from __future__ import annotations

from typing import Any

from bench.report import load, run_key


def _ratio(b: float | None, a: float | None) -> float | None:
    return b / a if a and b is not None else None


def compare(a: dict[str, Any], b: dict[str, Any]) -> list[dict[str, Any]]:
    """One entry per run present in both documents (same target, mode, load, level and round)."""
    runs_a = {run_key(r): r for r in a["runs"]}
    result = []
    for row in b["runs"]:
        other = runs_a.get(run_key(row))
        if other is None:
            continue
        entry = {
            "target": row["target"],
            "mode": row["mode"],
            "load": row["load"],
            "level": row["level"],
            "round": row.get("round", 0),
            "rows_a": other["throughput_rows"],
            "rows_b": row["throughput_rows"],
            "throughput": _ratio(row["throughput_rows"], other["throughput_rows"]),
        }
        for key in ("p50", "p99"):
            entry[f"{key}_a"] = other["latency_ms"][key]
            entry[f"{key}_b"] = row["latency_ms"][key]
            entry[key] = _ratio(row["latency_ms"][key], other["latency_ms"][key])
        entry["errors_a"] = sum(other["errors"].values())
        entry["errors_b"] = sum(row["errors"].values())
        result.append(entry)
    return result


def _num(value: float | None, fmt: str) -> str:
    return "-" if value is None else format(value, fmt)


def _label(entry: dict[str, Any]) -> str:
    return f"{entry['target']} #{entry['round']}" if entry.get("round") else entry["target"]


def table(entries: list[dict[str, Any]]) -> list[str]:
    """The comparison as aligned text lines (B/A: >1 means more throughput or more latency)."""
    header = (
        f"{'target':<22} {'mode':<6} {'level':>9} {'rows/s A':>11} {'rows/s B':>11} {'B/A':>6}"
        f" {'p50 A':>8} {'p50 B':>8} {'B/A':>6} {'p99 A':>8} {'p99 B':>8} {'B/A':>6} {'err A/B':>9}"
    )
    lines = [header]
    for e in entries:
        lines.append(
            f"{_label(e):<22} {e['mode']:<6} {e['load'][0]}={e['level']:<7g} "
            f"{_num(e['rows_a'], ',.1f'):>11} {_num(e['rows_b'], ',.1f'):>11} "
            f"{_num(e['throughput'], '.2f'):>6} "
            f"{_num(e['p50_a'], '.3f'):>8} {_num(e['p50_b'], '.3f'):>8} {_num(e['p50'], '.2f'):>6} "
            f"{_num(e['p99_a'], '.3f'):>8} {_num(e['p99_b'], '.3f'):>8} {_num(e['p99'], '.2f'):>6} "
            f"{e['errors_a']:>4}/{e['errors_b']:<4}"
        )
    if not entries:
        lines.append("(no run appears in both files)")
    return lines


def main(path_a: str, path_b: str) -> int:
    for line in table(compare(load(path_a), load(path_b))):
        print(line)
    return 0
