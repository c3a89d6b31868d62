"""Scenario files, command-line overrides, load splitting, compare, report lines, perf_analyzer."""

from __future__ import annotations

import argparse

import pytest
from bench_fakes import start_recorded

from bench import __main__ as cli
from bench import compare, perf_analyzer, report, scenario
from bench.models import generated_signature
from bench.runner import split_load, warnings_for


@pytest.mark.parametrize("name", scenario.bundled_names())
def test_bundled_scenarios_are_valid(name):
    loaded = scenario.load(name)
    assert loaded.name == name and loaded.targets and loaded.description


def test_bundled_scenarios_cover_the_issue():
    assert {"tiny", "compute", "streaming", "overload"} <= set(scenario.bundled_names())
    assert scenario.load("overload").load.kind == "open"
    assert "stream" in scenario.load("streaming").request.modes
    compute = scenario.load("compute")
    inprocess = [t for t in compute.targets if t.kind == "onnxruntime-inprocess"]
    assert inprocess[0].batch_size == compute.model.max_batch_size


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"load": {"levles": [1]}}, "unknown keys: levles"),
        ({"load": {"kind": "open"}, "request": {"modes": ["sync"]}}, "open loop"),
        ({"load": {"levels": [1.5]}}, "integers"),
        ({"targets": ["naiad", "naiad"]}, "distinct labels"),
        ({"targets": ["nope"]}, "unknown target kind"),
        ({"baseline": "x"}, "baseline"),
        ({"request": {"modes": ["grpc"]}}, "request.modes"),
        ({"extra": 1}, "unknown top-level"),
        ({"targets": [{"kind": "grpc-noop", "executable": "/x/naiad"}]}, "are for naiad targets"),
    ],
)
def test_bad_scenarios_say_why(data, message):
    with pytest.raises(scenario.ScenarioError, match=message):
        scenario.from_dict({"targets": ["grpc-noop"], **data})


def test_url_targets_and_short_form(tmp_path):
    args = cli._parser().parse_args(
        ["run", "--url", "127.0.0.1:9", "--model", "m", "-r", "10,20", "--arrival", "poisson"]
    )
    built = cli.build_scenario(args)
    assert built.targets[0].kind == "url" and built.targets[0].url == "127.0.0.1:9"
    assert built.model.name == "m" and built.model.generate is None
    assert (built.load.kind, built.load.levels, built.load.arrival) == (
        "open",
        (10.0, 20.0),
        "poisson",
    )


def test_a_naiad_target_can_name_another_checkouts_executable(tmp_path, monkeypatch):
    """Before/after in one run: one naiad target per checkout, each its own console script."""
    fake = tmp_path / "naiad"
    fake.write_text("#!/bin/sh\necho usage: --grpc-host --no-http\n")
    fake.chmod(0o755)
    built = scenario.from_dict(
        {"targets": ["naiad", {"kind": "naiad", "label": "before", "executable": str(fake)}]}
    )
    before = built.targets[1]
    assert built.targets[0].executable is None and before.executable == str(fake)
    running, started = start_recorded(monkeypatch, before, tmp_path)
    assert running.url == "127.0.0.1:1"
    assert started[0][:2] == [str(fake), "serve"] and "--no-http" in started[0]


def test_command_line_overrides_a_scenario():
    args = cli._parser().parse_args(
        ["run", "tiny", "--targets", "grpc-noop,naive", "--modes", "stream", "-c", "2", "-p", "2"]
    )
    built = cli.build_scenario(args)
    assert [t.label for t in built.targets] == ["grpc-noop", "naive"]
    assert built.baseline == "grpc-noop"
    assert built.request.modes == ("stream",) and built.load.levels == (2,)
    assert built.load.processes == 2 and built.model.name == "tiny_mlp"


def test_run_without_scenario_or_url_is_refused(capsys):
    assert cli.main(["run"]) == 2
    assert "give a scenario" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("kind", "level", "processes", "expected"),
    [
        ("closed", 8, 3, [3, 3, 2]),
        ("closed", 2, 4, [1, 1]),
        ("closed", 64, 1, [64]),
    ],
)
def test_closed_load_split(kind, level, processes, expected):
    built = scenario.from_dict({"targets": ["grpc-noop"], "load": {"processes": processes}})
    assert [s["concurrency"] for s in split_load(built, level)] == expected


def test_open_load_split_staggers_constant_arrivals():
    built = scenario.from_dict(
        {"targets": ["grpc-noop"], "load": {"kind": "open", "levels": [100], "processes": 2}}
    )
    shares = split_load(built, 100)
    assert [s["rate"] for s in shares] == [50, 50]
    assert [s["offset_s"] for s in shares] == [0, 0.01]


def _row(target, level, rows_per_s, p50, p99, mode="async", errors=None, round_=0):
    return {
        "round": round_,
        "target": target,
        "kind": "url",
        "mode": mode,
        "load": "closed",
        "level": level,
        "batch_size": 1,
        "throughput_rps": rows_per_s,
        "throughput_rows": rows_per_s,
        "latency_ms": {"p50": p50, "p90": p50, "p99": p99, "p99.9": p99, "max": p99},
        "errors": errors or {},
        "trials": 3,
        "stable": True,
        "generator_cpu": [0.5],
        "server": None,
    }


def test_compare_computes_ratios(tmp_path, capsys):
    a = {"runs": [_row("naiad", 1, 1000, 1.0, 2.0), _row("naiad", 8, 4000, 2.0, 8.0)]}
    b = {"runs": [_row("naiad", 1, 1500, 0.5, 3.0), _row("naiad", 64, 1, 1, 1)]}
    (entry,) = compare.compare(a, b)
    assert entry["throughput"] == pytest.approx(1.5)
    assert entry["p50"] == pytest.approx(0.5) and entry["p99"] == pytest.approx(1.5)
    for name, doc in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "results.json").write_text(__import__("json").dumps(doc))
    assert cli.main(["compare", str(tmp_path / "a"), str(tmp_path / "b" / "results.json")]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 2 and "1.50" in lines[1] and "0.50" in lines[1]


def test_ratios_and_summary_line():
    rows = [
        _row("noop", 8, 4000, 1.0, 4.0),
        _row("naiad", 8, 3600, 1.1, 4.4, errors={"UNAVAILABLE": 3}),
    ]
    (ratio,) = report.ratios(rows, "noop")
    assert ratio["throughput_rows"] == pytest.approx(0.9) and ratio["p50"] == pytest.approx(1.1)
    line = report.summary_line(rows[1])
    assert line.startswith("naiad async closed=8 b=1: 3,600.0 req/s")
    assert "errors 3 (UNAVAILABLE 3)" in line and "\n" not in line


def test_ratios_pair_runs_of_the_same_round_and_take_the_median():
    # The baseline drifts from round to round; each ratio divides by its own round's baseline.
    rows = [
        _row("ort", 64, 2000, 30.0, 40.0, round_=0),
        _row("naiad", 64, 1800, 120.0, 150.0, round_=0),
        _row("naiad", 64, 2700, 100.0, 130.0, round_=1),
        _row("ort", 64, 3000, 25.0, 35.0, round_=1),
        _row("ort", 64, 2500, 28.0, 38.0, round_=2),
        _row("naiad", 64, 2000, 110.0, 140.0, round_=2),
    ]
    (ratio,) = report.ratios(rows, "ort")
    assert [r["throughput_rows"] for r in ratio["rounds"]] == pytest.approx([0.9, 0.9, 0.8])
    assert ratio["throughput_rows"] == pytest.approx(0.9)
    assert ratio["p50"] == pytest.approx(4.0)  # median of 4.0, 4.0, 3.93
    (line,) = report.ratio_lines({"ratios": [ratio]})[1:]
    assert "0.90x" in line and "[0.80-0.90]" in line
    assert "median of 3 paired rounds" in report.ratio_lines({"ratios": [ratio]})[0]
    # compare pairs the same round of two documents.
    later = [{**r, "throughput_rows": r["throughput_rows"] * 2} for r in rows]
    entries = compare.compare({"runs": rows}, {"runs": later})
    assert len(entries) == 6 and all(e["throughput"] == pytest.approx(2) for e in entries)


def test_client_cpu_that_is_a_large_share_of_p50_is_flagged():
    row = {**_row("naiad", 1, 1000, 0.9, 1.2), "generator_us_per_request": 300.0}
    (warning,) = warnings_for(row)
    assert "300 us of CPU per request, 33% of p50" in warning
    assert warnings_for({**row, "latency_ms": {**row["latency_ms"], "p50": 10.0}}) == []
    assert warnings_for({**row, "kind": "onnxruntime-inprocess"}) == []
    assert "(300 us/req)" in report.summary_line(row)


def test_a_generator_sharing_a_saturated_machine_with_a_url_server_is_flagged(monkeypatch):
    monkeypatch.setattr("os.cpu_count", lambda: 2)
    row = {**_row("url", 8, 3000, 2.5, 6.0), "server": {"machine_cores": 1.95}}
    row["generator_cpu"] = [0.7]
    (warning,) = warnings_for(row)
    assert "machine saturated" in warning and "0.7 of them the generator's" in warning
    assert warnings_for({**row, "generator_cpu": [0.1]}) == []
    assert warnings_for({**row, "server": {"machine_cores": 1.2}}) == []


PA_CSV = """Concurrency,Inferences/Second,Client Send,Network+Server Send/Recv,Server Queue,\
Server Compute Input,Server Compute Infer,Server Compute Output,Client Recv,p50 latency,\
p90 latency,p95 latency,p99 latency
8,2086.36,3,3816,5,1,8,2,1,3666,4790,5095,6157
"""


def test_perf_analyzer_csv_becomes_a_row():
    base = {"target": "t", "mode": "async", "load": "closed", "level": 8, "batch_size": 2}
    row = perf_analyzer.to_row(perf_analyzer.parse_csv(PA_CSV), base)
    assert row["throughput_rows"] == pytest.approx(2086.36)
    assert row["throughput_rps"] == pytest.approx(1043.18)
    assert row["latency_ms"]["p50"] == pytest.approx(3.666)
    assert row["latency_ms"]["p99"] == pytest.approx(6.157)
    assert row["server"]["queue_us"] == 5 and row["server"]["compute_us"] == 11
    assert report.summary_line(row)


def test_perf_analyzer_command(tmp_path, monkeypatch):
    # The command line is what is under test, not where perf_analyzer is installed.
    monkeypatch.setattr(perf_analyzer, "executable", lambda: "perf_analyzer")
    built = scenario.from_dict(
        {
            "targets": ["grpc-noop"],
            "model": {"name": "m"},
            "request": {"batch_size": 4},
            "load": {"kind": "open", "arrival": "poisson"},
        }
    )
    signature = generated_signature(built.model)
    cmd = perf_analyzer.command(
        "h:1", signature, built, "stream", 250, tmp_path / "in.json", tmp_path / "o.csv"
    )
    text = " ".join(cmd[1:])
    assert "-m m -i grpc -u h:1 -b 4" in text
    assert "--request-rate-range 250:250 --request-distribution poisson --streaming" in text
    assert "--shape INPUT0:64" in text and f"-f {tmp_path / 'o.csv'}" in text


def test_parser_lists_every_command():
    parser = cli._parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert set(actions[0].choices) == {"run", "compare", "models", "list"}
