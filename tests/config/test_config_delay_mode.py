"""config `parameters` queue_delay_mode / target_p99_ms -> BatchingPolicy.delay_mode."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import modelgen
import pytest

from naiad.config.settings import DelayMode, ModelSettings
from naiad.errors import ModelLoadError

Build = Callable[..., ModelSettings]


def model(path: Path) -> Path:
    return modelgen.identity(path, "FP32", [4])


def config(delay_us: int, **params: str) -> str:
    lines = "".join(
        f'parameters {{ key: "{key}" value {{ string_value: "{value}" }} }}\n'
        for key, value in params.items()
    )
    batching = f"dynamic_batching {{ max_queue_delay_microseconds: {delay_us} }}"
    return f"max_batch_size: 8\n{batching}\n{lines}"


def test_adaptive_is_the_default(build: Build) -> None:
    policy = build(model, config(2000)).batching
    assert (policy.delay_mode, policy.target_p99_us) == (DelayMode.ADAPTIVE, 0)


@pytest.mark.parametrize("text", ["fixed", "FIXED", " adaptive "])
def test_mode_by_name(build: Build, text: str) -> None:
    policy = build(model, config(2000, queue_delay_mode=text)).batching
    assert policy.delay_mode is DelayMode(text.strip().lower())


def test_a_target_alone_means_slo(build: Build) -> None:
    policy = build(model, config(2000, target_p99_ms="7.5")).batching
    assert (policy.delay_mode, policy.target_p99_us) == (DelayMode.SLO, 7500)
    explicit = build(model, config(2000, queue_delay_mode="slo", target_p99_ms="20")).batching
    assert (explicit.delay_mode, explicit.target_p99_us) == (DelayMode.SLO, 20_000)


@pytest.mark.parametrize(
    ("delay_us", "params", "problem"),
    [
        (
            2000,
            {"queue_delay_mode": "eager"},
            "queue_delay_mode must be one of fixed, adaptive, slo, not 'eager'",
        ),
        (
            2000,
            {"target_p99_ms": "soon"},
            "target_p99_ms must be a number of milliseconds > 0, not 'soon'",
        ),
        (2000, {"target_p99_ms": "-1"}, "target_p99_ms must be a number of milliseconds > 0"),
        (2000, {"target_p99_ms": "nan"}, "target_p99_ms must be a number of milliseconds > 0"),
        (2000, {"queue_delay_mode": "slo"}, "queue_delay_mode 'slo' needs target_p99_ms"),
        (
            2000,
            {"queue_delay_mode": "fixed", "target_p99_ms": "5"},
            "target_p99_ms applies only to queue_delay_mode 'slo'",
        ),
        (0, {"target_p99_ms": "5"}, "within max_queue_delay_microseconds, which is 0"),
    ],
)
def test_bad_settings_fail_the_load(
    build: Build, delay_us: int, params: dict[str, str], problem: str
) -> None:
    with pytest.raises(ModelLoadError) as info:
        build(model, config(delay_us, **params))
    assert problem in info.value.message
