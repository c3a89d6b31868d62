"""Checks one request against its model's settings and turns it into what the scheduler needs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from naiad.config.settings import ModelSettings, TensorSpec
from naiad.engine.request import InferRequest, ParameterValue
from naiad.errors import InvalidArgument

# The C++ client sets this on every request; the others are ours to honour or ignore.
_ACCEPTED_RESERVED = frozenset({"triton_enable_empty_final_response"})
_SHAPE_KEY_MASK = (1 << 64) - 1


@dataclass(slots=True)
class Admission:
    """A validated request, ready to queue: model-ready inputs and its scheduling attributes."""

    inputs: dict[str, np.ndarray]
    output_names: tuple[str, ...]
    rows: int
    shape_key: int
    priority: int
    timeout_us: int


def admit(request: InferRequest, settings: ModelSettings) -> Admission:
    """Validates `request` for `settings`; raises InvalidArgument saying what is wrong."""
    model = settings.name
    priority, timeout_us = _scheduling_parameters(request.parameters)
    inputs: dict[str, np.ndarray] = {}
    shapes: list[tuple[int, ...]] = []
    rows = 1
    for tensor in request.inputs:
        spec = settings.input(tensor.name)
        if spec is None:
            raise InvalidArgument(f"unexpected inference input '{tensor.name}' for model '{model}'")
        if tensor.name in inputs:
            raise InvalidArgument(f"input '{tensor.name}' is given more than once")
        if tensor.datatype is not spec.datatype:
            raise InvalidArgument(
                f"unexpected datatype {tensor.datatype.wire} for inference input '{tensor.name}'"
                f" of model '{model}', expecting {spec.datatype.wire}"
            )
        batch, item_shape = _check_shape(tensor.shape, spec, settings)
        if settings.batches:
            if inputs and batch != rows:
                raise InvalidArgument(
                    f"inputs of model '{model}' have different batch sizes ({rows} and {batch})"
                )
            rows = batch
        data = tensor.data
        if spec.reshape is not None:
            prefix = (batch,) if settings.batches else ()
            try:
                data = data.reshape(prefix + spec.reshape)
            except ValueError:
                raise InvalidArgument(
                    f"input '{tensor.name}' of shape {list(tensor.shape)} cannot take the"
                    f" model's reshape {list(spec.reshape)}"
                ) from None
        inputs[tensor.name] = data
        shapes.append(item_shape)
    missing = [s.name for s in settings.inputs if s.name not in inputs and not s.optional]
    if missing:
        raise InvalidArgument(
            f"expected {len(settings.inputs)} inputs but got {len(request.inputs)} inputs for"
            f" model '{model}'; missing: {', '.join(repr(m) for m in missing)}"
        )
    return Admission(
        inputs=inputs,
        output_names=_output_names(request.requested_outputs, settings),
        rows=rows,
        shape_key=hash(tuple(shapes)) & _SHAPE_KEY_MASK,
        priority=priority,
        timeout_us=timeout_us,
    )


def _check_shape(
    shape: tuple[int, ...], spec: TensorSpec, settings: ModelSettings
) -> tuple[int, tuple[int, ...]]:
    """Returns (batch size, shape without the batch dimension)."""
    expected = spec.dims
    batch = 1
    item = shape
    if settings.batches:
        if len(shape) != len(expected) + 1:
            raise _shape_error(shape, spec, settings)
        batch, item = shape[0], shape[1:]
        if batch < 1:
            raise InvalidArgument(f"input '{spec.name}' has batch size {batch}, must be at least 1")
        if batch > settings.max_batch_size:
            raise InvalidArgument(
                f"inference request batch-size must be <= {settings.max_batch_size} for"
                f" '{settings.name}', got {batch}"
            )
    elif len(shape) != len(expected):
        raise _shape_error(shape, spec, settings)
    for got, want in zip(item, expected, strict=True):
        if got < 0 or (want != -1 and got != want):
            raise _shape_error(shape, spec, settings)
    return batch, item


def _shape_error(shape: tuple[int, ...], spec: TensorSpec, settings: ModelSettings) -> Exception:
    dims = list(spec.dims)
    if settings.batches:
        dims = [-1, *dims]
    return InvalidArgument(
        f"unexpected shape for input '{spec.name}' for model '{settings.name}'. Expected {dims},"
        f" got {list(shape)}"
    )


def _output_names(requested: list[str] | None, settings: ModelSettings) -> tuple[str, ...]:
    if not requested:
        return tuple(spec.name for spec in settings.outputs)
    for name in requested:
        if settings.output(name) is None:
            raise InvalidArgument(
                f"unexpected inference output '{name}' for model '{settings.name}'"
            )
    if len(set(requested)) != len(requested):
        raise InvalidArgument("an output is requested more than once")
    return tuple(requested)


def _scheduling_parameters(parameters: dict[str, ParameterValue]) -> tuple[int, int]:
    priority = 0
    timeout_us = 0
    for key, value in parameters.items():
        if key == "priority":
            priority = _non_negative_int(key, value)
        elif key == "timeout":
            timeout_us = _non_negative_int(key, value)
        elif key.startswith("triton_") and key not in _ACCEPTED_RESERVED:
            raise InvalidArgument(f"parameter '{key}' is reserved and cannot be set by a request")
    return priority, timeout_us


def _non_negative_int(key: str, value: ParameterValue) -> int:
    # Within int64: the scheduler takes them as 64-bit signed values.
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise InvalidArgument(f"parameter '{key}' must be a non-negative integer, got {value!r}")
    return value
