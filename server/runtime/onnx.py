"""ONNX Runtime sessions as naiad Models. The only module that imports onnxruntime.

onnxruntime is imported on first use, not at import time, so that importing naiad stays cheap.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.machinery
import importlib.util
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from naiad.config.settings import GraphOptimizationLevel, InstanceKind, ModelSettings
from naiad.errors import ErrorCode, InvalidArgument, ModelLoadError, NaiadError
from naiad.runtime import providers as prov
from naiad.runtime.capture import native_stderr
from naiad.runtime.devices import cuda_device_count
from naiad.runtime.instances import InstancePlan

log = logging.getLogger("naiad.runtime")

# ONNX Runtime's logging: 3 = errors only. Session-level; provider-creation errors go to the
# process-wide default logger, which is why the probes capture stderr instead.
_LOG_ERRORS_ONLY = 3


def ort() -> ModuleType:
    """The onnxruntime module (imported on first call)."""
    import onnxruntime

    return onnxruntime


def quantization_api() -> ModuleType:
    """onnxruntime.quantization, for runtime/quantization.py."""
    import onnxruntime.quantization

    return onnxruntime.quantization


def available_providers() -> list[str]:
    """Providers this onnxruntime build contains; not proof that they can run here."""
    return list(ort().get_available_providers())


@dataclass(frozen=True)
class GpuStatus:
    count: int
    """GPUs that ONNX Runtime's CUDA provider can use; 0 when none."""
    reason: str
    """Why none is usable; empty when count > 0."""


@functools.cache
def gpu_status() -> GpuStatus:
    """Whether the CUDA provider really works here (cached per process).

    The onnxruntime-gpu wheel lists CUDAExecutionProvider even where no GPU or CUDA library
    exists, so this asks the driver for devices, then creates a one-node session on CUDA and
    checks that the provider was registered. ONNX Runtime's error output is captured, and its
    gist becomes the reason.
    """
    if prov.CUDA not in available_providers():
        return GpuStatus(0, f"this onnxruntime build has no {prov.CUDA} (install onnxruntime-gpu)")
    count, reason = cuda_device_count()
    if count == 0:
        return GpuStatus(0, reason)
    problem = provider_problem(prov.CUDA)
    return GpuStatus(0, problem) if problem else GpuStatus(count, "")


@functools.cache
def provider_problem(provider: str) -> str:
    """Why `provider` cannot run here ("" when it can); probed once per process on device 0."""
    providers: list[Any] = [(provider, {"device_id": "0"}), prov.CPU]
    if provider == prov.TENSORRT:
        providers.insert(1, (prov.CUDA, {"device_id": "0"}))
    options = ort().SessionOptions()
    options.log_severity_level = _LOG_ERRORS_ONLY
    with native_stderr(keep="onnxruntime") as lines:
        try:
            session = ort().InferenceSession(_probe_model(), options, providers=providers)
            registered = session.get_providers()
        except Exception as exc:  # any failure to build the probe means "not usable"
            return f"{provider} failed to start: {exc}"
    if provider in registered:
        return ""
    return ort_error_gist(lines) or f"onnxruntime did not register {provider}"


def ort_error_gist(lines: list[str]) -> str:
    """The most telling message among ONNX Runtime log lines, without source locations."""
    errors = [ln for ln in lines if "[E:" in ln] or [ln for ln in lines if "[W:" in ln]
    if not errors:
        return ""
    message = errors[0].split("] ", 1)[-1]
    message = message.split(" FAIL : ", 1)[-1]
    return re.sub(r"/\S*/(lib[^/\s]+\.so)", r"\1", message).strip()


@functools.cache
def _probe_model() -> bytes:
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "probe", [x], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 9
    return bytes(model.SerializeToString())


class OnnxModel:
    """One InferenceSession built from an InstancePlan; implements runtime.model.Model.

    BYTES tensors travel as object arrays of bytes in naiad; ONNX Runtime's string tensors hold
    UTF-8 text, so string inputs are decoded and string outputs encoded at the boundary.
    """

    def __init__(self, settings: ModelSettings, plan: InstancePlan) -> None:
        self._session: Any = _create_session(settings, plan)
        self.plan = _verify(settings, plan, self._session)
        """The plan as it runs: updated if ONNX Runtime did not register a provider."""
        self._string_inputs = {
            i.name for i in self._session.get_inputs() if i.type == "tensor(string)"
        }
        self._string_outputs = {
            o.name for o in self._session.get_outputs() if o.type == "tensor(string)"
        }

    @property
    def description(self) -> str:
        where = f" on device {self.plan.device_id}" if self.plan.device_id is not None else ""
        threads = self.plan.intra_op_threads
        return (
            f"{self.plan.name}: {', '.join(self.plan.provider_names)}{where}, "
            f"{threads} intra-op thread{'s' if threads != 1 else ''}"
        )

    def run(self, inputs: dict[str, np.ndarray], output_names: list[str]) -> list[np.ndarray]:
        """Runs one batch (ONNX Runtime releases the GIL); outputs in `output_names` order."""
        if self._session is None:
            raise NaiadError(f"instance {self.plan.name} is closed", ErrorCode.UNAVAILABLE)
        if self._string_inputs:
            inputs = {k: _to_text(v) if k in self._string_inputs else v for k, v in inputs.items()}
        try:
            outputs: list[np.ndarray] = self._session.run(output_names, inputs)
        except Exception as exc:  # onnxruntime's exception classes live in its native module
            if type(exc).__name__ in ("InvalidArgument", "InvalidGraph"):
                raise InvalidArgument(f"onnxruntime: {exc}") from exc
            raise NaiadError(f"onnxruntime: {exc}") from exc
        if self._string_outputs:
            outputs = [
                _to_bytes(o) if n in self._string_outputs else o
                for n, o in zip(output_names, outputs, strict=True)
            ]
        return outputs

    def close(self) -> None:
        self._session = None


def load_instances(settings: ModelSettings, plans: list[InstancePlan]) -> list[OnnxModel]:
    """One OnnxModel per plan; on failure the ones already created are closed."""
    models: list[OnnxModel] = []
    try:
        for plan in plans:
            models.append(OnnxModel(settings, plan))
    except BaseException:
        for model in models:
            model.close()
        raise
    for model in models:
        log.info("model '%s' version %d: %s", settings.name, settings.version, model.description)
    return models


def run_on_cpu(model_path: str, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Runs a model file once on CPU with default options; all outputs by name (offline tools)."""
    options = ort().SessionOptions()
    options.log_severity_level = _LOG_ERRORS_ONLY
    session = ort().InferenceSession(model_path, options, providers=[prov.CPU])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(names, inputs), strict=True))


def _create_session(settings: ModelSettings, plan: InstancePlan) -> Any:
    rt = ort()
    options = rt.SessionOptions()
    options.log_severity_level = _LOG_ERRORS_ONLY
    options.intra_op_num_threads = plan.intra_op_threads
    options.inter_op_num_threads = plan.inter_op_threads
    spinning = "1" if plan.thread_spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", spinning)
    options.add_session_config_entry("session.inter_op.allow_spinning", spinning)
    parallel = settings.execution.parallel_execution
    options.execution_mode = (
        rt.ExecutionMode.ORT_PARALLEL if parallel else rt.ExecutionMode.ORT_SEQUENTIAL
    )
    levels = {
        GraphOptimizationLevel.BASIC: rt.GraphOptimizationLevel.ORT_ENABLE_BASIC,
        GraphOptimizationLevel.EXTENDED: rt.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
        GraphOptimizationLevel.ALL: rt.GraphOptimizationLevel.ORT_ENABLE_ALL,
    }
    options.graph_optimization_level = levels[settings.execution.graph_optimization_level]
    if settings.execution.onnxruntime_extensions:
        options.register_custom_ops_library(_extensions_library())
    try:
        return rt.InferenceSession(
            settings.model_path,
            options,
            providers=plan.provider_names,
            provider_options=[opts for _, opts in plan.providers],
        )
    except Exception as exc:
        raise ModelLoadError(
            f"model '{settings.name}' version {settings.version}: onnxruntime cannot load "
            f"'{settings.model_path}' for instance {plan.name}: {exc}"
        ) from exc


def _extensions_library() -> str:
    """The custom-operator library of the installed onnxruntime-extensions package (the config
    checked it is there), never a file the model repository names.

    Found without importing the package: importing it sets PROTOCOL_BUFFERS_PYTHON_IMPLEMENTATION
    to "python" in os.environ, which every process the server starts afterwards would inherit
    (pure-Python protobuf: slower, and it raises UnicodeDecodeError where upb raises DecodeError).
    """
    spec = importlib.util.find_spec("onnxruntime_extensions")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            library = Path(folder) / f"_extensions_pydll{suffix}"
            if library.is_file():
                return str(library)
    raise ModelLoadError("onnxruntime-extensions is installed without its operator library")


def _verify(settings: ModelSettings, plan: InstancePlan, session: Any) -> InstancePlan:
    """The plan, or what runs instead when ONNX Runtime left out a requested provider."""
    registered = session.get_providers()
    missing = [name for name in plan.provider_names if name not in registered]
    if not missing:
        return plan
    kind = InstanceKind.GPU if prov.CUDA in registered else InstanceKind.CPU
    reason = f"onnxruntime did not register {', '.join(missing)} (its log says why)"
    prov.unusable(
        settings, f"instance {plan.name}", reason, f"on {', '.join(registered)} ({kind.name})"
    )
    return dataclasses.replace(
        plan,
        kind=kind,
        device_id=plan.device_id if kind is InstanceKind.GPU else None,
        providers=tuple(p for p in plan.providers if p[0] in registered),
        note="; ".join(filter(None, [plan.note, reason])),
    )


def _to_text(array: np.ndarray) -> np.ndarray:
    if array.dtype.kind != "O":
        return array
    try:
        text = [v.decode("utf-8") if isinstance(v, bytes) else v for v in array.flat]
    except UnicodeDecodeError as exc:
        raise InvalidArgument(f"onnxruntime string tensors need UTF-8 text: {exc}") from exc
    return np.array(text, dtype=object).reshape(array.shape)


def _to_bytes(array: np.ndarray) -> np.ndarray:
    data = [v.encode("utf-8") if isinstance(v, str) else v for v in array.flat]
    return np.array(data, dtype=object).reshape(array.shape)
