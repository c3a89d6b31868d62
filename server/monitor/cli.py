"""`naiad monitor`: a running server's monitoring report (JSON, or a self-contained HTML page)
and labels sent in bulk, over its HTTP admin endpoints (/v2/monitor). Also the `serve` flags
that watch every model."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote

from naiad.errors import InvalidArgument
from naiad.monitor.html import render
from naiad.monitor.settings import MonitorSettings

# One HTTP helper for every admin command (status, JSON answer, error text as JSON).
from naiad.rollout.cli import _call
from naiad.transport.http.monitor_routes import label_items

DESCRIPTION = """Drift, confidence and accuracy of a model on a running naiad server.

  naiad monitor report MODEL                 the JSON report (drift per feature, verdict)
  naiad monitor report MODEL --html out.html the same as a page with reference-vs-current plots
  naiad monitor labels FILE --model MODEL    ground truth by request id (JSONL, CSV or JSON)
  naiad monitor list                         the watched models

A labels file holds one {"id": ..., "label": ...} per line (JSONL), or a CSV with columns
id,label, or a JSON object {"labels": ...}. A label is a class index (classification) or a
target value (regression), or a list of them, one per row of the answer.
"""

LABELS_PER_CALL = 10000


def add_serve_arguments(serve: argparse.ArgumentParser) -> None:
    serve.add_argument(
        "--monitor",
        action="store_true",
        help="watch every model for drift (models with a monitor.toml are watched anyway)",
    )
    serve.add_argument(
        "--monitor-sample-ratio",
        type=float,
        default=None,
        help=f"share of requests the monitor reads (default {MonitorSettings.sample_ratio})",
    )
    serve.add_argument(
        "--monitor-max-samples-per-s",
        type=float,
        default=None,
        help="cap on sampled requests per second under heavy traffic (0: none; default "
        f"{MonitorSettings.max_samples_per_s:g})",
    )
    serve.add_argument(
        "--monitor-state-dir",
        default=None,
        help="labels and captured samples (default: .naiad-monitor in the model repository)",
    )
    serve.add_argument("--monitor-alert-command", default=None, help="run when an alert starts")
    serve.add_argument("--monitor-alert-webhook", default=None, help="POSTed when one starts")


def monitor_defaults(args: argparse.Namespace) -> MonitorSettings | None:
    """Server-wide settings from the serve flags; None without --monitor and its options.
    ValueError (an InvalidArgument) for a bad value."""
    values: dict[str, Any] = {}
    if args.monitor_sample_ratio is not None:
        values["sample_ratio"] = args.monitor_sample_ratio
    if args.monitor_max_samples_per_s is not None:
        values["max_samples_per_s"] = args.monitor_max_samples_per_s
    if args.monitor_alert_command:
        values["alert_command"] = args.monitor_alert_command
    if args.monitor_alert_webhook:
        values["alert_webhook"] = args.monitor_alert_webhook
    if not args.monitor and not values:
        return None
    return MonitorSettings().with_values(values, "naiad serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", default="127.0.0.1:8000", help="the server's HTTP host:port")
    parser.add_argument("--token", default=None, help="a bearer token (statistics / infer scope)")
    verbs = parser.add_subparsers(dest="verb", required=True)
    report = verbs.add_parser("report", help="a model's drift report")
    report.add_argument("model")
    report.add_argument("--html", default=None, metavar="FILE", help="write an HTML page")
    labels = verbs.add_parser("labels", help="send ground-truth labels")
    labels.add_argument("file")
    labels.add_argument("--model", required=True)
    verbs.add_parser("list", help="the watched models")


def run(args: argparse.Namespace) -> int:
    if args.verb == "list":
        status, answer = _call(args.url, "/v2/monitor", None, args.token)
        print(json.dumps(answer, indent=2))
        return 0 if status == 200 else 1
    path = f"/v2/monitor/models/{quote(args.model, safe='')}"
    if args.verb == "report":
        status, answer = _call(args.url, path, None, args.token)
        if status == 200 and args.html:
            Path(args.html).write_text(render(answer), encoding="utf-8")
            print(f"wrote {args.html}")
        else:
            print(json.dumps(answer, indent=2))
        return 0 if status == 200 else 1
    try:
        items = read_labels(Path(args.file))
    except (OSError, ValueError, InvalidArgument) as exc:
        print(f"naiad monitor: {args.file}: {exc}", file=sys.stderr)
        return 2
    totals = {"matched": 0, "unmatched": 0, "invalid": 0}
    errors: list[str] = []
    for start in range(0, len(items), LABELS_PER_CALL):
        chunk = items[start : start + LABELS_PER_CALL]
        body = {"labels": [{"id": i, "label": label} for i, label in chunk]}
        status, answer = _call(args.url, path + "/labels", body, args.token)
        if status != 200:
            print(json.dumps(answer, indent=2))
            return 1
        for key in totals:
            totals[key] += int(answer.get(key, 0))
        errors.extend(answer.get("errors", []))
    print(json.dumps({**totals, "errors": errors[:10]}, indent=2))
    return 0


def read_labels(path: Path) -> list[tuple[str, Any]]:
    """(request id, label) pairs of a labels file; ValueError naming what is wrong."""
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(text.splitlines()))
        if rows and not {"id", "label"} <= set(rows[0]):
            raise ValueError("a labels CSV needs the columns id and label")
        return [(r["id"], _number(r["label"])) for r in rows]
    try:
        whole = json.loads(text)
    except ValueError:
        whole = None  # JSON lines
    if isinstance(whole, dict) and "labels" in whole:
        return label_items(whole)
    items = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        entry = json.loads(line)
        if not isinstance(entry, dict) or "id" not in entry or "label" not in entry:
            raise ValueError(f"line {number}: expected an object with 'id' and 'label'")
        items.append((str(entry["id"]), entry["label"]))
    return items


def _number(text: str) -> int | float:
    try:
        return int(text)
    except ValueError:
        return float(text)
