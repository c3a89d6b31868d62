"""Auto-completion: fills what config.pbtxt leaves out from the ONNX signature and defaults.

Follows Triton's ONNX Runtime backend. A proto3 `max_batch_size: 0` cannot be told apart from
an absent one, so, as in Triton, a model whose tensors all have a variable first dimension is
given DEFAULT_MAX_BATCH_SIZE unless the config lists dims that cover the full ONNX rank (which
says the first dimension is not a batch dimension).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeAlias

from naiad.config.sequence import complete_sequence_batching, hidden_tensors
from naiad.config.signature import ModelSignature, TensorSignature
from naiad.errors import ModelLoadError
from naiad_protocol.model_config_pb2 import (
    DataType,
    ModelConfig,
    ModelInput,
    ModelInstanceGroup,
    ModelOutput,
)

PLATFORM = "onnxruntime_onnx"
ENSEMBLE_PLATFORM = "ensemble"
"""Triton's platform for a model made of other models' steps (naiad.ensemble)."""
BACKEND = "onnxruntime"
DEFAULT_MAX_BATCH_SIZE = 4
"""max_batch_size given to a batchable model whose config does not set one (Triton's value)."""
DEFAULT_CPU_INSTANCES = 2
"""instance_group count when a KIND_CPU group gives none (Triton's default for ONNX Runtime)."""

_Tensor: TypeAlias = ModelInput | ModelOutput


def complete_identity(config: ModelConfig | None, *, name: str) -> ModelConfig:
    """A copy with name, platform and backend filled; a config naming another model is an error.

    Needs no model file, so the repository can check a model before reading its versions.
    """
    out = ModelConfig()
    if config is not None:
        out.CopyFrom(config)
    if out.name and out.name != name:
        raise ModelLoadError(
            f"model '{name}': the config names the model '{out.name}'; "
            "the name must equal the model directory's name"
        )
    out.name = name
    if not out.platform and not out.backend:
        out.platform, out.backend = PLATFORM, BACKEND
    elif not out.backend and out.platform == PLATFORM:
        out.backend = BACKEND
    elif not out.platform and out.backend == BACKEND:
        out.platform = PLATFORM
    if not out.HasField("version_policy"):
        out.version_policy.latest.num_versions = 1
    return out


def complete_config(
    config: ModelConfig | None,
    signature: ModelSignature,
    *,
    name: str,
    gpu_available: bool = False,
) -> ModelConfig:
    """A completed copy of `config` (None: no config.pbtxt) for a model with `signature`.

    Raises ModelLoadError when the name differs from `name` or dims cannot be derived.
    Whether the result is consistent with the model is `convert.build_settings`'s job.
    """
    out = complete_identity(config, name=name)
    auto_batching = out.max_batch_size == 0 and _can_batch(out, signature)
    if auto_batching:
        out.max_batch_size = DEFAULT_MAX_BATCH_SIZE
    batching = out.max_batch_size > 0
    hidden_in, hidden_out = hidden_tensors(out)
    _complete_tensors(
        list(out.input),
        out.input.add,
        tuple(s for s in signature.inputs if s.name not in hidden_in),
        signature.any_input,
        name,
        batching=batching,
    )
    _complete_tensors(
        list(out.output),
        out.output.add,
        tuple(s for s in signature.outputs if s.name not in hidden_out),
        signature.output,
        name,
        batching=batching,
    )
    if auto_batching and out.WhichOneof("scheduling_choice") is None:
        out.dynamic_batching.SetInParent()
    complete_sequence_batching(out)
    _complete_instance_groups(out, gpu_available=gpu_available)
    return out


def _can_batch(config: ModelConfig, signature: ModelSignature) -> bool:
    if not signature.can_batch:
        return False
    listed: Iterable[tuple[_Tensor, TensorSignature | None]] = [
        *((t, signature.any_input(t.name)) for t in config.input),
        *((t, signature.output(t.name)) for t in config.output),
    ]
    for tensor, sig in listed:
        if sig is None or sig.shape is None or not tensor.dims:
            continue
        model_side = tensor.reshape.shape if tensor.HasField("reshape") else tensor.dims
        if len(model_side) == len(sig.shape):
            return False
    return True


def _complete_tensors(
    listed: list[_Tensor],
    add: Callable[[], _Tensor],
    signatures: tuple[TensorSignature, ...],
    lookup: Callable[[str], TensorSignature | None],
    model: str,
    *,
    batching: bool,
) -> None:
    if not listed:
        for sig in signatures:
            tensor = add()
            tensor.name = sig.name
            _fill(tensor, sig, model, batching=batching)
        return
    for tensor in listed:
        found = lookup(tensor.name)
        if found is not None:  # an unknown name is reported by validation
            _fill(tensor, found, model, batching=batching)


def _fill(tensor: _Tensor, sig: TensorSignature, model: str, *, batching: bool) -> None:
    if tensor.data_type == DataType.TYPE_INVALID and sig.datatype is not None:
        tensor.data_type = DataType.Value(sig.datatype.config)
    if tensor.dims or tensor.HasField("reshape"):
        return
    if sig.shape is None:
        raise ModelLoadError(
            f"model '{model}': cannot complete the dims of '{tensor.name}': the ONNX model "
            "does not declare its shape; give dims in config.pbtxt"
        )
    dims = sig.shape[1:] if batching else sig.shape
    if dims:
        tensor.dims.extend(dims)
    else:
        # A scalar per batch item: the API sees [1] and the model a rank-0 item (as Triton).
        tensor.dims.append(1)
        tensor.reshape.SetInParent()


def _complete_instance_groups(config: ModelConfig, *, gpu_available: bool) -> None:
    if not config.instance_group:
        config.instance_group.add(name=config.name)
    for index, group in enumerate(config.instance_group):
        if not group.name:
            group.name = f"{config.name}_{index}"
        if group.kind == ModelInstanceGroup.KIND_AUTO:
            group.kind = (
                ModelInstanceGroup.KIND_GPU if gpu_available else ModelInstanceGroup.KIND_CPU
            )
        if group.count == 0:
            # Triton's default for ONNX Runtime: two CPU instances, so one computes while the
            # other's answers go out; one instance per listed GPU.
            group.count = DEFAULT_CPU_INSTANCES if group.kind == ModelInstanceGroup.KIND_CPU else 1
        if group.kind == ModelInstanceGroup.KIND_GPU and not group.gpus:
            group.gpus.append(0)
