"""Checks a completed ModelConfig against itself and against the ONNX model it describes.

Every failure is a ModelLoadError (see problems.py) that says what is wrong and where, so that
it can be shown as is to whoever asked for the load.
"""

from __future__ import annotations

from collections.abc import Sequence

from naiad.config.complete import BACKEND, PLATFORM
from naiad.config.problems import config_error, show
from naiad.config.scheduling import check_scheduling
from naiad.config.signature import ModelSignature, TensorSignature
from naiad.datatypes import BY_CONFIG
from naiad_protocol.model_config_pb2 import (
    DataType,
    ModelConfig,
    ModelInput,
    ModelOutput,
)


def validate_identity(config: ModelConfig) -> None:
    """Checks that need no model file: platform, backend, unsupported features, version policy."""
    model = config.name
    if config.platform and config.platform != PLATFORM:
        raise config_error(
            model, f"unsupported platform '{config.platform}' (naiad serves '{PLATFORM}')"
        )
    if config.backend and config.backend != BACKEND:
        raise config_error(
            model, f"unsupported backend '{config.backend}' (naiad serves '{BACKEND}')"
        )
    scheduling = config.WhichOneof("scheduling_choice")
    if scheduling in ("sequence_batching", "ensemble_scheduling"):
        raise config_error(model, f"{scheduling} is not supported")
    if config.model_transaction_policy.decoupled:
        raise config_error(model, "decoupled models are not supported by the ONNX Runtime backend")
    policy = config.version_policy
    choice = policy.WhichOneof("policy_choice")
    if choice == "latest" and policy.latest.num_versions < 1:
        raise config_error(model, "version_policy latest needs num_versions >= 1")
    if choice == "specific":
        if not policy.specific.versions:
            raise config_error(model, "version_policy specific lists no versions")
        if any(v < 0 for v in policy.specific.versions):
            raise config_error(model, "version_policy specific lists a negative version")


def validate_config(config: ModelConfig, signature: ModelSignature) -> None:
    """Raises ModelLoadError unless `config` (completed) can serve the model of `signature`."""
    validate_identity(config)
    model = config.name
    if config.max_batch_size < 0:
        raise config_error(model, f"max_batch_size must be >= 0, not {config.max_batch_size}")
    _check_names(model, "input", [t.name for t in config.input])
    _check_names(model, "output", [t.name for t in config.output])
    for tensor in config.input:
        _check_input(config, tensor, signature)
    for tensor in config.output:
        sig = signature.output(tensor.name)
        if sig is None:
            known = ", ".join(t.name for t in signature.outputs)
            raise config_error(
                model, f"output '{tensor.name}' is not an output of the ONNX model ({known})"
            )
        _check_tensor(config, "output", tensor, sig)
    listed = {t.name for t in config.input}
    for sig in signature.inputs:
        if sig.name not in listed:
            raise config_error(
                model, f"ONNX model input '{sig.name}' is missing from the model config"
            )
    check_scheduling(config)


def _check_input(config: ModelConfig, tensor: ModelInput, signature: ModelSignature) -> None:
    model = config.name
    sig = signature.input(tensor.name)
    if sig is not None and tensor.optional:
        raise config_error(
            model, f"input '{tensor.name}' is marked optional but the ONNX model requires it"
        )
    if sig is None:
        sig = signature.optional_input(tensor.name)
        if sig is None:
            known = ", ".join(t.name for t in signature.inputs)
            raise config_error(
                model, f"input '{tensor.name}' is not an input of the ONNX model ({known})"
            )
        if not tensor.optional:
            raise config_error(
                model,
                f"input '{tensor.name}' has a default value in the ONNX model (an initializer); "
                "mark it optional: true",
            )
    if tensor.is_shape_tensor:
        raise config_error(
            model, f"input '{tensor.name}': shape tensors are not supported for ONNX models"
        )
    _check_tensor(config, "input", tensor, sig)


def _check_names(model: str, kind: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for name in names:
        if not name:
            raise config_error(model, f"an {kind} has no name")
        if name in seen:
            raise config_error(model, f"{kind} '{name}' is listed twice")
        seen.add(name)


def _check_tensor(
    config: ModelConfig, kind: str, tensor: ModelInput | ModelOutput, sig: TensorSignature
) -> None:
    model, where = config.name, f"{kind} '{tensor.name}'"
    if sig.datatype is None:
        raise config_error(
            model, f"{where}: the ONNX model declares {sig.type_name}, which naiad cannot serve"
        )
    type_name = DataType.Name(tensor.data_type)
    declared = BY_CONFIG.get(type_name)
    if declared is None:
        raise config_error(model, f"{where}: data_type {type_name} is not supported")
    if declared != sig.datatype:
        raise config_error(
            model,
            f"{where} has data_type {type_name} in the model config "
            f"but the ONNX model declares {sig.datatype.wire}",
        )
    if not tensor.dims:
        raise config_error(model, f"{where} has no dims")
    if any(d == 0 or d < -1 for d in tensor.dims):
        raise config_error(model, f"{where}: dims {show(tensor.dims)} must be positive or -1")
    model_side = list(tensor.dims)
    if tensor.HasField("reshape"):
        model_side = list(tensor.reshape.shape)
        _check_reshape(model, where, tensor.dims, model_side)
    _check_shape(config, where, model_side, sig, has_reshape=tensor.HasField("reshape"))


def _check_reshape(model: str, where: str, dims: Sequence[int], shape: Sequence[int]) -> None:
    if any(d == 0 or d < -1 for d in shape):
        raise config_error(model, f"{where}: reshape {show(shape)} must hold positive dims or -1")
    if list(dims).count(-1) != list(shape).count(-1):
        raise config_error(
            model, f"{where}: dims {show(dims)} and reshape {show(shape)} differ in -1 dims"
        )
    if -1 not in dims and _product(dims) != _product(shape):
        raise config_error(
            model,
            f"{where}: reshape {show(shape)} does not hold as many elements as dims {show(dims)}",
        )


def _check_shape(
    config: ModelConfig,
    where: str,
    model_side: list[int],
    sig: TensorSignature,
    *,
    has_reshape: bool,
) -> None:
    if sig.shape is None:  # the model does not say; ONNX Runtime checks at run time
        return
    model, onnx_shape = config.name, list(sig.shape)
    said = f"reshape {show(model_side)}" if has_reshape else f"dims {show(model_side)}"
    if config.max_batch_size > 0:
        if not onnx_shape or onnx_shape[0] != -1:
            raise config_error(
                model,
                f"{where}: max_batch_size is {config.max_batch_size} but the ONNX shape "
                f"{show(onnx_shape)} has no variable first (batch) dimension; "
                "set max_batch_size: 0",
            )
        onnx_shape = onnx_shape[1:]
        said += " (batch dimension excluded)"
    compatible = len(model_side) == len(onnx_shape) and all(
        c == -1 or o == -1 or c == o for c, o in zip(model_side, onnx_shape, strict=True)
    )
    if not compatible:
        raise config_error(
            model,
            f"{where} has {said} in the model config but the ONNX model declares shape "
            f"{show(sig.shape)}",
        )


def _product(dims: Sequence[int]) -> int:
    out = 1
    for d in dims:
        if d != -1:
            out *= d
    return out
