"""Auto-completion of absent or partial configs from the ONNX signature."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import modelgen
import pytest

from naiad.config.complete import DEFAULT_CPU_INSTANCES, DEFAULT_MAX_BATCH_SIZE, complete_config
from naiad.config.parse import parse_config_text
from naiad.config.signature import read_signature
from naiad.errors import ModelLoadError
from naiad_protocol.model_config_pb2 import DataType, ModelConfig, ModelInstanceGroup

Complete = Callable[..., ModelConfig]


def fp32_identity(path: Path) -> Path:
    return modelgen.identity(path, "FP32", [3, -1])


def test_absent_config_is_completed_for_a_batching_model(complete: Complete) -> None:
    config = complete(fp32_identity)
    assert config.name == "m"
    assert config.platform == "onnxruntime_onnx" and config.backend == "onnxruntime"
    assert config.max_batch_size == DEFAULT_MAX_BATCH_SIZE == 4
    assert config.HasField("dynamic_batching")
    assert [(t.name, t.data_type, list(t.dims)) for t in config.input] == [
        ("INPUT0", DataType.TYPE_FP32, [3, -1])
    ]
    assert [(t.name, list(t.dims)) for t in config.output] == [("OUTPUT0", [3, -1])]
    (group,) = config.instance_group
    assert (group.name, group.count, group.kind, list(group.gpus)) == (
        "m",
        DEFAULT_CPU_INSTANCES,
        ModelInstanceGroup.KIND_CPU,
        [],
    )
    assert config.version_policy.latest.num_versions == 1


def test_gpu_available_gives_a_gpu_group(complete: Complete) -> None:
    (group,) = complete(fp32_identity, gpu_available=True).instance_group
    assert group.kind == ModelInstanceGroup.KIND_GPU and list(group.gpus) == [0]
    assert group.count == 1


def test_fixed_first_dim_does_not_batch(complete: Complete) -> None:
    config = complete(lambda p: modelgen.add_sub(p, "INT64", [2, 3], batching=False))
    assert config.max_batch_size == 0
    assert not config.HasField("dynamic_batching")
    assert [list(t.dims) for t in config.input] == [[2, 3], [2, 3]]
    assert [t.name for t in config.output] == ["OUTPUT0", "OUTPUT1"]


def test_explicit_max_batch_size_gets_no_dynamic_batching(complete: Complete) -> None:
    config = complete(fp32_identity, "max_batch_size: 16")
    assert config.max_batch_size == 16
    assert not config.HasField("dynamic_batching")
    assert list(config.input[0].dims) == [3, -1]


def test_full_rank_dims_say_the_model_does_not_batch(complete: Complete) -> None:
    text = 'input [{ name: "INPUT0" data_type: TYPE_FP32 dims: [ -1, 3, -1 ] }]'
    config = complete(fp32_identity, text)
    assert config.max_batch_size == 0
    assert list(config.output[0].dims) == [-1, 3, -1]


def test_existing_scheduling_is_kept(complete: Complete) -> None:
    config = complete(fp32_identity, "dynamic_batching { max_queue_delay_microseconds: 100 }")
    assert config.max_batch_size == 4
    assert config.dynamic_batching.max_queue_delay_microseconds == 100


def test_listed_tensors_get_missing_type_and_dims(complete: Complete) -> None:
    config = complete(fp32_identity, 'input [{ name: "INPUT0" }]')
    assert config.input[0].data_type == DataType.TYPE_FP32
    assert list(config.input[0].dims) == [3, -1]
    assert [t.name for t in config.output] == ["OUTPUT0"]  # outputs completed on their own


def test_given_type_and_dims_are_not_overwritten(complete: Complete) -> None:
    text = 'input [{ name: "INPUT0" data_type: TYPE_INT8 dims: [ 7 ] }]'
    config = complete(fp32_identity, text)
    assert config.input[0].data_type == DataType.TYPE_INT8 and list(config.input[0].dims) == [7]


def test_rank_one_batching_tensor_becomes_dims_1_reshape_empty(complete: Complete) -> None:
    config = complete(lambda p: modelgen.identity(p, "FP32", []))
    assert config.max_batch_size == 4
    assert list(config.input[0].dims) == [1]
    assert config.input[0].HasField("reshape") and list(config.input[0].reshape.shape) == []


def test_name_is_checked(complete: Complete) -> None:
    assert complete(fp32_identity, 'name: "m"').name == "m"
    with pytest.raises(ModelLoadError, match="model 'm': the config names the model 'other'"):
        complete(fp32_identity, 'name: "other"')


def test_platform_and_backend_fill_each_other(complete: Complete) -> None:
    assert complete(fp32_identity, 'platform: "onnxruntime_onnx"').backend == "onnxruntime"
    assert complete(fp32_identity, 'backend: "onnxruntime"').platform == "onnxruntime_onnx"


def test_instance_groups_are_normalised(complete: Complete) -> None:
    text = (
        "instance_group [{ kind: KIND_AUTO }, { count: 3 kind: KIND_GPU },"
        " { count: 1 kind: KIND_CPU }, { kind: KIND_GPU }]"
    )
    cpu = complete(fp32_identity, text).instance_group
    assert [(g.name, g.count, g.kind) for g in cpu] == [
        ("m_0", DEFAULT_CPU_INSTANCES, ModelInstanceGroup.KIND_CPU),
        ("m_1", 3, ModelInstanceGroup.KIND_GPU),
        ("m_2", 1, ModelInstanceGroup.KIND_CPU),
        ("m_3", 1, ModelInstanceGroup.KIND_GPU),
    ]
    assert list(cpu[1].gpus) == [0]
    gpu = complete(fp32_identity, text, gpu_available=True).instance_group
    assert (gpu[0].kind, gpu[0].count) == (ModelInstanceGroup.KIND_GPU, 1)


@pytest.mark.parametrize("wire", modelgen.ALL_DATATYPES)
def test_every_datatype_completes_to_its_config_name(complete: Complete, wire: str) -> None:
    config = complete(lambda p: modelgen.identity(p, wire, [2]))
    expected = "TYPE_STRING" if wire == "BYTES" else f"TYPE_{wire}"
    assert DataType.Name(config.input[0].data_type) == expected
    assert DataType.Name(config.output[0].data_type) == expected


def test_the_input_config_is_not_modified(tmp_path: Path) -> None:
    raw = parse_config_text("max_batch_size: 0", model="m")
    path = fp32_identity(tmp_path / "x.onnx")
    complete_config(raw, read_signature(path, model="m"), name="m")
    assert raw.name == "" and not raw.input
