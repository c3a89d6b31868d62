"""ONNX Runtime execution provider lists (with options) built from a model's typed settings.

Pure functions of the settings and of what the process can use: nothing here imports
onnxruntime, so plans are testable on any machine.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

from naiad.config.settings import Accelerator, ExecutionOptions, ModelSettings
from naiad.errors import ModelLoadError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
OPENVINO = "OpenVINOExecutionProvider"

Provider = tuple[str, dict[str, str]]
"""A provider name and its options, as InferenceSession(providers=, provider_options=) takes."""

log = logging.getLogger("naiad.runtime")

# Triton's names for TensorRT accelerator parameters -> ONNX Runtime's TensorRT options.
_TRT_RENAMES = {
    "max_workspace_size_bytes": "trt_max_workspace_size",
    "minimum_segment_size": "trt_min_subgraph_size",
    "max_partition_iterations": "trt_max_partition_iterations",
    "int8_calibration_table_name": "trt_int8_calibration_table_name",
    "int8_use_native_calibration_table": "trt_int8_use_native_calibration_table",
}
_TRT_PRECISIONS = {"FP32": {}, "FP16": {"trt_fp16_enable": "True"}}
_TRT_PRECISIONS["INT8"] = {"trt_int8_enable": "True", "trt_fp16_enable": "True"}

# Model config `parameters` Triton's onnxruntime backend hands to the CUDA provider.
_CUDA_PARAMETERS = (
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


def named_accelerator(
    accelerators: Sequence[Accelerator], name: str, known: Sequence[str]
) -> Accelerator | None:
    """The last accelerator called `name` (case-insensitive) in `accelerators`, if any.

    Raises ModelLoadError for any name outside `known`, rather than ignoring it.
    """
    found = None
    for acc in accelerators:
        if acc.name.lower() not in known:
            raise ModelLoadError(
                f"unknown execution accelerator '{acc.name}' (naiad knows: {', '.join(known)})"
            )
        if acc.name.lower() == name:
            found = acc
    return found


def openvino_requested(options: ExecutionOptions) -> Accelerator | None:
    return named_accelerator(options.cpu_accelerators, "openvino", ("openvino",))


def tensorrt_requested(options: ExecutionOptions) -> Accelerator | None:
    return named_accelerator(options.gpu_accelerators, "tensorrt", ("tensorrt", "cuda"))


def cpu_providers(options: ExecutionOptions, use_openvino: bool) -> list[Provider]:
    """CPU provider, with OpenVINO in front when requested and usable."""
    providers: list[Provider] = []
    ov = openvino_requested(options)
    if ov is not None and use_openvino:
        providers.append((OPENVINO, dict(ov.parameters)))
    providers.append((CPU, {}))
    return providers


def gpu_providers(settings: ModelSettings, device_id: int, use_tensorrt: bool) -> list[Provider]:
    """CUDA on `device_id` (TensorRT in front when requested and usable), then CPU.

    CPU stays in the list because ONNX Runtime places nodes CUDA has no kernel for (shape ops,
    some integer ops) on CPU; that is graph partitioning, not a fallback.
    """
    options = settings.execution
    providers: list[Provider] = []
    trt = tensorrt_requested(options)
    if trt is not None and use_tensorrt:
        providers.append((TENSORRT, tensorrt_options(trt.parameters, device_id)))
    providers.append((CUDA, cuda_options(settings.parameters, options, device_id)))
    providers.append((CPU, {}))
    return providers


def tensorrt_options(parameters: Mapping[str, str], device_id: int) -> dict[str, str]:
    """Triton's TensorRT accelerator parameters as ONNX Runtime TensorRT provider options.

    precision_mode FP16/INT8 -> trt_fp16_enable/trt_int8_enable; max_workspace_size_bytes ->
    trt_max_workspace_size; other Triton names renamed; any trt_* key is passed through as given.
    """
    opts = {"device_id": str(device_id)}
    for key, value in parameters.items():
        if key == "precision_mode":
            mode = value.upper()
            if mode not in _TRT_PRECISIONS:
                raise ModelLoadError(
                    f"TensorRT precision_mode '{value}' is not one of {', '.join(_TRT_PRECISIONS)}"
                )
            opts.update(_TRT_PRECISIONS[mode])
        elif key in _TRT_RENAMES:
            opts[_TRT_RENAMES[key]] = value
        elif key.startswith("trt_"):
            opts[key] = value
        else:
            known = ["precision_mode", *_TRT_RENAMES, "trt_*"]
            raise ModelLoadError(
                f"unknown TensorRT accelerator parameter '{key}' (known: {', '.join(known)})"
            )
    return opts


def cuda_options(
    parameters: Mapping[str, str], options: ExecutionOptions, device_id: int
) -> dict[str, str]:
    """CUDA provider options: device id, known config parameters, a `cuda` accelerator's ones."""
    opts = {"device_id": str(device_id)}
    for key in _CUDA_PARAMETERS:
        if key in parameters:
            opts[key] = parameters[key]
    cuda = named_accelerator(options.gpu_accelerators, "cuda", ("tensorrt", "cuda"))
    if cuda is not None:
        opts.update(cuda.parameters)
    if "cudnn_conv_algo_search" in opts:
        value = opts["cudnn_conv_algo_search"]
        opts["cudnn_conv_algo_search"] = _CONV_ALGO_SEARCH.get(value, value)
    return opts


def unusable(settings: ModelSettings, subject: str, reason: str, outcome: str) -> None:
    """Applies the fallback policy to a provider that cannot be used: warn once, or fail.

    `subject` names what asked (e.g. "instance group 'm_0' (KIND_GPU)"), `reason` why it cannot
    run as asked, `outcome` what runs instead (e.g. "2 instance(s) on CPUExecutionProvider").
    """
    where = f"model '{settings.name}' version {settings.version}: {subject}"
    if not settings.execution.fallback_to_cpu:
        raise ModelLoadError(
            f"{where} cannot run as configured: {reason}; fallback is disabled "
            "(model parameter fallback_to_cpu is false)"
        )
    log.warning(
        "%s cannot run as configured: %s; running %s instead "
        "(model parameter fallback_to_cpu allows this; set it to false to fail the load)",
        where,
        reason,
        outcome,
    )
