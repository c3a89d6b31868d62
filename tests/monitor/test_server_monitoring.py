"""A real server with monitoring: a profile written by `naiad profile` from training data,
gRPC traffic from naiad's asyncio client, drift read back through the HTTP admin endpoints,
`naiad monitor`, /metrics, and labels that outlive a restart."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import modelgen
import numpy as np
import pytest
from rollout.rollout_support import metrics, running, sample

from naiad.app import NaiadServer
from naiad.cli import main
from naiad_client.aio import AsyncClient

CONFIG = """
max_batch_size: 16
input [{ name: "INPUT0" data_type: TYPE_FP32 dims: [8] }]
output [{ name: "OUTPUT0" data_type: TYPE_FP32 dims: [3] }]
dynamic_batching { }
"""
MONITOR = """
window_rows = 200
evaluate_every_rows = 50
min_evaluate_interval_s = 0.0
max_samples_per_s = 0
capture_below_confidence = 0.0
[features]
INPUT0 = ["a", "b", "c", "d", "e", "f", "g", "h"]
"""


@pytest.fixture
def repository(tmp_path: Path) -> Path:
    root = modelgen.write_repository(
        tmp_path / "repo",
        {"clf": {1: lambda p: modelgen.mlp(p, 8, 16, 3, seed=1)}},
        {"clf": CONFIG},
    )
    (root / "clf" / "monitor.toml").write_text(MONITOR)
    training = np.random.default_rng(0).normal(size=(3000, 8)).astype(np.float32)
    np.savez(tmp_path / "train.npz", INPUT0=training)
    assert main(["profile", str(root / "clf"), "--data", str(tmp_path / "train.npz")]) == 0
    return root


@pytest.fixture
async def server(repository: Path) -> AsyncIterator[NaiadServer]:
    async with running(repository) as started:
        yield started


def _http(server: NaiadServer, path: str, body: Any = None) -> tuple[int, bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://{server.addresses['http']}{path}", data=data, method="POST" if data else "GET"
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


async def _report(server: NaiadServer) -> dict[str, Any]:
    status, body = await asyncio.to_thread(_http, server, "/v2/monitor/models/clf")
    assert status == 200, body
    return dict(json.loads(body))


async def _send(server: NaiadServer, rows: np.ndarray, first_id: int) -> None:
    counter = iter(range(rows.shape[0]))

    async def client() -> None:
        async with AsyncClient(server.grpc_address) as channel:
            for i in counter:
                await channel.infer(
                    "clf", {"INPUT0": rows[i : i + 1]}, request_id=f"req-{first_id + i}"
                )

    await asyncio.gather(*(client() for _ in range(4)))
    assert server.monitors is not None
    await asyncio.to_thread(server.monitors.drain)


async def test_drift_is_seen_through_grpc_and_reported(server: NaiadServer, tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    await _send(server, rng.normal(size=(300, 8)).astype(np.float32), 0)
    calm = await _report(server)
    assert calm["profile"].startswith("train.npz: 3000 rows")
    version = calm["versions"]["1"]
    assert version["samples"] == 300 and not version["alerting"]
    assert calm["sampling"]["sampled_ratio"] == 1.0
    assert 0.0 < version["confidence"]["OUTPUT0"]["mean_max_probability"] <= 1.0
    assert version["tensors"]["OUTPUT0.class"]["reference"].startswith("train.npz")

    shifted = rng.normal(size=(300, 8)).astype(np.float32)
    shifted[:, 2] += 2.0
    await _send(server, shifted, 300)
    drifted = (await _report(server))["versions"]["1"]
    assert "INPUT0:c" in drifted["alerting"]
    assert not [a for a in drifted["alerting"] if a.startswith("INPUT0:") and a != "INPUT0:c"]
    [feature] = [f for f in drifted["features"] if f["feature"] == "c"]
    assert feature["scores"]["psi"] >= 0.2 and len(feature["plot"]["reference"]) == 10

    text = await metrics(server)
    labels = {"model": "clf", "version": "1", "tensor": "INPUT0", "feature": "c"}
    assert sample(text, "naiad_drift_alert", method="psi", **labels) == 1.0
    assert sample(text, "naiad_drift_score", method="psi", **labels) >= 0.2
    assert sample(text, "naiad_drift_alert", method="psi", **{**labels, "feature": "a"}) == 0.0
    assert sample(text, "naiad_monitor_sampled_ratio", model="clf") == 1.0
    assert sample(text, "naiad_monitor_max_samples_per_s_setting", model="clf") == 0.0
    assert sample(text, "naiad_prediction_confidence_count", model="clf") == 600

    status, page = await asyncio.to_thread(_http, server, "/v2/monitor/models/clf/report.html")
    assert status == 200 and page.count(b"<svg") >= 9 and b"INPUT0 : c" in page
    out = tmp_path / "report.html"
    url = server.addresses["http"]
    code = await asyncio.to_thread(
        main, ["monitor", "--url", url, "report", "clf", "--html", str(out)]
    )
    assert code == 0 and "<svg" in out.read_text()


async def test_labels_give_accuracy_that_survives_a_restart(
    repository: Path, tmp_path: Path
) -> None:
    rows = np.random.default_rng(2).normal(size=(40, 8)).astype(np.float32)
    classes = modelgen.mlp_reference(rows, 8, 16, 3, seed=1).argmax(axis=1)
    async with running(repository) as server:
        await _send(server, rows, 0)
        truth = tmp_path / "labels.jsonl"
        truth.write_text("".join(
            json.dumps({"id": f"req-{i}", "label": int(c if i % 4 else (c + 1) % 3)}) + "\n"
            for i, c in enumerate(classes)
        ))  # fmt: skip
        url = server.addresses["http"]
        code = await asyncio.to_thread(
            main, ["monitor", "--url", url, "labels", str(truth), "--model", "clf"]
        )
        assert code == 0
        accuracy = (await _report(server))["versions"]["1"]["accuracy"]
        assert accuracy["accuracy"] == pytest.approx(0.75) and accuracy["window"] == 40
        status, body = await asyncio.to_thread(
            _http, server, "/v2/monitor/models/clf/labels", {"labels": {"req-0": "x"}}
        )
        assert status == 200 and json.loads(body)["unmatched"] == 1  # scored already
        status, body = await asyncio.to_thread(
            _http, server, "/v2/monitor/models/clf/labels", {"labels": 3}
        )
        assert status == 400 and b"labels" in body
    async with running(repository) as again:
        accuracy = (await _report(again))["versions"]["1"]["accuracy"]
        assert accuracy["accuracy"] == pytest.approx(0.75) and accuracy["scored"] == 40
        text = await metrics(again)
        assert sample(text, "naiad_prediction_accuracy", model="clf", metric="accuracy") == 0.75
        status, _ = await asyncio.to_thread(_http, again, "/v2/monitor/models/nope")
        assert status == 404


async def test_a_server_without_monitoring_has_no_layer(tmp_path: Path) -> None:
    root = modelgen.write_repository(
        tmp_path / "plain", {"clf": {1: lambda p: modelgen.mlp(p, 8, 16, 3)}}, {"clf": CONFIG}
    )
    async with running(root) as server:
        assert server.monitors is None
        status, _ = await asyncio.to_thread(_http, server, "/v2/monitor")
        assert status == 404


def test_profile_of_a_csv_inputs_only_and_bad_data(
    repository: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from naiad.monitor.reference import load_profile

    header = ",".join(f"x{i}" for i in range(8))
    rows = "\n".join(",".join(str(v) for v in r) for r in np.eye(8).tolist() * 3)
    (tmp_path / "train.csv").write_text(f"{header}\n{rows}\n")
    out = tmp_path / "p.npz"
    model = str(repository / "clf")
    args = ["profile", model, "--data", str(tmp_path / "train.csv"), "--inputs-only"]
    assert main([*args, "--out", str(out)]) == 0
    profile = load_profile(out)
    assert list(profile.tensors) == ["INPUT0"]
    # monitor.toml's [features] names win over the CSV header's
    assert profile.tensors["INPUT0"].layout.names == tuple("abcdefgh")
    (repository / "clf" / "monitor.toml").write_text("")
    assert main([*args, "--out", str(out)]) == 0
    assert load_profile(out).tensors["INPUT0"].layout.names == tuple(f"x{i}" for i in range(8))
    (tmp_path / "short.csv").write_text("a,b\n1,2\n3,4\n")
    assert main(["profile", model, "--data", str(tmp_path / "short.csv")]) == 2
    assert "does not fit [8]" in capsys.readouterr().err
