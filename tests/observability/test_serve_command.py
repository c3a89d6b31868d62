"""`naiad serve` with the observability flags, as a real process."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import grpc
import modelgen
import numpy as np
import pytest
from obs_helpers import FAST_CONFIG, fast_model

from naiad.cli import build_parser
from naiad_client import Client
from naiad_protocol import grpc_service_pb2 as pb
from naiad_protocol import grpc_service_pb2_grpc as pb_grpc

READY = "naiad ready grpc="


def test_flags() -> None:
    parse = build_parser().parse_args
    defaults = parse(["serve", "--model-repository", "r"])
    assert (defaults.http_port, defaults.metrics_port, defaults.strict_readiness) == (
        8000,
        8002,
        True,
    )
    assert not defaults.access_log and defaults.log_format == "plain"
    off = parse(["serve", "--model-repository", "r", "--no-http", "--no-metrics"])
    assert (off.http_port, off.metrics_port) == (None, None)
    again = parse(["serve", "--model-repository", "r", "--no-metrics", "--metrics-port", "0"])
    assert again.metrics_port == 0  # the last of the two wins, as bench/ relies on
    after = parse(
        ["--log-level", "DEBUG", "serve", "--model-repository", "r", "--log-format", "json"]
    )
    assert (after.log_level, after.log_format) == ("DEBUG", "json")
    assert not parse(["serve", "--model-repository", "r", "--no-strict-readiness"]).strict_readiness
    assert defaults.event_loop == "uvloop"  # a dependency on every platform the server targets


def _lines(stream, into: queue.Queue[str]) -> None:  # type: ignore[no-untyped-def]
    for line in stream:
        into.put(line)


def _wait_for(lines: queue.Queue[str], predicate, timeout_s: float = 30.0) -> str:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while True:
        line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
        if predicate(line):
            return line


@contextmanager
def _serving(
    command: list[str],
) -> Iterator[tuple[subprocess.Popen[str], queue.Queue[str], queue.Queue[str]]]:
    """Runs `command`, its stdout and stderr lines in two queues; killed and reaped on exit."""
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONUNBUFFERED="1"),
    )
    out: queue.Queue[str] = queue.Queue()
    err: queue.Queue[str] = queue.Queue()
    readers = [
        threading.Thread(target=_lines, args=(process.stdout, out), daemon=True),
        threading.Thread(target=_lines, args=(process.stderr, err), daemon=True),
    ]
    for reader in readers:
        reader.start()
    try:
        yield process, out, err
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for reader in readers:
            reader.join(timeout=10)
        for pipe in (process.stdout, process.stderr):
            assert pipe is not None
            pipe.close()


def test_serve_json_logs_access_log_and_run_time_levels(tmp_path: Path) -> None:
    repository = modelgen.write_repository(
        tmp_path / "repo", {"fast": {1: fast_model}}, {"fast": FAST_CONFIG}
    )
    command = [
        sys.executable, "-m", "naiad.cli", "serve", "--model-repository", str(repository),
        "--grpc-host", "127.0.0.1", "--grpc-port", "0", "--http-port", "0",
        "--metrics-port", "0", "--log-format", "json", "--access-log",
    ]  # fmt: skip
    with _serving(command) as (process, out, err):
        ready = _wait_for(out, lambda line: line.startswith(READY))
        pairs = dict(item.split("=", 1) for item in ready.split()[2:])
        assert list(pairs) == ["grpc", "http", "metrics"]
        assert all(not address.endswith(":0") for address in pairs.values())
        ones = {"INPUT0": np.ones((1, 4), np.float32)}

        def access_line(request_id: str) -> dict[str, object]:
            line = _wait_for(err, lambda text: f'"id": "{request_id}"' in text)
            return json.loads(line)

        with Client(pairs["grpc"]) as client:
            client.infer("fast", ones, request_id="first")
            entry = access_line("first")
            assert entry["logger"] == "naiad.access" and entry["status"] == "OK"
            assert entry["level"] == "INFO" and entry["model"] == "fast"
            assert entry["protocol"] == "grpc"
            body = json.dumps(
                {
                    "id": "over-http",
                    "inputs": [
                        {
                            "name": "INPUT0",
                            "datatype": "FP32",
                            "shape": [1, 4],
                            "data": [1, 1, 1, 1],
                        }
                    ],
                }  # fmt: skip
            ).encode()
            url = f"http://{pairs['http']}/v2/models/fast/infer"
            with urllib.request.urlopen(urllib.request.Request(url, body), timeout=10) as reply:
                assert reply.status == 200
            entry = access_line("over-http")
            assert entry["protocol"] == "http" and entry["status"] == "OK"

            with grpc.insecure_channel(pairs["grpc"]) as channel:
                stub = pb_grpc.GRPCInferenceServiceStub(channel)
                value = pb.LogSettingsRequest.SettingValue
                stub.LogSettings(
                    pb.LogSettingsRequest(settings={"log_info": value(bool_param=False)})
                )
                client.infer("fast", ones, request_id="silenced")
                stub.LogSettings(
                    pb.LogSettingsRequest(settings={"log_info": value(bool_param=True)})
                )
            client.infer("fast", ones, request_id="third")
            # Lines come in order: if "silenced" had been written, it would come before "third".
            skipped = _wait_for(err, lambda text: '"id": "silenced"' in text or '"third"' in text)
            assert '"third"' in skipped
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0


def test_tracing_without_opentelemetry_is_refused_clearly(tmp_path: Path) -> None:
    try:
        import opentelemetry  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("OpenTelemetry is installed here")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "naiad.cli",
            "serve",
            "--model-repository",
            str(tmp_path),
            "--otel-tracing",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0 and "naiad[otel]" in result.stderr


@pytest.mark.parametrize(
    ("choice", "loop_class"), [("uvloop", "uvloop.Loop"), ("asyncio", "_UnixSelectorEventLoop")]
)
def test_serve_runs_on_the_chosen_event_loop(tmp_path: Path, choice: str, loop_class: str) -> None:
    repository = modelgen.write_repository(
        tmp_path / "repo", {"fast": {1: fast_model}}, {"fast": FAST_CONFIG}
    )
    command = [
        sys.executable, "-m", "naiad.cli", "serve", "--model-repository", str(repository),
        "--grpc-host", "127.0.0.1", "--grpc-port", "0", "--no-http", "--no-metrics",
        "--event-loop", choice,
    ]  # fmt: skip
    with _serving(command) as (process, out, err):
        ready = _wait_for(out, lambda line: line.startswith(READY))
        loop_line = _wait_for(err, lambda line: "event loop:" in line)
        assert loop_line.rstrip().endswith(loop_class)
        ones = {"INPUT0": np.ones((1, 4), np.float32)}
        with Client(ready[len(READY) :].split()[0]) as client:
            answer = client.infer("fast", ones)
        np.testing.assert_array_equal(answer.as_numpy("OUTPUT0"), ones["INPUT0"])
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
