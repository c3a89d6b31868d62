"""The model-level checks and the inputs and outputs, checked against the ONNX model's signature.

Part of the one pass in convert.py. Each check adds what it finds to a Problems and goes on;
within one tensor only the first problem is reported, since the later checks assume it fits.
"""

from __future__ import annotations

from collections.abc import Sequence

from naiad.config.complete import BACKEND, ENSEMBLE_PLATFORM, PLATFORM
from naiad.config.paths import relative_path_problem, shown
from naiad.config.problems import Problems, show, type_name
from naiad.config.sequence import hidden_tensors
from naiad.config.settings import TensorSpec
from naiad.config.signature import ModelSignature, TensorSignature
from naiad.datatypes import BY_CONFIG
from naiad_protocol.model_config_pb2 import (
    ModelConfig,
    ModelInput,
    ModelOutput,
)


def validate_identity(config: ModelConfig) -> None:
    """Raises ModelLoadError for what `check_identity` finds; for a model before its versions."""
    problems = Problems(config.name)
    check_identity(config, problems)
    problems.raise_if_any()


def check_identity(config: ModelConfig, problems: Problems) -> None:
    """Checks that need no model file: platform, backend, unsupported features, version policy."""
    ensemble = config.platform == ENSEMBLE_PLATFORM
    if config.platform and config.platform not in (PLATFORM, ENSEMBLE_PLATFORM):
        problems.add(
            f"unsupported platform '{config.platform}' (naiad serves '{PLATFORM}' and "
            f"'{ENSEMBLE_PLATFORM}')"
        )
    if config.backend and (ensemble or config.backend != BACKEND):
        problems.add(f"unsupported backend '{config.backend}' (naiad serves '{BACKEND}')")
    scheduling = config.WhichOneof("scheduling_choice")
    if scheduling == "ensemble_scheduling" and not ensemble:
        problems.add(f'ensemble_scheduling needs platform: "{ENSEMBLE_PLATFORM}"')
    if ensemble and scheduling != "ensemble_scheduling":
        problems.add(f'platform "{ENSEMBLE_PLATFORM}" needs ensemble_scheduling with its steps')
    if config.model_transaction_policy.decoupled:
        problems.add("decoupled models are not supported by the ONNX Runtime backend")
    policy = config.version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "latest" and policy.latest.num_versions < 1:
        problems.add("version_policy latest needs num_versions >= 1")
    if choice == "specific":
        if not policy.specific.versions:
            problems.add("version_policy specific lists no versions")
        elif any(v < 0 for v in policy.specific.versions):
            problems.add("version_policy specific lists a negative version")
    _check_file_names(config, problems)


def _check_file_names(config: ModelConfig, problems: Problems) -> None:
    """File names in the config stay, as written, inside the model's directories (paths.py).

    Only default_model_filename is read; the others are checked too so that no config value
    ever names a path outside, whatever later reads it.
    """
    version_dir = "the version directory"
    if config.default_model_filename:
        problems.add(
            relative_path_problem(
                config.default_model_filename, "default_model_filename", version_dir
            )
        )
    for capability, filename in sorted(config.cc_model_filenames.items()):
        problems.add(
            relative_path_problem(
                filename, f"cc_model_filenames['{shown(capability)}']", version_dir
            )
        )
    for tensor in config.output:
        if tensor.label_filename:
            what = f"output '{tensor.name}' label_filename"
            problems.add(relative_path_problem(tensor.label_filename, what, "the model directory"))
    if config.model_operations.op_library_filename:
        # A custom operator library is native code the server would run; naiad loads none.
        problems.add(
            "model_operations.op_library_filename is not supported: naiad loads no custom "
            "operator library"
        )


def tensor_specs(
    config: ModelConfig, signature: ModelSignature, problems: Problems
) -> tuple[tuple[TensorSpec, ...], tuple[TensorSpec, ...]]:
    """The config's inputs and outputs as TensorSpecs; the ones that do not fit go to `problems`."""
    problems.add(_names_problem("input", [t.name for t in config.input]))
    problems.add(_names_problem("output", [t.name for t in config.output]))
    inputs: list[TensorSpec] = []
    for tensor in config.input:
        sig = signature.any_input(tensor.name)
        problem: str | None
        if sig is None:
            known = ", ".join(t.name for t in signature.inputs)
            problem = f"input '{tensor.name}' is not an input of the ONNX model ({known})"
        else:
            problem = _input_problem(tensor, signature) or _tensor_problem(
                config, "input", tensor, sig
            )
        problems.add(problem)
        if problem is None:
            inputs.append(_spec(tensor))
    outputs: list[TensorSpec] = []
    for tensor in config.output:
        output = signature.output(tensor.name)
        if output is None:
            known = ", ".join(t.name for t in signature.outputs)
            problem = f"output '{tensor.name}' is not an output of the ONNX model ({known})"
        else:
            problem = _tensor_problem(config, "output", tensor, output)
        problems.add(problem)
        if problem is None:
            outputs.append(_spec(tensor))
    listed = {t.name for t in config.input} | hidden_tensors(config)[0]
    for sig in signature.inputs:
        if sig.name not in listed:
            problems.add(f"ONNX model input '{sig.name}' is missing from the model config")
    return tuple(inputs), tuple(outputs)


def _spec(tensor: ModelInput | ModelOutput) -> TensorSpec:
    return TensorSpec(
        name=tensor.name,
        datatype=BY_CONFIG[type_name(tensor.data_type)],
        dims=tuple(tensor.dims),
        reshape=tuple(tensor.reshape.shape) if tensor.HasField("reshape") else None,
        optional=isinstance(tensor, ModelInput) and tensor.optional,
    )


def _input_problem(tensor: ModelInput, signature: ModelSignature) -> str | None:
    """Whether the config marks `tensor` optional exactly when an initializer backs it."""
    if signature.input(tensor.name) is not None:
        if tensor.optional:
            return f"input '{tensor.name}' is marked optional but the ONNX model requires it"
    elif not tensor.optional:
        return (
            f"input '{tensor.name}' has a default value in the ONNX model (an initializer); "
            "mark it optional: true"
        )
    if tensor.is_shape_tensor:
        return f"input '{tensor.name}': shape tensors are not supported for ONNX models"
    return None


def _names_problem(kind: str, names: Sequence[str]) -> str | None:
    seen: set[str] = set()
    for name in names:
        if not name:
            return f"an {kind} has no name"
        if name in seen:
            return f"{kind} '{name}' is listed twice"
        seen.add(name)
    return None


def _tensor_problem(
    config: ModelConfig, kind: str, tensor: ModelInput | ModelOutput, sig: TensorSignature
) -> str | None:
    where = f"{kind} '{tensor.name}'"
    if sig.datatype is None:
        return f"{where}: the ONNX model declares {sig.type_name}, which naiad cannot serve"
    name = type_name(tensor.data_type)
    declared = BY_CONFIG.get(name)
    if declared is None:
        return f"{where}: data_type {name} is not supported"
    if declared != sig.datatype:
        return (
            f"{where} has data_type {name} in the model config "
            f"but the ONNX model declares {sig.datatype.wire}"
        )
    if not tensor.dims:
        return f"{where} has no dims"
    if any(d == 0 or d < -1 for d in tensor.dims):
        return f"{where}: dims {show(tensor.dims)} must be positive or -1"
    model_side = list(tensor.dims)
    if tensor.HasField("reshape"):
        model_side = list(tensor.reshape.shape)
        reshape_problem = _reshape_problem(where, tensor.dims, model_side)
        if reshape_problem:
            return reshape_problem
    return _shape_problem(config, where, model_side, sig, has_reshape=tensor.HasField("reshape"))


def _reshape_problem(where: str, dims: Sequence[int], shape: Sequence[int]) -> str | None:
    if any(d == 0 or d < -1 for d in shape):
        return f"{where}: reshape {show(shape)} must hold positive dims or -1"
    if list(dims).count(-1) != list(shape).count(-1):
        return f"{where}: dims {show(dims)} and reshape {show(shape)} differ in -1 dims"
    if -1 not in dims and _product(dims) != _product(shape):
        return f"{where}: reshape {show(shape)} does not hold as many elements as dims {show(dims)}"
    return None


def _shape_problem(
    config: ModelConfig,
    where: str,
    model_side: list[int],
    sig: TensorSignature,
    *,
    has_reshape: bool,
) -> str | None:
    if sig.shape is None:  # the model does not say; ONNX Runtime checks at run time
        return None
    onnx_shape = list(sig.shape)
    said = f"reshape {show(model_side)}" if has_reshape else f"dims {show(model_side)}"
    if config.max_batch_size > 0:
        if not onnx_shape or onnx_shape[0] != -1:
            return (
                f"{where}: max_batch_size is {config.max_batch_size} but the ONNX shape "
                f"{show(onnx_shape)} has no variable first (batch) dimension; "
                "set max_batch_size: 0"
            )
        onnx_shape = onnx_shape[1:]
        said += " (batch dimension excluded)"
    compatible = len(model_side) == len(onnx_shape) and all(
        c == -1 or o == -1 or c == o for c, o in zip(model_side, onnx_shape, strict=True)
    )
    if not compatible:
        return (
            f"{where} has {said} in the model config but the ONNX model declares shape "
            f"{show(sig.shape)}"
        )
    return None


def _product(dims: Sequence[int]) -> int:
    out = 1
    for d in dims:
        if d != -1:
            out *= d
    return out
