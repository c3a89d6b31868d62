"""Fixtures of the stream tests: real brokers (started once per session, on 127.0.0.1), a probe
for the broker under test, and model repositories of a small batching MLP (scorer.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from brokers import kafka_broker, nats_server, redis_server
from probes import Probe, probe_for
from scorer import LONG_DELAY_CONFIG, SMALL_QUEUE_CONFIG, write_model_repository

BROKERS = ("redis", "nats", "kafka")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with redis_server(tmp_path_factory.mktemp("redis")) as url:
        yield url


@pytest.fixture(scope="session")
def nats_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with nats_server(tmp_path_factory.mktemp("nats")) as url:
        yield url


@pytest.fixture(scope="session")
def kafka_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with kafka_broker(tmp_path_factory.mktemp("kafka")) as url:
        yield url


@pytest.fixture(params=BROKERS)
def probe(request: pytest.FixtureRequest) -> Probe:
    """The broker under test (each test runs once per broker)."""
    return probe_for(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
def topics() -> tuple[str, str, str]:
    """Fresh input, output and error topic names."""
    tag = uuid.uuid4().hex[:8]
    return f"in-{tag}", f"out-{tag}", f"err-{tag}"


@pytest.fixture(scope="session")
def repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model_repository(tmp_path_factory.mktemp("repo"))


@pytest.fixture(scope="session")
def small_queue_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model_repository(tmp_path_factory.mktemp("repo-small"), SMALL_QUEUE_CONFIG)


@pytest.fixture(scope="session")
def long_delay_repository(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_model_repository(tmp_path_factory.mktemp("repo-delay"), LONG_DELAY_CONFIG)
