"""The runner against a server whose service time is known: the numbers must show it.

Bands are generous on purpose: these machines are small and shared.
"""

from __future__ import annotations

import csv
import json

import matplotlib.pyplot as plt
import pytest
from bench_fakes import SleepServer, quick_scenario

from bench.runner import Runner

DELAY_S = 0.02
SLOW_DELAY_S = 0.08  # far enough from DELAY_S that a busy machine cannot swap their order


def run(scenario, out_dir):
    lines: list[str] = []
    document = Runner(scenario, out_dir).run(emit=lines.append)
    return document, lines


@pytest.fixture(scope="module")
def closed_run(tmp_path_factory):
    """One side-by-side run (two targets, two modes) reused by several tests."""
    out = tmp_path_factory.mktemp("closed")
    with SleepServer(DELAY_S) as fast, SleepServer(SLOW_DELAY_S) as slow:
        scenario = quick_scenario(
            [
                {"kind": "url", "url": fast.url, "label": "fast"},
                {"kind": "url", "url": slow.url, "label": "slow"},
            ],
            request={"modes": ["async", "stream"], "batch_size": 2},
            load={"kind": "closed", "levels": [4]},
        )
        document, lines = run(scenario, out)
    return out, document, lines


def test_service_time_shows_in_the_percentiles(closed_run):
    _, document, _ = closed_run
    for row in document["runs"]:
        delay_ms = (DELAY_S if row["target"] == "fast" else SLOW_DELAY_S) * 1000
        lat = row["latency_ms"]
        # A sleep never ends early; on a busy machine it may end late.
        assert delay_ms * 0.95 <= lat["p50"] <= delay_ms * 4, row
        assert lat["p50"] <= lat["p90"] <= lat["p99"] <= lat["p99.9"] <= lat["max"]
        # Closed loop: throughput is about concurrency / service time.
        ideal = row["level"] / (delay_ms / 1000)
        assert ideal * 0.2 <= row["throughput_rps"] <= ideal * 1.05, row
        assert row["throughput_rows"] == pytest.approx(2 * row["throughput_rps"])
        assert row["generator_us_per_request"] == pytest.approx(
            sum(row["generator_cpu"]) / row["throughput_rps"] * 1e6
        )
        assert row["errors"] == {}
        server = row["server"]
        assert delay_ms * 900 <= server["compute_us"] <= delay_ms * 4000
        assert server["queue_us"] < delay_ms * 100  # unbounded concurrency: little queueing
        assert server["mean_batch"] == pytest.approx(2)


def test_ratios_divide_by_the_baseline(closed_run):
    _, document, lines = closed_run
    runs = {(r["target"], r["mode"], r["level"]): r for r in document["runs"]}
    assert len(document["ratios"]) == 2
    for ratio in document["ratios"]:
        assert (ratio["target"], ratio["baseline"]) == ("slow", "fast")
        slow = runs["slow", ratio["mode"], ratio["level"]]
        fast = runs["fast", ratio["mode"], ratio["level"]]
        assert ratio["throughput_rows"] == slow["throughput_rows"] / fast["throughput_rows"]
        assert ratio["p50"] == slow["latency_ms"]["p50"] / fast["latency_ms"]["p50"]
        assert ratio["throughput_rows"] < 1 < ratio["p50"]
    assert any(line.startswith("ratios vs fast") for line in lines)


def test_one_summary_line_per_run(closed_run):
    _, document, lines = closed_run
    summaries = [line for line in lines if " req/s " in line]
    assert len(summaries) == len(document["runs"]) == 4
    assert all("p50" in line and "p99.9" in line and "errors" in line for line in summaries)


def test_json_csv_and_png_are_written_and_well_formed(closed_run):
    out, document, _ = closed_run
    assert json.loads((out / "results.json").read_text()) == json.loads(json.dumps(document))
    with (out / "results.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4
    assert {r["target"] for r in rows} == {"fast", "slow"}
    assert all(float(r["p50_ms"]) > 0 and float(r["throughput_rps"]) > 0 for r in rows)
    for name in ("latency_throughput.png", "latency_distribution.png"):
        image = plt.imread(out / name)
        assert image.shape[0] > 100 and image.shape[1] > 100


def test_rounds_alternate_the_order_of_targets_and_pair_their_ratios(tmp_path):
    with SleepServer(DELAY_S) as fast, SleepServer(SLOW_DELAY_S) as slow:
        scenario = quick_scenario(
            [
                {"kind": "url", "url": fast.url, "label": "fast"},
                {"kind": "url", "url": slow.url, "label": "slow"},
            ],
            request={"modes": ["async"]},
            load={"kind": "closed", "levels": [2]},
            measure={"rounds": 3},
        )
        document, lines = run(scenario, tmp_path)
    order = [(r["round"], r["target"]) for r in document["runs"]]
    assert order == [(0, "fast"), (0, "slow"), (1, "slow"), (1, "fast"), (2, "fast"), (2, "slow")]
    (ratio,) = document["ratios"]
    assert len(ratio["rounds"]) == 3
    assert all(r["throughput_rows"] < 1 < r["p50"] for r in ratio["rounds"])
    assert sorted(r["throughput_rows"] for r in ratio["rounds"])[1] == ratio["throughput_rows"]
    assert any("median of 3 paired rounds" in line for line in lines)


def test_errors_are_counted_by_status(tmp_path):
    with SleepServer(0.005, fail_every_other=True) as server:
        scenario = quick_scenario(
            [f"url={server.url}"], request={"modes": ["async", "stream"]}, load={"levels": [4]}
        )
        document, lines = run(scenario, tmp_path)
    for row in document["runs"]:
        failed = row["errors"]["UNAVAILABLE"]
        assert set(row["errors"]) == {"UNAVAILABLE"}
        assert 0.6 <= failed / row["num_ok"] <= 1.6, row
        assert row["offered_rps"] > 1.5 * row["throughput_rps"]
    assert "UNAVAILABLE" in lines[0]


def test_open_loop_latency_includes_queueing(tmp_path):
    # One request at a time, 20 ms each: 50/s capacity. At 100/s the queue grows all run long.
    with SleepServer(DELAY_S, max_concurrent=1) as server:
        scenario = quick_scenario(
            [f"url={server.url}"],
            load={"kind": "open", "levels": [20, 100], "arrival": "constant", "max_inflight": 20},
            measure={"warmup_s": 0.3, "window_s": 0.6},
        )
        document, _ = run(scenario, tmp_path)
    under, over = document["runs"]
    assert under["latency_ms"]["p50"] < 5 * DELAY_S * 1000
    assert under["throughput_rps"] == pytest.approx(20, rel=0.35)
    # Queueing delay counts: requests wait far longer than the 20 ms they take.
    # (About 1 s of backlog builds up by the end; a closed loop would report 20 ms.)
    assert over["latency_ms"]["p50"] > 10 * DELAY_S * 1000, over["latency_ms"]
    assert over["latency_ms"]["max"] > 10 * DELAY_S * 1000
    assert over["throughput_rps"] < 60
    assert over["server"]["queue_us"] > over["server"]["compute_us"]
    # Past the in-flight cap sends wait, and that wait still counts (and is flagged).
    assert under["capped_sends"] == 0 and over["capped_sends"] > 0
    assert any("in-flight cap" in w for w in over["warnings"])


def test_load_spread_over_processes(tmp_path):
    with SleepServer(DELAY_S) as server:
        scenario = quick_scenario([f"url={server.url}"], load={"levels": [6], "processes": 2})
        document, _ = run(scenario, tmp_path)
    (row,) = document["runs"]
    assert row["processes"] == 2 and len(row["generator_cpu"]) == 2
    assert row["throughput_rps"] == pytest.approx(6 / DELAY_S, rel=0.6)
