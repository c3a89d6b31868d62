"""`naiad serve --stream`: a broker stream beside gRPC and HTTP on one engine, its series on the
server's /metrics, and a clean SIGTERM; `naiad stream` refusing bad settings."""

from __future__ import annotations

import json
import subprocess
import sys
import urllib.request
from pathlib import Path

from probes import Record, probe_for
from processes import naiad
from scorer import MODEL, features


def test_serve_answers_a_stream_through_its_engine_and_exports_its_metrics(
    redis_url: str, topics: tuple[str, str, str], repository: Path
) -> None:
    source, answers, errors = topics
    probe = probe_for(redis_url)
    count = 30
    probe.produce(
        source, [Record(json.dumps(features(i).tolist()).encode(), b"k") for i in range(count)]
    )
    stream = f"{redis_url}?model={MODEL}&input={source}&output={answers}&error={errors}"
    args = ("serve", "--model-repository", str(repository), "--grpc-host", "127.0.0.1",
            "--grpc-port", "0", "--http-port", "0", "--metrics-port", "0",
            "--stream", stream)  # fmt: skip
    with naiad(*args, ready_prefix="naiad ready grpc=") as server:
        assert server.address("stream") == redis_url
        assert len(probe.read(answers, count)) == count
        with urllib.request.urlopen(f"http://{server.address('metrics')}/metrics") as reply:
            text = reply.read().decode()
        label = f'stream="{MODEL}:{source}"'
        assert f'naiad_stream_messages_total{{{label},outcome="ok"}} {count}.0' in text, text
        assert f"naiad_stream_end_to_end_seconds_count{{{label}}} {count}.0" in text
        assert 'nv_inference_count{model="scorer",version="1"}' in text, "one registry"
        server.process.terminate()
        assert server.process.wait(60) == 0


def test_bad_stream_settings_are_refused_before_anything_starts(repository: Path) -> None:
    base = [sys.executable, "-m", "naiad.cli"]
    bad_url = [*base, "serve", "--model-repository", str(repository),
               "--stream", "amqp://127.0.0.1:1?model=m&input=a&output=b"]  # fmt: skip
    result = subprocess.run(bad_url, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "expected kafka://, redis:// or nats://" in result.stderr
    missing = [*base, "serve", "--model-repository", str(repository),
               "--stream", "redis://127.0.0.1:1?model=m&input=a"]  # fmt: skip
    result = subprocess.run(missing, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "missing output_topic" in result.stderr
    bad_format = [*base, "stream", "--model-repository", str(repository), "--model", MODEL,
                  "--broker", "redis://127.0.0.1:1", "--input-topic", "a", "--output-topic", "b",
                  "--format", "xml"]  # fmt: skip
    result = subprocess.run(bad_format, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "invalid choice: 'xml'" in result.stderr
