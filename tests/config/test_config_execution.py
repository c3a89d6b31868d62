"""config `parameters` and `optimization` parsed once into typed ExecutionOptions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import modelgen
import pytest

from naiad.config.settings import ExecutionOptions, GraphOptimizationLevel, ModelSettings
from naiad.errors import ModelLoadError

Build = Callable[..., ModelSettings]


def batching(path: Path) -> Path:
    return modelgen.identity(path, "FP32", [4])


def parameter(key: str, value: str) -> str:
    return f'parameters {{ key: "{key}" value {{ string_value: "{value}" }} }}'


def accelerators(gpu: str = "", cpu: str = "") -> str:
    return (
        "optimization { execution_accelerators { "
        f"gpu_execution_accelerator [{gpu}] cpu_execution_accelerator [{cpu}] }} }}"
    )


def execution(build: Build, text: str) -> ExecutionOptions:
    return build(batching, text).execution


def test_execution_parameters(build: Build) -> None:
    options = execution(
        build,
        f"""
        {parameter("intra_op_thread_count", "3")}
        {parameter("inter_op_thread_count", " 2 ")}
        {parameter("execution_mode", "parallel")}
        {parameter("fallback_to_cpu", "False")}
        {parameter("thread_spinning", "TRUE")}
        {parameter("custom", "x")}
        optimization {{
          graph {{ level: -1 }}
          execution_accelerators {{
            gpu_execution_accelerator [
              {{ name: "tensorrt" parameters {{ key: "precision_mode" value: "FP16" }} }}
            ]
            cpu_execution_accelerator [{{ name: "OpenVINO" parameters {{
              key: "device_type" value: "CPU" }} }}]
          }}
        }}
        """,
    )
    assert (options.intra_op_threads, options.inter_op_threads) == (3, 2)
    assert options.parallel_execution is True and options.fallback_to_cpu is False
    assert options.thread_spinning is True
    assert options.graph_optimization_level is GraphOptimizationLevel.BASIC
    assert options.tensorrt_options == {"trt_fp16_enable": "True"}
    assert options.openvino_options == {"device_type": "CPU"}
    assert options.cuda_options == {}


def test_no_accelerators_requested(build: Build) -> None:
    options = execution(build, "")
    assert options.tensorrt_options is None and options.openvino_options is None
    assert options == ExecutionOptions()


@pytest.mark.parametrize(("value", "parallel"), [("0", False), ("1", True), ("sequential", False)])
def test_execution_mode_values(build: Build, value: str, parallel: bool) -> None:
    assert execution(build, parameter("execution_mode", value)).parallel_execution is parallel


@pytest.mark.parametrize(("value", "fallback"), [("true", True), ("0", False), (" NO ", False)])
def test_fallback_values(build: Build, value: str, fallback: bool) -> None:
    assert execution(build, parameter("fallback_to_cpu", value)).fallback_to_cpu is fallback


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        (-1, GraphOptimizationLevel.BASIC),
        (0, GraphOptimizationLevel.ALL),
        (1, GraphOptimizationLevel.EXTENDED),
        (2, GraphOptimizationLevel.ALL),
    ],
)
def test_graph_levels(build: Build, level: int, expected: GraphOptimizationLevel) -> None:
    text = f"optimization {{ graph {{ level: {level} }} }}"
    assert execution(build, text).graph_optimization_level is expected


def test_tensorrt_parameters_become_ort_options(build: Build, tmp_path: Path) -> None:
    trt = (
        '{ name: "tensorrt" parameters [ { key: "precision_mode" value: "int8" }, '
        '{ key: "max_workspace_size_bytes" value: "1073741824" }, '
        '{ key: "minimum_segment_size" value: "3" }, '
        '{ key: "trt_engine_cache_enable" value: "True" }, '
        '{ key: "trt_engine_cache_path" value: "trt_cache" } ] }'
    )
    assert execution(build, accelerators(gpu=trt)).tensorrt_options == {
        "trt_int8_enable": "True",
        "trt_fp16_enable": "True",
        "trt_max_workspace_size": "1073741824",
        "trt_min_subgraph_size": "3",
        "trt_engine_cache_enable": "True",
        # ONNX Runtime would read a relative path from the working directory.
        "trt_engine_cache_path": str(tmp_path / "m" / "trt_cache"),
    }


def test_last_accelerator_of_a_name_wins(build: Build) -> None:
    gpu = (
        '{ name: "tensorrt" parameters { key: "precision_mode" value: "FP16" } }, '
        '{ name: "TensorRT" parameters { key: "precision_mode" value: "FP32" } }'
    )
    assert execution(build, accelerators(gpu=gpu)).tensorrt_options == {}


def test_cuda_options_from_parameters_and_a_cuda_accelerator(build: Build) -> None:
    text = "\n".join(
        [
            parameter("gpu_mem_limit", "1000000"),
            parameter("cudnn_conv_algo_search", "1"),
            parameter("not_for_cuda", "x"),
            accelerators(gpu='{ name: "cuda" parameters { key: "use_tf32" value: "0" } }'),
        ]
    )
    options = execution(build, text)
    assert options.cuda_options == {
        "gpu_mem_limit": "1000000",
        "cudnn_conv_algo_search": "HEURISTIC",
        "use_tf32": "0",
    }
    assert options.tensorrt_options is None


BAD = {
    "intra threads": (
        parameter("intra_op_thread_count", "many"),
        "parameter intra_op_thread_count must be an integer >= 0, not 'many'",
    ),
    "inter threads": (
        parameter("inter_op_thread_count", "-2"),
        "parameter inter_op_thread_count must be an integer >= 0, not '-2'",
    ),
    "execution mode": (
        parameter("execution_mode", "fast"),
        "parameter execution_mode must be 'sequential' (0) or 'parallel' (1)",
    ),
    "spinning": (
        parameter("thread_spinning", "sometimes"),
        "parameter thread_spinning must be 'true' or 'false', not 'sometimes'",
    ),
    "fallback": (
        parameter("fallback_to_cpu", "maybe"),
        "parameter fallback_to_cpu must be 'true' or 'false', not 'maybe'",
    ),
    "unknown gpu accelerator": (
        accelerators(gpu='{ name: "openvino" }'),
        "unknown execution accelerator 'openvino' (naiad knows: tensorrt, cuda)",
    ),
    "unknown cpu accelerator": (
        accelerators(cpu='{ name: "tensorrt" }'),
        "unknown execution accelerator 'tensorrt' (naiad knows: openvino)",
    ),
    "tensorrt precision": (
        accelerators(gpu='{ name: "tensorrt" parameters { key: "precision_mode" value: "FP8" } }'),
        "TensorRT precision_mode 'FP8' is not one of FP32, FP16, INT8",
    ),
    "tensorrt parameter": (
        accelerators(gpu='{ name: "tensorrt" parameters { key: "speed" value: "max" } }'),
        "unknown TensorRT accelerator parameter 'speed' (known: precision_mode, ",
    ),
}


@pytest.mark.parametrize(("text", "message"), list(BAD.values()), ids=list(BAD))
def test_bad_execution_settings_fail_the_load(build: Build, text: str, message: str) -> None:
    """Checked when the settings are built, on any machine, whatever the instance kinds."""
    with pytest.raises(ModelLoadError) as info:
        build(batching, text)
    assert info.value.message.startswith("model 'm': " + message)
