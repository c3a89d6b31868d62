"""config `parameters` and `optimization` -> ExecutionOptions, checked and converted once.

Triton's onnxruntime backend reads these parameter keys and accelerator names; naiad keeps
them, and converts Triton's option names to ONNX Runtime's here so that the runtime only adds
each instance's device id. Which provider options pass, and where their paths may lead, is
provider_options.py's business.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from typing import TypeAlias

from naiad.config.paths import ModelFiles
from naiad.config.problems import Problems
from naiad.config.provider_options import CUDA, OPENVINO, TENSORRT, checked_options
from naiad.config.settings import ExecutionOptions, GraphOptimizationLevel
from naiad_protocol.model_config_pb2 import ModelConfig, ModelOptimizationPolicy

Accelerator: TypeAlias = ModelOptimizationPolicy.ExecutionAccelerators.Accelerator

INTRA_OP_THREADS = "intra_op_thread_count"
INTER_OP_THREADS = "inter_op_thread_count"
EXECUTION_MODE = "execution_mode"
THREAD_SPINNING = "thread_spinning"
FALLBACK_TO_CPU = "fallback_to_cpu"
ORT_EXTENSIONS = "onnxruntime_extensions"

_EXECUTION_MODES = {"0": False, "sequential": False, "1": True, "parallel": True}
_BOOLS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

GPU_ACCELERATORS = ("tensorrt", "cuda")
CPU_ACCELERATORS = ("openvino",)

# Triton's names for TensorRT accelerator parameters -> ONNX Runtime's TensorRT options.
_TRT_RENAMES = {
    "max_workspace_size_bytes": "trt_max_workspace_size",
    "minimum_segment_size": "trt_min_subgraph_size",
    "max_partition_iterations": "trt_max_partition_iterations",
    "int8_calibration_table_name": "trt_int8_calibration_table_name",
    "int8_use_native_calibration_table": "trt_int8_use_native_calibration_table",
}
_TRT_PRECISIONS: dict[str, dict[str, str]] = {
    "FP32": {},
    "FP16": {"trt_fp16_enable": "True"},
    "INT8": {"trt_int8_enable": "True", "trt_fp16_enable": "True"},
}

# Model config `parameters` Triton's onnxruntime backend hands to the CUDA provider.
CUDA_PARAMETERS = (
    "gpu_mem_limit",
    "arena_extend_strategy",
    "cudnn_conv_algo_search",
    "do_copy_in_default_stream",
    "cudnn_conv_use_max_workspace",
    "enable_cuda_graph",
    "tunable_op_enable",
    "use_tf32",
)
# Triton writes cudnn_conv_algo_search as a number; ONNX Runtime wants the name.
_CONV_ALGO_SEARCH = {"0": "EXHAUSTIVE", "1": "HEURISTIC", "2": "DEFAULT"}


def execution_options(
    config: ModelConfig, files: ModelFiles, problems: Problems
) -> ExecutionOptions:
    """The config's execution options, paths inside `files`; what does not fit goes to
    `problems`."""
    parameters = {key: value.string_value for key, value in config.parameters.items()}
    mode = parameters.get(EXECUTION_MODE, "0").strip().lower()
    if mode not in _EXECUTION_MODES:
        problems.add(f"parameter {EXECUTION_MODE} must be 'sequential' (0) or 'parallel' (1)")
    fallback = parameters.get(FALLBACK_TO_CPU, "true").strip().lower()
    if fallback not in _BOOLS:
        problems.add(f"parameter {FALLBACK_TO_CPU} must be 'true' or 'false', not '{fallback}'")
    extensions = parameters.get(ORT_EXTENSIONS, "false").strip().lower()
    if extensions not in _BOOLS:
        problems.add(f"parameter {ORT_EXTENSIONS} must be 'true' or 'false', not '{extensions}'")
    elif _BOOLS[extensions] and not extensions_installed():
        problems.add(
            f"parameter {ORT_EXTENSIONS} asks for onnxruntime-extensions, which is not "
            "installed: pip install 'naiad[extensions]'"
        )
    spinning = parameters.get(THREAD_SPINNING, "").strip().lower()
    if spinning and spinning not in _BOOLS:
        problems.add(f"parameter {THREAD_SPINNING} must be 'true' or 'false', not '{spinning}'")
    optimization = config.optimization
    accelerators = optimization.execution_accelerators
    gpu = _named(accelerators.gpu_execution_accelerator, GPU_ACCELERATORS, problems)
    cpu = _named(accelerators.cpu_execution_accelerator, CPU_ACCELERATORS, problems)
    tensorrt = gpu.get("tensorrt")
    openvino = cpu.get("openvino")
    return ExecutionOptions(
        intra_op_threads=_count(parameters, INTRA_OP_THREADS, problems),
        inter_op_threads=_count(parameters, INTER_OP_THREADS, problems),
        parallel_execution=_EXECUTION_MODES.get(mode, False),
        thread_spinning=_BOOLS.get(spinning),
        graph_optimization_level=_graph_level(optimization),
        tensorrt_options=(
            None
            if tensorrt is None
            else checked_options(
                TENSORRT, _tensorrt_options(tensorrt.parameters, problems), files, problems
            )
        ),
        openvino_options=(
            None
            if openvino is None
            else checked_options(OPENVINO, openvino.parameters, files, problems)
        ),
        cuda_options=checked_options(
            CUDA, _cuda_options(parameters, gpu.get("cuda")), files, problems
        ),
        fallback_to_cpu=_BOOLS.get(fallback, True),
        onnxruntime_extensions=_BOOLS.get(extensions, False),
    )


def extensions_installed() -> bool:
    """Whether the onnxruntime-extensions package can be imported (found, not imported)."""
    return importlib.util.find_spec("onnxruntime_extensions") is not None


def _count(parameters: Mapping[str, str], key: str, problems: Problems) -> int:
    text = parameters.get(key, "0").strip()
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        problems.add(f"parameter {key} must be an integer >= 0, not '{text}'")
        return 0
    return value


def _graph_level(optimization: ModelOptimizationPolicy) -> GraphOptimizationLevel:
    level = optimization.graph.level if optimization.HasField("graph") else 0
    if level in (GraphOptimizationLevel.BASIC, GraphOptimizationLevel.EXTENDED):
        return GraphOptimizationLevel(level)
    return GraphOptimizationLevel.ALL


def _named(
    accelerators: Sequence[Accelerator], known: Sequence[str], problems: Problems
) -> dict[str, Accelerator]:
    """The last accelerator of each known name (case-insensitive); an unknown name is a problem."""
    found: dict[str, Accelerator] = {}
    for acc in accelerators:
        name = acc.name.lower()
        if name in known:
            found[name] = acc
        else:
            problems.add(
                f"unknown execution accelerator '{acc.name}' (naiad knows: {', '.join(known)})"
            )
    return found


def _tensorrt_options(parameters: Mapping[str, str], problems: Problems) -> dict[str, str]:
    """Triton's TensorRT accelerator parameters as ONNX Runtime TensorRT provider options.

    precision_mode FP16/INT8 -> trt_fp16_enable/trt_int8_enable; max_workspace_size_bytes ->
    trt_max_workspace_size; other Triton names renamed; trt_* keys are kept as given (and
    checked by `checked_options`).
    """
    opts: dict[str, str] = {}
    for key, value in parameters.items():
        if key == "precision_mode":
            mode = value.upper()
            if mode in _TRT_PRECISIONS:
                opts.update(_TRT_PRECISIONS[mode])
            else:
                problems.add(
                    f"TensorRT precision_mode '{value}' is not one of {', '.join(_TRT_PRECISIONS)}"
                )
        elif key in _TRT_RENAMES:
            opts[_TRT_RENAMES[key]] = value
        elif key.startswith("trt_"):
            opts[key] = value
        else:
            known = ["precision_mode", *_TRT_RENAMES, "trt_*"]
            problems.add(
                f"unknown TensorRT accelerator parameter '{key}' (known: {', '.join(known)})"
            )
    return opts


def _cuda_options(parameters: Mapping[str, str], cuda: Accelerator | None) -> dict[str, str]:
    opts = {key: parameters[key] for key in CUDA_PARAMETERS if key in parameters}
    if cuda is not None:
        opts.update(cuda.parameters)
    if "cudnn_conv_algo_search" in opts:
        value = opts["cudnn_conv_algo_search"]
        opts["cudnn_conv_algo_search"] = _CONV_ALGO_SEARCH.get(value, value)
    return opts
