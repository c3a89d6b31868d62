"""Transport-neutral request and response types: what the engine consumes and produces."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from naiad.datatypes import DataType

ParameterValue = bool | int | float | str


@dataclass(slots=True)
class InferInput:
    name: str
    datatype: DataType
    shape: tuple[int, ...]
    data: np.ndarray
    """Already decoded and shaped; BYTES inputs are object arrays of bytes."""


@dataclass(slots=True)
class InferRequest:
    model_name: str
    model_version: str
    id: str
    inputs: list[InferInput]
    requested_outputs: list[str] | None = None
    """None: every output of the model, in config order."""
    parameters: dict[str, ParameterValue] = field(default_factory=dict)
    classification: dict[str, ParameterValue] = field(default_factory=dict)
    """Requested output name -> its `classification` parameter (top k, checked by the engine):
    Triton's classification extension answers that output with "score:index[:label]" strings."""


@dataclass(slots=True)
class InferOutput:
    name: str
    datatype: DataType
    data: np.ndarray


@dataclass(slots=True)
class InferResponse:
    model_name: str
    model_version: str
    id: str
    outputs: list[InferOutput]
    queue_us: int = 0
    """From submit until an instance took the request's batch."""
    compute_us: int = 0
    """The batch's gather, run and scatter."""
