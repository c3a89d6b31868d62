"""The monitor's JSON report of one model: what `naiad monitor report` prints and the HTTP
admin endpoint answers, and what the HTML report draws. Plain JSON values only."""

from __future__ import annotations

import math
import sys
from typing import Any

from naiad.monitor.book import ModelMonitor, MonitorBook
from naiad.monitor.drift import FeatureDrift
from naiad.monitor.labels import CLASSIFICATION
from naiad.monitor.version import VersionMonitor


def model_report(book: MonitorBook, name: str, evaluate: bool = True) -> dict[str, Any]:
    """`name`'s report; `evaluate` recomputes drift on the windows as they stand now.
    NotFound when the model is not watched."""
    monitor = book.model(name)
    gate = monitor.gate
    settings = monitor.settings
    with monitor.lock:
        names = set(monitor.versions) | set(monitor.labels.scores)
        versions = {
            v: _version(monitor, v, monitor.versions.get(v), book.now(), evaluate)
            for v in sorted(names, key=_order)
        }
        pending = len(monitor.labels.pending)
    return {
        "model": name,
        "sampling": {
            "sample_ratio": settings.sample_ratio,
            "max_samples_per_s": settings.max_samples_per_s,
            "sampled_ratio": round(gate.sampled_ratio, 6),
            "seen": gate.num_seen,
            "sampled": gate.num_sampled,
            "dropped": book.num_dropped,
        },
        "thresholds": {
            "psi": settings.psi_threshold,
            "ks_pvalue": settings.ks_pvalue,
            "jensen_shannon": settings.js_threshold,
            "drift_share": settings.drift_share,
        },
        "profile": monitor.profile.source if monitor.profile is not None else None,
        "pending_labels": pending,
        "captured": _captured(monitor),
        "alerts_started": monitor.num_alerts,
        "versions": versions,
    }


def _order(version: str) -> tuple[int, str]:
    return (int(version), "") if version.isdigit() else (sys.maxsize, version)


def _version(
    monitor: ModelMonitor,
    number: str,
    version: VersionMonitor | None,
    now_s: float,
    evaluate: bool,
) -> dict[str, Any]:
    if version is None:  # labelled before a restart, no request since
        version = VersionMonitor(monitor.name, number, monitor.settings, None, set())
    verdict = version.evaluate(now_s) if evaluate else version.last
    tensors = {}
    for name, layout in version.layouts.items():
        window = version.windows.get(name)
        tensors[name] = {
            "kind": layout.kind,
            "role": "input" if name in version.inputs else "output",
            "features": list(layout.names),
            "reference": version.sources.get(name, "collecting"),
            "reference_rows": version.reference_rows(name),
            "window_rows": len(window) if window is not None else 0,
        }
    confidence = {
        name: {
            "mean_max_probability": _ratio(stats.histogram.total, stats.histogram.num),
            "mean_normalised_entropy": _ratio(stats.entropy_total, stats.histogram.num),
            "rows": stats.histogram.num,
        }
        for name, stats in version.confidence.items()
    }
    scores = monitor.labels.scores.get(version.version)
    accuracy = None
    if scores is not None:
        metric = "accuracy" if scores.kind == CLASSIFICATION else "mae"
        accuracy = {
            "kind": scores.kind,
            metric: scores.value(),
            "baseline": scores.baseline,
            "window": len(scores.window),
            "scored": scores.num_scored,
            "alert": monitor.labels.alert(version.version),
        }
        if scores.kind != CLASSIFICATION:
            accuracy["rmse"] = scores.rmse()
    return {
        "samples": version.num_samples,
        "rows": version.num_rows,
        "skipped": version.num_skipped,
        "drifted": verdict.drifted,
        "drifted_share": round(verdict.drifted_share, 6),
        "alerting": [f"{f.tensor}:{f.feature}" for f in verdict.alerting()],
        "features": [feature_entry(f) for f in verdict.features],
        "tensors": tensors,
        "confidence": confidence,
        "accuracy": accuracy,
        "alerts": {kind: on for (v, kind), on in monitor.alerts.items() if v == version.version},
    }


def feature_entry(drift: FeatureDrift) -> dict[str, Any]:
    return {
        "tensor": drift.tensor,
        "feature": drift.feature,
        "kind": drift.kind,
        "method": drift.method,
        "alert": drift.alert,
        "scores": {k: _number(v) for k, v in drift.scores.items()},
        "pvalues": {k: _number(v) for k, v in drift.pvalues.items()},
        "rows": drift.num_rows,
        "new_categories": list(drift.new_categories),
        "plot": drift.plot,
    }


def _captured(monitor: ModelMonitor) -> dict[str, Any] | None:
    sink = monitor.sink
    if sink is None:
        return None
    return {
        "directory": str(sink.directory),
        "written": sink.num_written,
        "dropped": sink.num_dropped,
        "bytes": sink.total_bytes,
        "max_bytes": sink.max_bytes,
        "files": len(sink.files()),
    }


def _ratio(total: float, count: int) -> float | None:
    return round(total / count, 6) if count else None


def _number(value: float) -> float | str:
    return round(value, 8) if math.isfinite(value) else str(value)
