from __future__ import annotations

import struct
from pathlib import Path

import modelgen
import numpy as np
import pytest

from naiad.config.settings import ExecutionOptions, InstanceGroup, InstanceKind, WarmupSample
from naiad.errors import ModelLoadError
from naiad.runtime.instances import plan_instances
from naiad.runtime.onnx import load_instances
from naiad.runtime.providers import CPU
from naiad.runtime.warmup import run_warmup, warmup_inputs


def _sample(name: str = "s", batch_size: int = 2, count: int = 1, **inputs) -> WarmupSample:
    return WarmupSample(name=name, batch_size=batch_size, inputs=inputs, count=count)


@pytest.fixture
def add_sub(tmp_path: Path) -> Path:
    return modelgen.add_sub(tmp_path / "m" / "1" / "model.onnx", "FP32", [3])


def test_zero_random_and_file_inputs(make_settings, add_sub) -> None:
    data = np.arange(6, dtype=np.float32).reshape(2, 3)
    warmup_dir = add_sub.parent.parent / "warmup"
    warmup_dir.mkdir()
    (warmup_dir / "input0.bin").write_bytes(data.tobytes())
    settings = make_settings(add_sub)
    zero = warmup_inputs(_sample(INPUT0=("FP32", (3,), "zero", "")), settings)
    assert zero["INPUT0"].shape == (2, 3) and not zero["INPUT0"].any()
    rand = warmup_inputs(_sample(INPUT0=("FP32", (3,), "random", "")), settings)
    assert rand["INPUT0"].dtype == np.float32 and rand["INPUT0"].any()
    from_file = warmup_inputs(_sample(INPUT0=("FP32", (3,), "file", "input0.bin")), settings)
    np.testing.assert_array_equal(from_file["INPUT0"], data)


def test_no_batch_dimension_when_the_model_does_not_batch(make_settings, tmp_path) -> None:
    path = modelgen.identity(tmp_path / "m.onnx", "INT64", [2, 2], batching=False)
    settings = make_settings(path, max_batch_size=0)
    inputs = warmup_inputs(_sample(batch_size=5, INPUT0=("INT64", (2, 2), "random", "")), settings)
    assert inputs["INPUT0"].shape == (2, 2) and inputs["INPUT0"].dtype == np.int64


def test_bytes_inputs(make_settings, tmp_path) -> None:
    path = modelgen.identity(tmp_path / "m.onnx", "BYTES", [2])
    raw = b"".join(struct.pack("<I", len(v)) + v for v in [b"a", b"", b"xyz", b"q"])
    (tmp_path / "strings.bin").write_bytes(raw)
    settings = make_settings(path)
    zero = warmup_inputs(_sample(INPUT0=("BYTES", (2,), "zero", "")), settings)["INPUT0"]
    assert zero.tolist() == [[b"", b""], [b"", b""]]
    sample = _sample(INPUT0=("BYTES", (2,), "file", str(tmp_path / "strings.bin")))
    assert warmup_inputs(sample, settings)["INPUT0"].tolist() == [[b"a", b""], [b"xyz", b"q"]]
    random = warmup_inputs(_sample(INPUT0=("BYTES", (2,), "random", "")), settings)["INPUT0"]
    assert all(isinstance(v, bytes) and v for v in random.flat)


def test_bad_samples_name_themselves(make_settings, add_sub) -> None:
    settings = make_settings(add_sub)
    cases = {
        "the model has no such input": _sample(NOPE=("FP32", (3,), "zero", "")),
        "must all be fixed": _sample(INPUT0=("FP32", (-1,), "zero", "")),
        "cannot read input_data_file": _sample(INPUT0=("FP32", (3,), "file", "missing.bin")),
    }
    for message, sample in cases.items():
        with pytest.raises(
            ModelLoadError, match=f"model 'm' warm-up sample 's' input '.*': .*{message}"
        ):
            warmup_inputs(sample, settings)
    (add_sub.parent.parent / "warmup").mkdir()
    (add_sub.parent.parent / "warmup" / "short.bin").write_bytes(b"\0" * 5)
    with pytest.raises(ModelLoadError, match="has 5 bytes, shape \\[2, 3\\] of FP32 needs 24"):
        warmup_inputs(_sample(INPUT0=("FP32", (3,), "file", "short.bin")), settings)


class _Recorder:
    description = "recorder"

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, tuple[int, ...]], list[str]]] = []

    def run(self, inputs: dict[str, np.ndarray], output_names: list[str]) -> list[np.ndarray]:
        self.calls.append(({k: v.shape for k, v in inputs.items()}, output_names))
        return []

    def close(self) -> None:
        pass


def test_run_warmup_runs_every_sample_count_times(make_settings, add_sub) -> None:
    both = {"INPUT0": ("FP32", (3,), "zero", ""), "INPUT1": ("FP32", (3,), "random", "")}
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
    good = _sample("good", INPUT0=("FP32", (3,), "random", ""), INPUT1=("FP32", (3,), "zero", ""))
    missing_input = _sample("half", INPUT0=("FP32", (3,), "zero", ""))
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
