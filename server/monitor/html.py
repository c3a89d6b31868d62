"""A self-contained HTML page from a model's JSON report: per version a verdict banner, the
confidence and accuracy figures, and per feature a chart of the reference's and the current
window's shares over the same bins (or categories), drifting features first. Inline SVG and
CSS only: the file opens anywhere, offline, and can be mailed."""

from __future__ import annotations

import html
from typing import Any

_WIDTH, _HEIGHT, _PAD = 320, 120, 18
MAX_CHARTS = 200
_STYLE = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222}
h1{font-size:22px}h2{font-size:18px;margin-top:28px}
.banner{padding:8px 12px;border-radius:6px;display:inline-block;font-weight:600}
.ok{background:#e3f4e5;color:#1d6b2a}.bad{background:#fbe3e1;color:#9b1c13}
.grid{display:flex;flex-wrap:wrap;gap:14px}
.card{border:1px solid #ddd;border-radius:6px;padding:8px;width:330px}
.card.alert{border-color:#d9534f;box-shadow:0 0 0 1px #d9534f}
.card h3{font-size:13px;margin:0 0 4px 0;font-family:monospace}
.meta{font-size:12px;color:#555}
table{border-collapse:collapse;font-size:13px}td,th{padding:2px 10px;border-bottom:1px solid #eee}
.legend span{display:inline-block;width:10px;height:10px;margin:0 4px 0 10px}
"""


def render(report: dict[str, Any]) -> str:
    """The page for one `model_report`."""
    name = html.escape(str(report["model"]))
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>naiad monitor: {name}"
        f"</title><style>{_STYLE}</style></head><body>",
        f"<h1>Model monitoring: {name}</h1>",
        _sampling(report),
        "<div class='legend meta'>shares per bin:<span style='background:#9aa5b1'></span>"
        "reference<span style='background:#2f7ed8'></span>current window</div>",
    ]
    if not report["versions"]:
        parts.append("<p>No sampled requests yet.</p>")
    for version, entry in report["versions"].items():
        parts.append(_version(str(version), entry))
    parts.append("</body></html>")
    return "".join(parts)


def _sampling(report: dict[str, Any]) -> str:
    sampling = report["sampling"]
    thresholds = report["thresholds"]
    rows = [
        ("profile", report.get("profile") or "first requests of each version"),
        (
            "sampled",
            f"{sampling['sampled']} of {sampling['seen']} requests "
            f"({sampling['sampled_ratio']:.1%})",
        ),
        (
            "thresholds",
            f"PSI ≥ {thresholds['psi']}, Jensen–Shannon ≥ "
            f"{thresholds['jensen_shannon']}, model drifts at "
            f"{thresholds['drift_share']:.0%} of input features",
        ),
        ("pending labels", str(report.get("pending_labels", 0))),
    ]
    body = "".join(f"<tr><th>{k}</th><td>{html.escape(str(v))}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _version(version: str, entry: dict[str, Any]) -> str:
    drifted = entry["drifted"]
    banner = (
        f"<span class='banner {'bad' if drifted else 'ok'}'>"
        f"{'DRIFT' if drifted else 'no drift'}: {entry['drifted_share']:.0%} of input features"
        "</span>"
    )
    figures = []
    for tensor, stats in entry.get("confidence", {}).items():
        mean = stats.get("mean_max_probability")
        if mean is not None:
            figures.append(f"{html.escape(tensor)}: mean confidence {mean:.3f}")
    accuracy = entry.get("accuracy")
    if accuracy:
        metric = "accuracy" if "accuracy" in accuracy else "mae"
        value, base = accuracy.get(metric), accuracy.get("baseline")
        text = f"{metric} {_num(value)} over {accuracy['window']} labelled rows"
        if base is not None:
            text += f" (baseline {_num(base)})"
        if accuracy.get("alert"):
            text += f" — ALERT: {accuracy['alert']}"
        figures.append(html.escape(text))
    features = sorted(
        entry["features"], key=lambda f: (not f["alert"], -_score(f["scores"].get(f["method"])))
    )
    charts = "".join(_chart(f) for f in features[:MAX_CHARTS])
    if not features:
        charts = "<p class='meta'>Windows are still filling; no comparison yet.</p>"
    return (
        f"<h2>Version {html.escape(version)}</h2>{banner}"
        f"<p class='meta'>{entry['samples']} samples, {entry['rows']} rows. "
        f"{'; '.join(figures)}</p><div class='grid'>{charts}</div>"
    )


def _chart(feature: dict[str, Any]) -> str:
    plot = feature.get("plot") or {}
    reference, current = plot.get("reference", []), plot.get("current", [])
    labels = plot.get("categories") or _bin_labels(plot.get("edges", []))
    bars = []
    count = max(len(reference), 1)
    step = (_WIDTH - 2 * _PAD) / count
    top = max([*reference, *current, 1e-9])
    for i, (r, c) in enumerate(zip(reference, current, strict=False)):
        x = _PAD + i * step
        for offset, value, color in ((0.1, r, "#9aa5b1"), (0.5, c, "#2f7ed8")):
            h = (_HEIGHT - 2 * _PAD) * value / top
            bars.append(
                f"<rect x='{x + offset * step:.1f}' y='{_HEIGHT - _PAD - h:.1f}' "
                f"width='{0.4 * step:.1f}' height='{h:.1f}' fill='{color}'>"
                f"<title>{html.escape(str(labels[i]) if i < len(labels) else '')}: "
                f"reference {r:.3f}, current {c:.3f}</title></rect>"
            )
    axis = (
        f"<line x1='{_PAD}' y1='{_HEIGHT - _PAD}' x2='{_WIDTH - _PAD}' "
        f"y2='{_HEIGHT - _PAD}' stroke='#888'/>"
    )
    method = feature["method"]
    score = feature["scores"].get(method)
    others = ", ".join(f"{k} {_num(v)}" for k, v in feature["scores"].items() if k != method)
    new = feature.get("new_categories") or []
    note = f"; new: {html.escape(', '.join(new))}" if new else ""
    title = html.escape(f"{feature['tensor']} : {feature['feature']}")
    return (
        f"<div class='card{' alert' if feature['alert'] else ''}'><h3>{title}</h3>"
        f"<div class='meta'>{method} {_num(score)}{' ALERT' if feature['alert'] else ''}"
        f" ({html.escape(others)}{note})</div>"
        f"<svg width='{_WIDTH}' height='{_HEIGHT}' role='img'>{axis}{''.join(bars)}</svg></div>"
    )


def _bin_labels(edges: list[float | None]) -> list[str]:
    bounds = ["-inf", *(_num(e) for e in edges), "inf"]
    return [f"[{bounds[i]}, {bounds[i + 1]})" for i in range(len(bounds) - 1)]


def _score(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else float("inf")


def _num(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)
