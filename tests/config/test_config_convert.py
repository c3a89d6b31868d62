"""to_settings: the one conversion from a completed ModelConfig to ModelSettings."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import modelgen
import pytest

from naiad.config.convert import to_settings
from naiad.config.parse import parse_config_text
from naiad.config.prepare import prepare_version
from naiad.config.settings import (
    Accelerator,
    BatchingPolicy,
    InstanceGroup,
    InstanceKind,
    QueuePolicy,
    TimeoutAction,
)
from naiad.datatypes import BY_WIRE
from naiad.errors import ModelLoadError
from naiad_protocol.model_config_pb2 import ModelConfig

Check = Callable[..., ModelConfig]


def batching(path: Path) -> Path:
    return modelgen.identity(path, "FP32", [4])


def convert(check: Check, tmp_path: Path, text: str | None = None):  # type: ignore[no-untyped-def]
    config = check(batching, text)
    return to_settings(config, 1, str(tmp_path / "m" / "1" / "model.onnx"))


def test_defaults(check: Check, tmp_path: Path) -> None:
    settings = convert(check, tmp_path)
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
    assert settings.execution.graph_optimization_level is None
    assert settings.warmup == () and settings.parameters == {}


def test_no_dynamic_batching_is_disabled(check: Check, tmp_path: Path) -> None:
    assert convert(check, tmp_path, "max_batch_size: 8").batching == BatchingPolicy(enabled=False)


def test_dynamic_batching_and_queue_policies(check: Check, tmp_path: Path) -> None:
    settings = convert(
        check,
        tmp_path,
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


def test_execution_parameters(check: Check, tmp_path: Path) -> None:
    settings = convert(
        check,
        tmp_path,
        """
        parameters { key: "intra_op_thread_count" value { string_value: "3" } }
        parameters { key: "inter_op_thread_count" value { string_value: "2" } }
        parameters { key: "execution_mode" value { string_value: "parallel" } }
        parameters { key: "fallback_to_cpu" value { string_value: "False" } }
        parameters { key: "custom" value { string_value: "x" } }
        optimization {
          graph { level: -1 }
          execution_accelerators {
            gpu_execution_accelerator [
              { name: "tensorrt" parameters { key: "precision_mode" value: "FP16" } }
            ]
            cpu_execution_accelerator [{ name: "openvino" }]
          }
        }
        """,
    )
    execution = settings.execution
    assert (execution.intra_op_threads, execution.inter_op_threads) == (3, 2)
    assert execution.parallel_execution and not execution.fallback_to_cpu
    assert execution.graph_optimization_level == -1
    assert execution.gpu_accelerators == (Accelerator("tensorrt", {"precision_mode": "FP16"}),)
    assert execution.cpu_accelerators == (Accelerator("openvino", {}),)
    assert settings.parameters["custom"] == "x"


@pytest.mark.parametrize(("value", "parallel"), [("0", False), ("1", True), ("sequential", False)])
def test_execution_mode_values(check: Check, tmp_path: Path, value: str, parallel: bool) -> None:
    text = f'parameters {{ key: "execution_mode" value {{ string_value: "{value}" }} }}'
    assert convert(check, tmp_path, text).execution.parallel_execution is parallel


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("intra_op_thread_count", "many", "intra_op_thread_count must be an integer >= 0"),
        ("inter_op_thread_count", "-2", "inter_op_thread_count must be an integer >= 0"),
        ("execution_mode", "fast", r"execution_mode must be 'sequential' \(0\) or 'parallel'"),
        ("fallback_to_cpu", "maybe", "fallback_to_cpu must be 'true' or 'false'"),
    ],
)
def test_bad_execution_parameters(
    check: Check, tmp_path: Path, key: str, value: str, message: str
) -> None:
    text = f'parameters {{ key: "{key}" value {{ string_value: "{value}" }} }}'
    with pytest.raises(ModelLoadError, match=message):
        convert(check, tmp_path, text)


def test_warmup_samples(check: Check, tmp_path: Path) -> None:
    settings = convert(
        check,
        tmp_path,
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
    assert (zeros.name, zeros.batch_size, zeros.count) == ("zeros", 2, 3)
    assert zeros.inputs == {"INPUT0": ("FP32", (4,), "zero", "")}
    assert random.count == 1 and random.inputs["INPUT0"][2] == "random"
    assert from_file.inputs["INPUT0"] == (
        "FP32",
        (4,),
        "file",
        str(tmp_path / "m" / "warmup" / "in0"),
    )


def test_reshape_and_bytes(check: Check, tmp_path: Path) -> None:
    config = check(
        lambda p: modelgen.identity(p, "BYTES", [2, 3], batching=False),
        'input [{ name: "INPUT0" dims: [ 6 ] reshape { shape: [ 2, 3 ] } }]',
    )
    settings = to_settings(config, 7, str(tmp_path / "m" / "7" / "model.onnx"))
    assert settings.version == 7 and settings.max_batch_size == 0 and not settings.batches
    spec = settings.inputs[0]
    assert spec.datatype is BY_WIRE["BYTES"] and spec.dims == (6,) and spec.reshape == (2, 3)
    assert settings.outputs[0].dims == (2, 3)


def test_gpu_group(tmp_path: Path) -> None:
    path = batching(tmp_path / "m" / "2" / "model.onnx")
    raw = parse_config_text("instance_group [{ count: 2 kind: KIND_GPU gpus: [ 1 ] }]", model="m")
    prepared = prepare_version(raw, path, name="m", version=2)
    assert prepared.settings.instance_groups == (InstanceGroup("m_0", 2, InstanceKind.GPU, (1,)),)
    assert prepared.config.instance_group[0].name == "m_0"


def test_prepare_version_reports_the_first_problem(tmp_path: Path) -> None:
    path = batching(tmp_path / "m" / "1" / "model.onnx")
    raw = parse_config_text('input [{ name: "INPUT0" data_type: TYPE_INT32 }]', model="m")
    with pytest.raises(ModelLoadError, match="has data_type TYPE_INT32"):
        prepare_version(raw, path, name="m", version=1)
    with pytest.raises(ModelLoadError, match="not found"):
        prepare_version(None, tmp_path / "m" / "9" / "model.onnx", name="m", version=9)
