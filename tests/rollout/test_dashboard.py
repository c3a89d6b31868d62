"""The Grafana dashboard's Rollout row queries only series a server running rollouts exports."""

from __future__ import annotations

import json
import re
from pathlib import Path

import modelgen
from rollout_support import CONFIG, call_admin, load, metrics, offset, running

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "naiad-dashboard.json"


def rollout_queries() -> str:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return " ".join(t["expr"] for p in panels for t in p.get("targets", ()))


def test_the_dashboard_has_a_rollout_row_over_every_rollout_series() -> None:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    rows = sorted((p for p in panels if p["type"] == "row"), key=lambda p: p["gridPos"]["y"])
    assert [r["title"] for r in rows] == ["Rollout", "Monitoring", "Response cache"]
    top, end = rows[0]["gridPos"]["y"], rows[1]["gridPos"]["y"]
    below = [p for p in panels if top < p["gridPos"]["y"] < end]
    assert len(below) >= 5 and all("rollout" in p["title"].lower() for p in below)
    assert not [p for p in panels if "rollout:" in p["title"].lower() and p not in below]
    used = set(re.findall(r"\bnaiad_rollout_[a-z_]+", rollout_queries()))
    for family in (
        "traffic_share", "requests_total", "results_total", "request_duration_seconds_bucket",
        "shadow_divergence_bucket", "rollbacks_total", "state",
    ):  # fmt: skip
        assert f"naiad_rollout_{family}" in used, family
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))


async def test_every_rollout_series_the_dashboard_queries_is_exported(tmp_path: Path) -> None:
    # one model in a canary, one in a shadow: between them every rollout series has samples
    models = {name: {1: offset(100.0), 2: offset(200.0)} for name in ("canaried", "shadowed")}
    modelgen.write_repository(tmp_path, models, {name: CONFIG for name in models})
    async with running(tmp_path) as server:
        for name, body in (
            ("canaried", {"mode": "canary", "to": 2, "candidate_percent": 50}),
            ("shadowed", {"mode": "shadow", "to": 2}),
        ):
            assert (await call_admin(server, f"/{name}/start", body))[0] == 200
            await load(server, name, 40, concurrency=4)
        text = await metrics(server)
    exported = {line.split("{")[0] for line in text.splitlines() if line.startswith("naiad_")}
    used = set(re.findall(r"\bnaiad_rollout_[a-z_]+", rollout_queries()))
    assert used and used <= exported, used - exported
