"""naiad targets with tls and token: the target fields, the files and flags the harness makes,
and the load generator's channel and metadata in every mode (last against a real naiad)."""

from __future__ import annotations

import dataclasses
import hashlib
import threading
import time
from pathlib import Path

import grpc
import numpy as np
import pytest
from bench_fakes import quick_scenario
from cryptography import x509

from bench import models, scenario, security, serverside, targets
from bench.recorder import Recorder
from bench.scenario import ModelSpec, TargetSpec
from bench.worker import Job, run_load
from naiad_client import Client

SECURED = {"kind": "naiad", "label": "both", "tls": True, "token": True}


def test_security_cost_is_tiny_with_four_naiad_targets():
    cost, tiny = scenario.load("security_cost"), scenario.load("tiny")
    assert (cost.model, cost.request, cost.load) == (tiny.model, tiny.request, tiny.load)
    assert cost.measure == dataclasses.replace(tiny.measure, rounds=3)
    assert [(t.kind, t.label, t.tls, t.token) for t in cost.targets] == [
        ("naiad", "plain", False, False),
        ("naiad", "tls", True, False),
        ("naiad", "token", False, True),
        ("naiad", "tls+token", True, True),
    ]
    assert cost.baseline == "plain"


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ({"kind": "naiad", "tls": "yes"}, "tls must be true or false"),
        ({"kind": "naiad", "token": 1}, "token must be true or false"),
        ({"kind": "grpc-noop", "tls": True}, "are for naiad targets"),
        ({"kind": "url=127.0.0.1:9", "token": True}, "are for naiad targets"),
        ({"kind": "naiad", "tls": True, "args": ["--tls-cert", "x"]}, "drop"),
        ({"kind": "naiad", "token": True, "args": ["--api-keys", "k"]}, "drop"),
    ],
)
def test_bad_security_fields_say_why(target, message):
    with pytest.raises(scenario.ScenarioError, match=message):
        quick_scenario([target])


def test_perf_analyzer_cannot_carry_tls_or_tokens():
    with pytest.raises(scenario.ScenarioError, match="need load.engine = python"):
        quick_scenario([SECURED], load={"engine": "perf_analyzer"})


def test_prepare_makes_a_certificate_for_loopback_and_a_hashed_key(tmp_path):
    from naiad.security.api_keys import parse_keys

    flags, access = security.prepare(TargetSpec(**SECURED), tmp_path)
    named = dict(zip(flags[::2], flags[1::2], strict=True))
    assert set(named) == {"--tls-cert", "--tls-key", "--api-keys"}
    cert = x509.load_pem_x509_certificate(Path(named["--tls-cert"]).read_bytes())
    ca = x509.load_pem_x509_certificate(access.root_certificates)
    cert.verify_directly_issued_by(ca)
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    keys_text = Path(named["--api-keys"]).read_text()
    assert access.token not in keys_text  # only its hash is written
    (key,) = parse_keys(keys_text).items()
    assert key[0] == hashlib.sha256(access.token.encode()).hexdigest()
    assert (tmp_path / "server.key").stat().st_mode & 0o077 == 0
    # A fresh secret and CA for every target.
    _, again = security.prepare(TargetSpec(**SECURED), tmp_path / "again")
    assert again.token != access.token and again.root_certificates != access.root_certificates


def test_plain_targets_get_no_flags_and_a_plain_channel(tmp_path):
    flags, access = security.prepare(TargetSpec("naiad", "plain"), tmp_path)
    assert (flags, access) == ([], security.PLAIN)
    assert access.client_args() == {"credentials": None, "metadata": ()}
    assert not tmp_path.exists() or not any(tmp_path.iterdir())


def test_client_args_are_tls_credentials_and_bearer_metadata():
    args = security.Access(root_certificates=b"PEM", token="s3cret").client_args()
    assert isinstance(args["credentials"], grpc.ChannelCredentials)
    assert args["metadata"] == (("authorization", "Bearer s3cret"),)
    token_only = security.Access(token="s3cret").client_args()
    assert token_only["credentials"] is None and token_only["metadata"]


def test_the_serve_command_carries_the_flags_before_the_targets_own(tmp_path, monkeypatch):
    fake_naiad = tmp_path / "naiad"
    fake_naiad.write_text("#!/bin/sh\necho '--grpc-host --no-http --no-metrics'\n")
    fake_naiad.chmod(0o755)
    started = []
    monkeypatch.setattr(
        targets.ServerProcess, "start", lambda self: started.append(self) or "127.0.0.1:9"
    )
    spec = TargetSpec(**SECURED, executable=str(fake_naiad), args=("--log-level", "debug"))
    signature = models.Signature("m", 0, (), (), repository="/repo")
    running = targets.start(spec, signature, tmp_path / "out")
    command = started[0].command
    made = tmp_path / "out" / "security" / "both"
    assert command[command.index("--tls-cert") + 1] == str(made / "server.crt")
    assert command[command.index("--tls-key") + 1] == str(made / "server.key")
    assert command[command.index("--api-keys") + 1] == str(made / "api-keys.toml")
    assert command[-2:] == ["--log-level", "debug"]
    assert command[command.index("--api-keys") + 2] == "--log-level"
    assert (
        running.access.token and running.access.root_certificates == (made / "ca.crt").read_bytes()
    )


def _load(job: Job, seconds: float = 0.4):
    recorder, stop = Recorder(), threading.Event()
    thread = threading.Thread(target=run_load, args=(job, recorder, stop))
    thread.start()
    time.sleep(seconds)
    stop.set()
    thread.join(10)
    assert recorder.fatal is None, recorder.fatal
    return recorder.snapshot()


@pytest.fixture(scope="module")
def secured_naiad(bench_cache, tmp_path_factory):
    try:
        targets.naiad_executable()
    except RuntimeError:
        pytest.skip("naiad is not installed")
    tiny = ModelSpec(name="tiny_sec", num_in=8, hidden=(8,), num_out=2, max_batch_size=8)
    signature = models.ensure_generated(tiny)
    target = targets.start(TargetSpec(**SECURED), signature, tmp_path_factory.mktemp("secured"))
    yield target, signature
    assert target.server.stop() == 0


@pytest.mark.parametrize("mode", ["sync", "async", "stream"])
def test_every_mode_reaches_a_tls_and_token_naiad(secured_naiad, mode):
    target, signature = secured_naiad
    request = Client.prepare(signature.name, {"INPUT0": np.full((1, 8), 0.5, np.float32)})
    payload = request.SerializeToString()
    job = Job(engine=mode, payloads=[payload], url=target.url, concurrency=2)
    window = _load(dataclasses.replace(job, access=target.access))
    assert window.num_ok > 0 and window.errors == {}
    with Client(target.url, **target.access.client_args()) as client:
        assert serverside.statistics_counters(client, signature.name)["success_count"] > 0
    # The server really checks: without the token calls are refused, without the CA the
    # channel never comes up.
    no_token = security.Access(root_certificates=target.access.root_certificates)
    refused = _load(dataclasses.replace(job, access=no_token), seconds=0.2)
    # A stream write racing the server's refusal fails in grpc.aio's client as INTERNAL
    # "Internal error from Core" instead (grpc/grpc#36066); either way nothing is served.
    allowed = {"UNAUTHENTICATED", "INTERNAL"} if mode == "stream" else {"UNAUTHENTICATED"}
    assert refused.num_ok == 0 and refused.errors and set(refused.errors) <= allowed
    no_ca = security.Access(token=target.access.token)
    unreachable = _load(dataclasses.replace(job, access=no_ca), seconds=0.2)
    assert unreachable.num_ok == 0 and set(unreachable.errors) == {"UNAVAILABLE"}
