"""A model's inputs and outputs as a batch job sees them, read from its effective ModelConfig.

The same ModelConfig comes from the local engine (`Engine.config`) and from a server
(ModelConfig RPC), so one function serves both.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from naiad.datatypes import DataType, from_config
from naiad_protocol.model_config_pb2 import DataType as ConfigType
from naiad_protocol.model_config_pb2 import ModelConfig


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: DataType
    dims: tuple[int, ...]
    """Per row (without the batch dimension when the model batches); -1: variable."""
    optional: bool = False

    @property
    def width(self) -> int:
        """Elements per row; -1 when a dimension is variable."""
        return -1 if any(d < 0 for d in self.dims) else math.prod(self.dims)


@dataclass(frozen=True)
class Signature:
    name: str
    max_batch_size: int
    inputs: tuple[Tensor, ...]
    outputs: tuple[Tensor, ...]

    @property
    def rows_per_request(self) -> int:
        """The most rows one request may carry: max_batch_size, or 1 when it does not batch."""
        return max(1, self.max_batch_size)


def from_model_config(config: ModelConfig) -> Signature:
    """The signature a completed ModelConfig declares."""

    def tensor(t: object, optional: bool) -> Tensor:
        datatype = from_config(ConfigType.Name(t.data_type))  # type: ignore[attr-defined]
        return Tensor(t.name, datatype, tuple(t.dims), optional)  # type: ignore[attr-defined]

    return Signature(
        config.name,
        config.max_batch_size,
        tuple(tensor(i, i.optional) for i in config.input),
        tuple(tensor(o, False) for o in config.output),
    )
