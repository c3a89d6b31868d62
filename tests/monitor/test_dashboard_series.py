"""The Grafana dashboard's Monitoring and Response cache rows query only series that a server
with monitoring and a response cache exports, once it has answered, sampled and scored."""

from __future__ import annotations

import asyncio
import json
import re
import urllib.request
from pathlib import Path

import modelgen
import numpy as np
from rollout.rollout_support import metrics, running

from naiad_client.aio import AsyncClient

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "naiad-dashboard.json"
ROW_FAMILIES = {
    "Monitoring": r"naiad_(?:drift|model_drift|drifted|prediction|accuracy|monitor)[a-z_]*",
    "Response cache": r"(?:nv_cache|naiad_cache)[a-z_]*",
}
CONFIG = """
max_batch_size: 16
input [{ name: "INPUT0" data_type: TYPE_FP32 dims: [8] }]
output [{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [3] }]
dynamic_batching { }
response_cache { enable: true }
"""
# a small bootstrap reference and window, a tenth of the answers captured: every series fills
MONITOR = """
reference_rows = 100
window_rows = 100
evaluate_every_rows = 50
min_evaluate_interval_s = 0.0
max_samples_per_s = 0
capture_share = 0.1
"""


def row_panels(title: str) -> list[dict[str, object]]:
    """The panels under the row `title`, down to the next row."""
    panels = json.loads(DASHBOARD.read_text())["panels"]
    rows = sorted((p for p in panels if p["type"] == "row"), key=lambda p: p["gridPos"]["y"])
    [row] = [r for r in rows if r["title"] == title]
    later = [r["gridPos"]["y"] for r in rows if r["gridPos"]["y"] > row["gridPos"]["y"]]
    end = min(later, default=10**9)
    return [
        p for p in panels if p["type"] != "row" and row["gridPos"]["y"] < p["gridPos"]["y"] < end
    ]


def queried(title: str) -> set[str]:
    exprs = " ".join(t["expr"] for p in row_panels(title) for t in p["targets"])  # type: ignore[attr-defined]
    return set(re.findall(r"\b(?:nv|naiad)_[a-z_]+", exprs))


def test_the_monitoring_and_cache_rows_show_what_the_issues_ask_for() -> None:
    for title, family in ROW_FAMILIES.items():
        panels = row_panels(title)
        assert len(panels) >= 2, title
        assert all(str(p["title"]).startswith(f"{title}: ") for p in panels)
        assert all(re.fullmatch(family, name) for name in queried(title)), queried(title)
    monitoring = queried("Monitoring")
    for series in (
        "naiad_drift_score", "naiad_drift_alert", "naiad_model_drift",
        "naiad_prediction_confidence_bucket", "naiad_monitor_sampled_ratio",
        "naiad_prediction_accuracy", "naiad_accuracy_alert",
    ):  # fmt: skip
        assert series in monitoring, series
    cache = queried("Response cache")
    for series in ("nv_cache_num_hits_per_model", "nv_cache_num_misses_per_model"):
        assert series in cache, series
    assert "naiad_cache_bytes" in cache and "naiad_cache_max_bytes" in cache


def _post_labels(address: str, labels: dict[str, int]) -> int:
    request = urllib.request.Request(
        f"http://{address}/v2/monitor/models/clf/labels",
        data=json.dumps({"labels": labels}).encode(),
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as reply:
        return int(reply.status)


async def test_every_series_the_two_rows_query_is_exported(tmp_path: Path) -> None:
    root = modelgen.write_repository(
        tmp_path / "repo",
        {"clf": {1: lambda p: modelgen.mlp(p, 8, 16, 3, seed=1)}},
        {"clf": CONFIG},
    )
    (root / "clf" / "monitor.toml").write_text(MONITOR)
    rows = np.random.default_rng(5).normal(size=(300, 8)).astype(np.float32)
    async with running(
        root, monitor_state_dir=str(tmp_path / "state"), cache_bytes=1 << 20
    ) as server:
        async with AsyncClient(server.grpc_address) as client:
            for i in range(rows.shape[0]):
                await client.infer("clf", {"INPUT0": rows[i : i + 1]}, request_id=f"r{i}")
            for i in range(10):  # the same rows again: answered from the cache
                await client.infer("clf", {"INPUT0": rows[i : i + 1]}, request_id=f"again{i}")
        assert server.monitors is not None
        await asyncio.to_thread(server.monitors.drain)
        address = server.addresses["http"]
        labels = {f"r{i}": i % 3 for i in range(rows.shape[0])}
        assert await asyncio.to_thread(_post_labels, address, labels) == 200
        text = await metrics(server)
    exported = {
        match.group(0)
        for line in text.splitlines()
        if (match := re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)) is not None
    }
    for title in ROW_FAMILIES:
        used = queried(title)
        assert used and used <= exported, (title, used - exported)
