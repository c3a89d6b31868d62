"""Warm-up: typed samples from the config pass become arrays and run on instances."""

from __future__ import annotations

import dataclasses
import struct
from pathlib import Path

import modelgen
import numpy as np
import pytest

from naiad import datatypes
from naiad.config.parse import parse_config_text
from naiad.config.prepare import prepare_version
from naiad.config.settings import (
    ExecutionOptions,
    InstanceGroup,
    InstanceKind,
    TensorSpec,
    WarmupInput,
    WarmupSample,
    WarmupSource,
)
from naiad.errors import ModelLoadError
from naiad.runtime.instances import plan_instances
from naiad.runtime.onnx import load_instances
from naiad.runtime.providers import CPU
from naiad.runtime.warmup import run_cost_ns, run_warmup, warmup_inputs

FP32, INT64, BYTES = (datatypes.BY_WIRE[t] for t in ("FP32", "INT64", "BYTES"))
ZERO, RANDOM, FILE = WarmupSource.ZERO, WarmupSource.RANDOM, WarmupSource.FILE


def _sample(name: str = "s", batch_size: int = 2, count: int = 1, **inputs) -> WarmupSample:
    return WarmupSample(name=name, batch_size=batch_size, inputs=inputs, count=count)


@pytest.fixture
def add_sub(tmp_path: Path) -> Path:
    return modelgen.add_sub(tmp_path / "m" / "1" / "model.onnx", "FP32", [3])


def test_zero_random_and_file_inputs(make_settings, add_sub, tmp_path) -> None:
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    (tmp_path / "input0.bin").write_bytes(data.tobytes())
    settings = make_settings(add_sub)
    zero = warmup_inputs(_sample(INPUT0=WarmupInput(FP32, (3,), ZERO)), settings)
    assert zero["INPUT0"].shape == (2, 3) and not zero["INPUT0"].any()
    rand = warmup_inputs(_sample(INPUT0=WarmupInput(FP32, (3,), RANDOM)), settings)
    assert rand["INPUT0"].dtype == np.float32 and rand["INPUT0"].any()
    again = warmup_inputs(_sample(INPUT0=WarmupInput(FP32, (3,), RANDOM)), settings)
    np.testing.assert_array_equal(again["INPUT0"], rand["INPUT0"])  # seeded: runs repeat
    in_file = WarmupInput(FP32, (3,), FILE, tmp_path / "input0.bin")
    from_file = warmup_inputs(_sample(INPUT0=in_file), settings)
    np.testing.assert_array_equal(from_file["INPUT0"], data)


def test_no_batch_dimension_when_the_model_does_not_batch(make_settings, tmp_path) -> None:
    path = modelgen.identity(tmp_path / "m.onnx", "INT64", [2, 2], batching=False)
    settings = make_settings(path, max_batch_size=0)
    sample = _sample(batch_size=5, INPUT0=WarmupInput(INT64, (2, 2), RANDOM))
    inputs = warmup_inputs(sample, settings)
    assert inputs["INPUT0"].shape == (2, 2) and inputs["INPUT0"].dtype == np.int64


def test_reshape_is_applied_after_the_batch_dimension(make_settings, tmp_path) -> None:
    path = modelgen.identity(tmp_path / "m.onnx", "FP32", [2, 3])
    base = make_settings(path)
    spec = TensorSpec("INPUT0", FP32, (6,), reshape=(2, 3))
    settings = dataclasses.replace(base, inputs=(spec,))
    inputs = warmup_inputs(_sample(batch_size=4, INPUT0=WarmupInput(FP32, (6,), ZERO)), settings)
    assert inputs["INPUT0"].shape == (4, 2, 3)


def test_bytes_inputs(make_settings, tmp_path) -> None:
    path = modelgen.identity(tmp_path / "m.onnx", "BYTES", [2])
    strings = tmp_path / "strings.bin"
    strings.write_bytes(_framed(b"a", b"", b"xyz", b"q"))
    settings = make_settings(path)
    zero = warmup_inputs(_sample(INPUT0=WarmupInput(BYTES, (2,), ZERO)), settings)["INPUT0"]
    assert zero.tolist() == [[b"", b""], [b"", b""]]
    sample = _sample(INPUT0=WarmupInput(BYTES, (2,), FILE, strings))
    from_file = warmup_inputs(sample, settings)["INPUT0"]
    assert from_file.dtype == object and from_file.shape == (2, 2)
    assert from_file.tolist() == [[b"a", b""], [b"xyz", b"q"]]
    random = warmup_inputs(_sample(INPUT0=WarmupInput(BYTES, (2,), RANDOM)), settings)["INPUT0"]
    assert all(isinstance(v, bytes) and v for v in random.flat)


def _framed(*items: bytes) -> bytes:
    return b"".join(struct.pack("<I", len(v)) + v for v in items)


def test_bytes_file_from_a_config_is_decoded(tmp_path) -> None:
    """config.pbtxt to arrays: the config pass finds <model>/warmup/<file>, warm-up decodes it."""
    path = modelgen.identity(tmp_path / "m" / "1" / "model.onnx", "BYTES", [2])
    (tmp_path / "m" / "warmup").mkdir()
    (tmp_path / "m" / "warmup" / "words").write_bytes(_framed(b"hi", b"\xe2\x82\xac"))
    raw = parse_config_text(
        'model_warmup [{ name: "w" batch_size: 1 inputs { key: "INPUT0" value { '
        'data_type: TYPE_STRING dims: [ 2 ] input_data_file: "words" } } }]',
        model="m",
    )
    settings = prepare_version(raw, path, name="m", version=1).settings
    (sample,) = settings.warmup
    assert sample.inputs["INPUT0"] == WarmupInput(
        BYTES, (2,), FILE, tmp_path / "m" / "warmup" / "words"
    )
    assert warmup_inputs(sample, settings)["INPUT0"].tolist() == [[b"hi", "€".encode()]]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (_framed(b"a", b"b", b"c", b"d", b"e"), "bytes left over after 4 elements"),
        (_framed(b"a", b"b"), "4 elements cannot fit in 10 bytes"),
        (_framed(b"a", b"b", b"c") + b"\x09\x00\x00\x00ab", "element 3 declares 9 bytes"),
    ],
    ids=["too many", "too few", "truncated element"],
)
def test_malformed_bytes_file_names_the_input(
    make_settings, tmp_path, content: bytes, message: str
) -> None:
    """The server's one BYTES decoder reads warm-up files too, with its own messages."""
    path = modelgen.identity(tmp_path / "m.onnx", "BYTES", [2])
    bad = tmp_path / "bad.bin"
    bad.write_bytes(content)
    sample = _sample(INPUT0=WarmupInput(BYTES, (2,), FILE, bad))
    with pytest.raises(ModelLoadError) as info:
        warmup_inputs(sample, make_settings(path))
    assert info.value.message.startswith(
        f"model 'm' warm-up sample 's' input 'INPUT0': {bad} does not hold 4 BYTES element(s): "
    )
    assert message in info.value.message


def test_unreadable_and_short_files_name_the_input(make_settings, add_sub, tmp_path) -> None:
    settings = make_settings(add_sub)
    missing = _sample(INPUT0=WarmupInput(FP32, (3,), FILE, tmp_path / "missing.bin"))
    with pytest.raises(
        ModelLoadError, match="model 'm' warm-up sample 's' input 'INPUT0': cannot read"
    ):
        warmup_inputs(missing, settings)
    (tmp_path / "short.bin").write_bytes(b"\0" * 5)
    short = _sample(INPUT0=WarmupInput(FP32, (3,), FILE, tmp_path / "short.bin"))
    with pytest.raises(ModelLoadError, match="has 5 bytes, shape \\[2, 3\\] of FP32 needs 24"):
        warmup_inputs(short, settings)


def test_run_cost_probe(make_settings, add_sub) -> None:
    settings = make_settings(add_sub, groups=(InstanceGroup("g", 1, InstanceKind.CPU),))
    plans = plan_instances(settings, cpu_budget=1, gpu_count=0, available_providers=[CPU])
    (instance,) = load_instances(settings, plans)
    cost = run_cost_ns(instance, settings, runs=3)
    assert cost is not None and cost > 0
    assert run_cost_ns(_Recorder(fail=True), settings) is None


class _Recorder:
    description = "recorder"

    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[dict[str, tuple[int, ...]], list[str]]] = []
        self.fail = fail

    def run(self, inputs: dict[str, np.ndarray], output_names: list[str]) -> list[np.ndarray]:
        if self.fail:
            raise RuntimeError("needs real data")
        self.calls.append(({k: v.shape for k, v in inputs.items()}, output_names))
        return []

    def close(self) -> None:
        pass


def test_run_warmup_runs_every_sample_count_times(make_settings, add_sub) -> None:
    both = {"INPUT0": WarmupInput(FP32, (3,), ZERO), "INPUT1": WarmupInput(FP32, (3,), RANDOM)}
    samples = (_sample("a", batch_size=1, count=2, **both), _sample("b", batch_size=4, **both))
    settings = make_settings(add_sub, warmup=samples)
    recorder = _Recorder()
    run_warmup(recorder, settings)
    shapes = {"INPUT0": (1, 3), "INPUT1": (1, 3)}
    assert recorder.calls == [
        (shapes, ["OUTPUT0", "OUTPUT1"]),
        (shapes, ["OUTPUT0", "OUTPUT1"]),
        ({"INPUT0": (4, 3), "INPUT1": (4, 3)}, ["OUTPUT0", "OUTPUT1"]),
    ]


def test_run_warmup_on_real_instances_and_failures(make_settings, add_sub) -> None:
    good = _sample(
        "good", INPUT0=WarmupInput(FP32, (3,), RANDOM), INPUT1=WarmupInput(FP32, (3,), ZERO)
    )
    missing_input = _sample("half", INPUT0=WarmupInput(FP32, (3,), ZERO))
    group = InstanceGroup("g", 2, InstanceKind.CPU)
    settings = make_settings(
        add_sub, groups=(group,), execution=ExecutionOptions(), warmup=(good, missing_input)
    )
    plans = plan_instances(settings, cpu_budget=2, gpu_count=0, available_providers=[CPU])
    instances = load_instances(settings, plans)
    with pytest.raises(ModelLoadError, match="warm-up sample 'half' failed: onnxruntime"):
        run_warmup(instances[0], settings)
    ok = make_settings(add_sub, groups=(group,), warmup=(good,))
    for instance in instances:
        run_warmup(instance, ok)
