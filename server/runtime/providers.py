"""ONNX Runtime execution provider lists (with options) built from a model's typed settings.

Pure functions of the settings and of what the process can use: nothing here imports
onnxruntime, so plans are testable on any machine. Provider options arrive converted and
checked (config/execution.py); this only adds each instance's device id.
"""

from __future__ import annotations

import logging

from naiad.config.settings import ExecutionOptions, ModelSettings
from naiad.errors import ModelLoadError

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
TENSORRT = "TensorrtExecutionProvider"
OPENVINO = "OpenVINOExecutionProvider"

Provider = tuple[str, dict[str, str]]
"""A provider name and its options, as InferenceSession(providers=, provider_options=) takes."""

log = logging.getLogger("naiad.runtime")


def cpu_providers(options: ExecutionOptions, use_openvino: bool) -> list[Provider]:
    """CPU provider, with OpenVINO in front when requested and usable."""
    providers: list[Provider] = []
    if options.openvino_options is not None and use_openvino:
        providers.append((OPENVINO, dict(options.openvino_options)))
    providers.append((CPU, {}))
    return providers


def gpu_providers(options: ExecutionOptions, device_id: int, use_tensorrt: bool) -> list[Provider]:
    """CUDA on `device_id` (TensorRT in front when requested and usable), then CPU.

    CPU stays in the list because ONNX Runtime places nodes CUDA has no kernel for (shape ops,
    some integer ops) on CPU; that is graph partitioning, not a fallback.
    """
    device = {"device_id": str(device_id)}
    providers: list[Provider] = []
    if options.tensorrt_options is not None and use_tensorrt:
        providers.append((TENSORRT, {**device, **options.tensorrt_options}))
    providers.append((CUDA, {**device, **options.cuda_options}))
    providers.append((CPU, {}))
    return providers


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
