"""HTTP as a target protocol: the http-noop server, scenario rules, naiad's HTTP port under the
harness (plain and with TLS and a token), and a side-by-side run with ratios."""

from __future__ import annotations

import dataclasses
import http.client
import json
import threading
import time
from types import SimpleNamespace

import pytest
from bench_fakes import quick_scenario

from bench import __main__ as cli
from bench import http_client, inputs, models, scenario, security, serverside, targets
from bench.recorder import Recorder
from bench.runner import Runner
from bench.scenario import ModelSpec, RequestSpec, TargetSpec
from bench.worker import Job, run_load

TINY = {"name": "tiny_http", "num_in": 8, "hidden": [8], "num_out": 3, "max_batch_size": 8}


@pytest.fixture(scope="module")
def tiny_signature(bench_cache):
    return models.ensure_generated(ModelSpec(**{**TINY, "hidden": (8,)}))


@pytest.fixture(scope="module")
def http_noop(tiny_signature, tmp_path_factory):
    spec = scenario.parse_targets(["http-noop"])[0]
    target = targets.start(spec, tiny_signature, tmp_path_factory.mktemp("noop"))
    yield target
    assert target.server.stop() == 0


def _post(address: str, path: str, body: bytes, headers: dict[str, str]) -> tuple:
    """One request through the standard library's client, independent of bench's own."""
    host, port = http_client.split_address(address)
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers)
        answer = conn.getresponse()
        return answer.status, dict(answer.getheaders()), answer.read()
    finally:
        conn.close()


def _tiny_body(tiny_signature, rows: int, spec: RequestSpec | None = None):
    spec = spec or RequestSpec()
    variants = inputs.make_inputs(tiny_signature, spec, rows)
    return inputs.encode_http_bodies(spec, variants[:1])[0]


def test_http_noop_answers_a_fixed_output_of_the_requested_shape(http_noop, tiny_signature):
    assert http_noop.url is None and http_noop.http_url
    body, json_length = _tiny_body(tiny_signature, rows=3)
    binary = {"Inference-Header-Content-Length": str(json_length)}
    status, headers, answer = _post(http_noop.http_url, "/v2/models/tiny_http/infer", body, binary)
    assert status == 200
    split = int(headers["Inference-Header-Content-Length"])
    header = json.loads(answer[:split])
    (output,) = header["outputs"]
    assert (output["name"], output["datatype"], output["shape"]) == ("OUTPUT0", "FP32", [3, 3])
    assert answer[split:] == bytes(4 * 9) == bytes(output["parameters"]["binary_data_size"])
    as_json = json.dumps({"inputs": [{"name": "INPUT0", "shape": [2, 8], "data": [0] * 16}]})
    status, headers, answer = _post(
        http_noop.http_url, "/v2/models/tiny_http/infer", as_json.encode(), {}
    )
    assert status == 200 and "Inference-Header-Content-Length" not in headers
    assert json.loads(answer)["outputs"][0]["data"] == [0.0] * 6


def test_http_noop_refuses_bad_input_and_keeps_serving(http_noop, tiny_signature):
    before = serverside.http_statistics_counters(http_noop.http_url, "tiny_http", security.PLAIN)
    status, _, answer = _post(http_noop.http_url, "/v2/models/other/infer", b"{}", {})
    assert status == 404 and "unknown model" in json.loads(answer)["error"]
    status, _, _ = _post(http_noop.http_url, "/v2/models/tiny_http/infer", b"{not json", {})
    assert status == 400
    body, json_length = _tiny_body(tiny_signature, rows=2)
    client = http_client.SyncHttpClient(http_noop.http_url)
    request = http_client.infer_request("/v2/models/tiny_http/infer", "h", body, json_length)
    assert client.post(request)
    client.close()
    after = serverside.http_statistics_counters(http_noop.http_url, "tiny_http", security.PLAIN)
    assert after["success_count"] - before["success_count"] == 1
    assert after["inference_count"] - before["inference_count"] == 2
    assert after["fail_count"] - before["fail_count"] == 2
    assert after["compute_infer_count"] == after["compute_input_count"] == after["success_count"]


def test_protocols_resolve_per_target_kind_and_scenario():
    built = scenario.from_dict(
        {
            "targets": [
                "naiad",
                "grpc-noop",
                "http-noop",
                {"kind": "naiad", "label": "g", "protocol": "grpc"},
            ],
            "request": {"protocol": "http"},
        }
    )
    assert [t.protocol for t in built.targets] == ["http", "grpc", "http", "grpc"]
    assert TargetSpec(kind="http-noop", label="x").protocol == "http"
    assert TargetSpec(kind="naiad", label="x").protocol == "grpc"
    args = cli._parser().parse_args(["run", "http", "--targets", "naiad,http-noop"])
    assert [t.protocol for t in cli.build_scenario(args).targets] == ["http", "http"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"targets": [{"kind": "grpc-noop", "protocol": "http"}]}, "speaks grpc only"),
        ({"targets": [{"kind": "http-noop", "protocol": "grpc"}]}, "speaks http only"),
        ({"targets": [{"kind": "naiad", "protocol": "rest"}]}, "protocol must be one of"),
        ({"targets": ["http-noop"], "request": {"modes": ["stream"]}}, "no stream"),
        ({"targets": ["http-noop"], "load": {"engine": "perf_analyzer"}}, "load.engine = python"),
    ],
)
def test_bad_http_scenarios_say_why(data, message):
    with pytest.raises(scenario.ScenarioError, match=message):
        scenario.from_dict(data)


def test_bundled_http_scenarios_compare_what_issue_12_asks():
    tiny = scenario.load("http")
    assert tiny.baseline == "http-noop" and tiny.load.levels == (1, 16)
    assert {(t.label, t.kind, t.protocol) for t in tiny.targets} == {
        ("naiad-http", "naiad", "http"),
        ("http-noop", "http-noop", "http"),
    }
    compute = scenario.load("http_compute")
    assert compute.baseline == "naiad-grpc" and compute.load.levels == (1, 16)
    assert [t.protocol for t in compute.targets] == ["grpc", "http"]
    assert compute.model == dataclasses.replace(scenario.load("compute").model)


def test_a_naiad_http_target_serves_its_http_port_and_names_it(tmp_path, monkeypatch):
    fake = tmp_path / "naiad"
    fake.write_text("#!/bin/sh\necho usage: --grpc-host --no-http --no-metrics\n")
    fake.chmod(0o755)
    command = targets.naiad_command(str(fake), "/repo", ("--x",), http=True)
    assert command[command.index("--http-port") + 1] == "0" and "--no-http" not in command
    assert "--no-metrics" in command and command[-1] == "--x"
    assert "--no-http" in targets.naiad_command(str(fake), "/repo", ())
    script = tmp_path / "server.sh"
    script.write_text(
        "#!/bin/sh\necho 'x ready grpc=0.0.0.0:5 http=[::]:6 metrics=h:7'\nexec sleep 30\n"
    )
    script.chmod(0o755)
    server = targets.ServerProcess([str(script)], tmp_path / "server.log")
    assert server.start() == "127.0.0.1:5"
    assert server.addresses == {"grpc": "127.0.0.1:5", "http": "127.0.0.1:6", "metrics": "h:7"}
    server.stop()


def _load(job: Job, seconds: float = 0.5):
    recorder, stop = Recorder(), threading.Event()
    thread = threading.Thread(target=run_load, args=(job, recorder, stop))
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join(10)
    assert recorder.fatal is None, recorder.fatal
    return recorder.snapshot()


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_the_generator_drives_http_in_every_mode(http_noop, tiny_signature, mode):
    body, json_length = _tiny_body(tiny_signature, rows=1)
    good = http_client.infer_request("/v2/models/tiny_http/infer", "h", body, json_length)
    bad = http_client.infer_request("/v2/models/nope/infer", "h", body, json_length)
    job = Job(
        engine=mode, payloads=[good, bad], url=http_noop.http_url, concurrency=2, protocol="http"
    )
    window = _load(job)
    assert window.num_ok > 10 and set(window.errors) == {"HTTP_404"}
    assert 0.5 < window.errors["HTTP_404"] / window.num_ok < 2


def test_open_loop_over_http_keeps_its_rate(http_noop, tiny_signature):
    body, json_length = _tiny_body(tiny_signature, rows=1)
    request = http_client.infer_request("/v2/models/tiny_http/infer", "h", body, json_length)
    job = Job(
        engine="async", payloads=[request], url=http_noop.http_url, rate=200.0, protocol="http"
    )
    window = _load(job, seconds=1.0)
    assert window.errors == {} and 120 <= window.num_ok <= 230


def _naiad_or_skip():
    try:
        targets.naiad_executable()
    except RuntimeError:
        pytest.skip("naiad is not installed")


def test_naiad_http_beside_http_noop_and_naiad_grpc_in_one_run(tmp_path):
    _naiad_or_skip()
    built = quick_scenario(
        [
            {"kind": "naiad", "label": "naiad-http", "protocol": "http"},
            "http-noop",
            {"kind": "naiad", "label": "naiad-grpc"},
        ],
        model={**TINY, "config": {"dynamic_batching": {}}},
        request={"modes": ["sync", "async"]},
        load={"levels": [2]},
        baseline="http-noop",
    )
    lines: list[str] = []
    document = Runner(built, tmp_path).run(emit=lines.append)
    rows = {(r["target"], r["mode"]): r for r in document["runs"]}
    assert len(rows) == 6
    for row in rows.values():
        assert row["errors"] == {} and row["throughput_rps"] > 20, row
        # Server-side figures for every target: ModelStatistics over gRPC for naiad, the
        # stats endpoint for http-noop.
        assert row["server"]["requests"] > 0 and row["server"]["mean_batch"] >= 1, row
    assert rows["naiad-http", "async"]["server"]["compute_us"] > 0
    assert {r["protocol"] for r in rows.values() if r["target"] != "naiad-grpc"} == {"http"}
    assert rows["naiad-grpc", "sync"]["protocol"] == "grpc"
    ratios = {(r["target"], r["mode"]) for r in document["ratios"]}
    assert ratios == {(t, m) for t in ("naiad-http", "naiad-grpc") for m in ("sync", "async")}
    assert any(line.startswith("ratios vs http-noop") for line in lines)


def test_a_tls_and_token_naiad_over_http(tiny_signature, tmp_path):
    _naiad_or_skip()
    spec = TargetSpec(kind="naiad", label="both", tls=True, token=True, protocol="http")
    target = targets.start(spec, tiny_signature, tmp_path)
    try:
        runner = Runner(quick_scenario(["http-noop"], model=TINY), tmp_path)
        variants = inputs.make_inputs(tiny_signature, RequestSpec(), 1)
        runner.http_bodies = inputs.encode_http_bodies(RequestSpec(), variants)
        payloads = runner.http_payloads(target, tiny_signature.name)
        job = Job(engine="async", payloads=payloads, url=target.http_url, protocol="http")
        window = _load(dataclasses.replace(job, access=target.access))
        assert window.num_ok > 0 and window.errors == {}
        counters = serverside.http_statistics_counters(
            target.http_url, tiny_signature.name, target.access
        )
        assert counters["success_count"] >= window.num_ok
        # The server checks both: no token is a 401; without the CA the client speaks plain
        # text, which the TLS port hangs up on.
        runner.http_bodies = runner.http_bodies[:1]
        no_token = SimpleNamespace(http_url=target.http_url, access=security.Access())
        refused = dataclasses.replace(
            job, payloads=runner.http_payloads(no_token, tiny_signature.name), access=target.access
        )
        assert set(_load(refused, 0.2).errors) == {"HTTP_401"}
        untrusted = _load(
            dataclasses.replace(job, access=security.Access(token=target.access.token)), 0.2
        )
        assert untrusted.num_ok == 0 and set(untrusted.errors) == {"ConnectionError"}
    finally:
        assert target.server.stop() == 0
