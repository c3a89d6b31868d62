"""build_settings: the one pass from a completed ModelConfig to typed ModelSettings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import modelgen
import pytest

from naiad.config.convert import build_settings
from naiad.config.parse import parse_config_text
from naiad.config.prepare import prepare_version
from naiad.config.settings import (
    BatchingPolicy,
    GraphOptimizationLevel,
    InstanceGroup,
    InstanceKind,
    ModelSettings,
    QueuePolicy,
    TimeoutAction,
    WarmupInput,
    WarmupSource,
)
from naiad.config.signature import read_signature
from naiad.datatypes import BY_WIRE
from naiad.errors import ErrorCode, ModelLoadError

Build = Callable[..., ModelSettings]


def batching(path: Path) -> Path:
    return modelgen.identity(path, "FP32", [4])


def test_defaults(build: Build, tmp_path: Path) -> None:
    settings = build(batching)
    assert (settings.name, settings.version, settings.max_batch_size) == ("m", 1, 4)
    assert settings.model_path == str(tmp_path / "m" / "1" / "model.onnx")
    (spec,) = settings.inputs
    assert (spec.name, spec.datatype, spec.dims, spec.reshape, spec.optional) == (
        "INPUT0",
        BY_WIRE["FP32"],
        (4,),
        None,
        False,
    )
    assert settings.output("OUTPUT0") is not None and settings.batches
    assert settings.batching == BatchingPolicy(enabled=True)
    assert settings.batching.default_queue_policy.allow_timeout_override
    assert settings.instance_groups == (InstanceGroup("m", 2, InstanceKind.CPU, ()),)
    assert settings.execution.intra_op_threads == 0 and settings.execution.fallback_to_cpu
    assert settings.execution.graph_optimization_level is GraphOptimizationLevel.ALL
    assert settings.warmup == ()


def test_no_dynamic_batching_is_disabled(build: Build) -> None:
    assert build(batching, "max_batch_size: 8").batching == BatchingPolicy(enabled=False)


def test_dynamic_batching_and_queue_policies(build: Build) -> None:
    settings = build(
        batching,
        """
        max_batch_size: 8
        dynamic_batching {
          preferred_batch_size: [ 4, 8 ] max_queue_delay_microseconds: 250 preserve_ordering: true
          priority_levels: 3 default_priority_level: 2
          default_queue_policy { max_queue_size: 16 default_timeout_microseconds: 1000 }
          priority_queue_policy {
            key: 1 value { timeout_action: DELAY allow_timeout_override: true }
          }
        }
        """,
    )
    policy = settings.batching
    assert policy.enabled and policy.max_queue_delay_us == 250 and policy.preserve_ordering
    assert policy.preferred_batch_sizes == (4, 8)
    assert (policy.priority_levels, policy.default_priority_level) == (3, 2)
    # An explicit default_queue_policy is taken as written: allow_timeout_override is false.
    assert policy.default_queue_policy == QueuePolicy(
        TimeoutAction.REJECT, 1000, allow_timeout_override=False, max_queue_size=16
    )
    assert policy.queue_policy(1) == QueuePolicy(TimeoutAction.DELAY, 0, True, 0)
    assert policy.queue_policy(3) is policy.default_queue_policy


def test_warmup_inputs_are_typed(build: Build, tmp_path: Path) -> None:
    settings = build(
        batching,
        """
        model_warmup [
          { name: "zeros" batch_size: 2 count: 3
            inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 4 ] zero_data: true } } },
          { name: "random" batch_size: 1
            inputs { key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 4 ] random_data: true } } },
          { name: "file" batch_size: 1
            inputs {
              key: "INPUT0" value { data_type: TYPE_FP32 dims: [ 4 ] input_data_file: "in0" }
            } }
        ]
        """,
    )
    zeros, random, from_file = settings.warmup
    fp32 = BY_WIRE["FP32"]
    assert (zeros.name, zeros.batch_size, zeros.count) == ("zeros", 2, 3)
    assert zeros.inputs == {"INPUT0": WarmupInput(fp32, (4,), WarmupSource.ZERO)}
    assert random.count == 1 and random.inputs["INPUT0"].source is WarmupSource.RANDOM
    assert random.inputs["INPUT0"].path is None
    # Triton's layout: the file is looked up in <model dir>/warmup/, once, here.
    assert from_file.inputs["INPUT0"] == WarmupInput(
        fp32, (4,), WarmupSource.FILE, tmp_path / "m" / "warmup" / "in0"
    )


def test_bytes_warmup_input_and_reshape(build: Build) -> None:
    settings = build(
        lambda p: modelgen.identity(p, "BYTES", [2, 3], batching=False),
        """
        input [{ name: "INPUT0" dims: [ 6 ] reshape { shape: [ 2, 3 ] } }]
        model_warmup [{ name: "w" batch_size: 1 inputs {
          key: "INPUT0" value { data_type: TYPE_STRING dims: [ 6 ] input_data_file: "s" } } }]
        """,
    )
    assert settings.max_batch_size == 0 and not settings.batches
    spec = settings.inputs[0]
    assert spec.datatype is BY_WIRE["BYTES"] and spec.dims == (6,) and spec.reshape == (2, 3)
    assert settings.outputs[0].dims == (2, 3)
    (warm,) = settings.warmup[0].inputs.values()
    assert warm.datatype is BY_WIRE["BYTES"] and warm.source is WarmupSource.FILE


def test_version_and_model_dir_come_from_the_path(tmp_path: Path) -> None:
    path = batching(tmp_path / "m" / "7" / "sub" / "model.onnx")
    raw = parse_config_text(
        'model_warmup [{ name: "w" batch_size: 1 inputs { key: "INPUT0" '
        'value { data_type: TYPE_FP32 dims: [ 4 ] input_data_file: "f" } } }]',
        model="m",
    )
    settings = prepare_version(raw, path, name="m", version=7).settings
    assert settings.version == 7 and settings.model_path == str(path)
    assert settings.warmup[0].inputs["INPUT0"].path == tmp_path / "m" / "warmup" / "f"


def test_gpu_group(tmp_path: Path) -> None:
    path = batching(tmp_path / "m" / "2" / "model.onnx")
    raw = parse_config_text("instance_group [{ count: 2 kind: KIND_GPU gpus: [ 1 ] }]", model="m")
    prepared = prepare_version(raw, path, name="m", version=2)
    assert prepared.settings.instance_groups == (InstanceGroup("m_0", 2, InstanceKind.GPU, (1,)),)
    assert prepared.config.instance_group[0].name == "m_0"


def test_one_error_lists_every_problem(build: Build) -> None:
    text = """
        input [{ name: "INPUT0" data_type: TYPE_INT32 }]
        instance_group [{ count: 1 kind: KIND_CPU gpus: [ 0 ] }]
        parameters { key: "execution_mode" value { string_value: "fast" } }
        optimization { execution_accelerators { cpu_execution_accelerator [{ name: "gpu" }] } }
        model_warmup [{ name: "w" batch_size: 9
          inputs { key: "INPUT0" value { data_type: TYPE_INT32 dims: [ 4 ] zero_data: true } } }]
    """
    with pytest.raises(ModelLoadError) as info:
        build(batching, text)
    message = info.value.message
    assert info.value.code is ErrorCode.INVALID_ARGUMENT
    assert message.startswith("model 'm': 5 problems: (1) input 'INPUT0' has data_type TYPE_INT32")
    for part in (
        "(2) instance_group 'm_0': lists gpus but its kind is KIND_CPU",
        "(3) parameter execution_mode must be 'sequential' (0) or 'parallel' (1)",
        "(4) unknown execution accelerator 'gpu' (naiad knows: openvino)",
        "(5) model_warmup 'w': batch_size 9 must be between 1 and 4",
    ):
        assert part in message


def test_one_problem_reads_as_before(build: Build) -> None:
    with pytest.raises(ModelLoadError) as info:
        build(batching, "max_batch_size: -1")
    assert info.value.message == "model 'm': max_batch_size must be >= 0, not -1"


def test_build_settings_takes_the_completed_config(tmp_path: Path) -> None:
    path = batching(tmp_path / "m" / "1" / "model.onnx")
    raw = parse_config_text('input [{ name: "INPUT0" data_type: TYPE_FP32 }]', model="m")
    # Not completed: INPUT0 has no dims, which only completion fills in.
    with pytest.raises(ModelLoadError, match="input 'INPUT0' has no dims"):
        build_settings(raw, read_signature(path, model="m"), version=1, model_path=str(path))


def test_prepare_version_reports_the_problem(tmp_path: Path) -> None:
    path = batching(tmp_path / "m" / "1" / "model.onnx")
    raw = parse_config_text('input [{ name: "INPUT0" data_type: TYPE_INT32 }]', model="m")
    with pytest.raises(ModelLoadError, match="has data_type TYPE_INT32"):
        prepare_version(raw, path, name="m", version=1)
    with pytest.raises(ModelLoadError, match="not found"):
        prepare_version(None, tmp_path / "m" / "9" / "model.onnx", name="m", version=9)
