"""What the frontends scenario needs from the harness: the target option, load spread over
several connections, and server CPU counted over the server's process tree."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from bench_fakes import SleepServer, quick_scenario, start_recorded

from bench import report, scenario, serverside
from bench.runner import Runner


def test_a_naiad_target_passes_its_frontends(tmp_path, monkeypatch):
    built = scenario.from_dict(
        {"targets": [{"kind": "naiad", "label": "two", "frontends": 2}, "grpc-noop"]}
    )
    _, started = start_recorded(monkeypatch, built.targets[0], tmp_path)
    assert started[0][-2:] == ["--frontends", "2"]


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"kind": "naiad", "frontends": 0}, "integer >= 1"),
        ({"kind": "naiad", "frontends": 2, "args": ["--frontends", "3"]}, "not both"),
        ({"kind": "grpc-noop", "frontends": 2}, "for naiad targets"),
    ],
)
def test_bad_frontends_say_why(target, message):
    with pytest.raises(scenario.ScenarioError, match=message):
        scenario.from_dict({"targets": [target]})


@pytest.mark.parametrize("mode", ["async", "stream"])
def test_load_goes_over_as_many_connections_as_asked(tmp_path, mode):
    with SleepServer(0.005) as server:
        built = quick_scenario(
            [f"url={server.url}"],
            request={"modes": [mode]},
            load={"levels": [6], "connections": 3},
        )
        document = Runner(built, tmp_path).run(emit=lambda line: None)
        assert server.service is not None
        peers = set(server.service.peers)
    (row,) = document["runs"]
    assert row["num_ok"] > 0 and not row["errors"]
    assert len(peers) == 3


def test_server_cpu_counts_running_children_and_names_the_main_process_share():
    busy = "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass"
    child = subprocess.Popen([sys.executable, "-c", busy + "\ntime.sleep(60)"])
    try:
        deadline = time.monotonic() + 30
        while (serverside.process_cpu_s(child.pid) or 0) < 0.3 and time.monotonic() < deadline:
            time.sleep(0.05)
        me = os.getpid()
        assert child.pid in serverside.child_pids(me)
        own = serverside.process_cpu_s(me)
        tree = serverside.tree_cpu_s(me)
        assert own is not None and tree is not None
        assert tree - own >= 0.29
    finally:
        child.kill()
        child.wait()
    before = serverside.Probe(0.0, None, 1.0, None, 0.5)
    after = serverside.Probe(2.0, None, 3.0, None, 1.5)
    split = serverside.split(before, after)
    assert split == {"cpu_cores": 1.0, "own_cpu_cores": 0.5}
    row = {
        "target": "t", "mode": "async", "load": "closed", "level": 1, "batch_size": 1,
        "throughput_rps": 1.0, "throughput_rows": 1.0, "latency_ms": {}, "errors": {},
        "server": split, "trials": 3, "stable": True,
    }  # fmt: skip
    assert "server cpu 1.00 (main process 0.50)" in report.summary_line(row)
    assert report.csv_row(row)["server_own_cpu_cores"] == 0.5
