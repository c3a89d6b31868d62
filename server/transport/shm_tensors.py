"""Tensors that travel in registered shared memory regions instead of the message, for both
front ends: an input or requested output names a region with the parameters
`shared_memory_region`, `shared_memory_byte_size` and (optionally) `shared_memory_offset`.

Inputs are read in place: a NumPy view of the region, copied only when the region's address
does not suit the datatype's alignment (and for BYTES, which are decoded). Outputs are written
into their region once the answer is in; the answer then carries the output's name, datatype,
shape and placement but not its data. Ranges are checked against the region at decode time,
so a request that names a range outside its region never runs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from naiad.datatypes import DataType
from naiad.engine.request import InferOutput, InferResponse, ParameterValue
from naiad.errors import InvalidArgument, Unimplemented
from naiad.limits import TensorLimits
from naiad.shm.system import SystemSharedMemory
from naiad.transport.tensor_codec import element_count, from_raw, to_raw

REGION = "shared_memory_region"
OFFSET = "shared_memory_offset"
BYTE_SIZE = "shared_memory_byte_size"
KEYS = (REGION, BYTE_SIZE, OFFSET)


@dataclass(frozen=True, slots=True)
class Placement:
    """Where one tensor lies: `byte_size` bytes at `offset` into region `region`."""

    region: str
    offset: int
    byte_size: int


def placement(parameters: Mapping[str, ParameterValue], what: str) -> Placement | None:
    """The placement `parameters` give, None when they name no region. Raises
    InvalidArgument when only one of region and byte size is given or a value is malformed."""
    if not any(key in parameters for key in KEYS):
        return None
    region = parameters.get(REGION)
    size = parameters.get(BYTE_SIZE)
    if region is None or size is None:
        raise InvalidArgument(
            f"{what}: shared memory needs both '{REGION}' and '{BYTE_SIZE}' parameters"
        )
    if not isinstance(region, str) or not region:
        raise InvalidArgument(f"{what}: '{REGION}' must be a region name")
    return Placement(
        region, _whole(parameters.get(OFFSET, 0), OFFSET, what), _whole(size, BYTE_SIZE, what)
    )


def _whole(value: ParameterValue, key: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidArgument(f"{what}: '{key}' must be a non-negative integer, got {value!r}")
    return value


class SharedMemoryTensors:
    """Reads inputs from and writes outputs to the server's system shared memory regions;
    without a registry (shared memory turned off) every placement is UNIMPLEMENTED."""

    def __init__(self, system: SystemSharedMemory | None) -> None:
        self.system = system

    def placement(self, parameters: Mapping[str, ParameterValue], what: str) -> Placement | None:
        """`placement(parameters, what)`, UNIMPLEMENTED on a server without shared memory."""
        if self.system is None and any(key in parameters for key in KEYS):
            raise Unimplemented(f"{what}: shared memory is not enabled on this server")
        return placement(parameters, what)

    def read_input(
        self,
        name: str,
        dtype: DataType,
        shape: tuple[int, ...],
        where: Placement,
        limits: TensorLimits,
    ) -> np.ndarray:
        what = f"input '{name}'"
        count = element_count(name, shape, limits)
        view = self._view(where, what)
        if dtype.wire == "BYTES":
            return from_raw(name, dtype, shape, bytes(view), limits)
        expected = count * dtype.itemsize
        if where.byte_size != expected:
            raise InvalidArgument(
                f"{what}: unexpected shared memory byte size {where.byte_size}, expecting"
                f" {expected} for shape {list(shape)} of {dtype.wire}"
            )
        array = np.frombuffer(view, dtype=dtype.numpy)
        if array.ctypes.data % dtype.numpy.alignment:
            array = array.copy()  # misaligned for its type: one copy, as the message path makes
        return array.reshape(shape)

    def output_placements(
        self, requested: Iterable[tuple[str, Mapping[str, ParameterValue]]]
    ) -> dict[str, Placement]:
        """Output name -> placement for the requested outputs that name a region; each range
        is checked against its region now."""
        found: dict[str, Placement] = {}
        for name, parameters in requested:
            where = self.placement(parameters, f"output '{name}'")
            if where is not None:
                self._view(where, f"output '{name}'")
                found[name] = where
        return found

    def write_outputs(self, response: InferResponse, placements: Mapping[str, Placement]) -> None:
        """Writes each placed output into its region. Raises InvalidArgument when a region's
        range is too small for the answer (nothing of that output is written)."""
        for output in response.outputs:
            where = placements.get(output.name)
            if where is not None:
                self._write(output, where)

    def _write(self, output: InferOutput, where: Placement) -> None:
        what = f"output '{output.name}'"
        view = self._view(where, what)
        dtype = output.datatype
        if dtype.wire == "BYTES":
            raw = to_raw(dtype, output.data)
            needed = len(raw)
        else:
            raw = b""
            needed = output.data.size * dtype.itemsize
        if needed > where.byte_size:
            raise InvalidArgument(
                f"shared memory size specified with the request for {what} ({where.byte_size}"
                f" bytes) should be at least {needed} bytes to hold the results"
            )
        if dtype.wire == "BYTES":
            view[:needed] = raw
            return
        target = np.frombuffer(view, dtype=dtype.numpy, count=output.data.size)
        target[:] = output.data.ravel()  # one copy, straight into the region

    def _view(self, where: Placement, what: str) -> memoryview:
        if self.system is None:
            raise Unimplemented(f"{what}: shared memory is not enabled on this server")
        return self.system.view(where.region, where.offset, where.byte_size, what)


def placed_parameters(where: Placement) -> dict[str, ParameterValue]:
    """What an answer says of an output written into shared memory."""
    parameters: dict[str, ParameterValue] = {REGION: where.region, BYTE_SIZE: where.byte_size}
    if where.offset:
        parameters[OFFSET] = where.offset
    return parameters


NO_SHARED_MEMORY = SharedMemoryTensors(None)
"""For a server (or a decoder) without shared memory: every placement is UNIMPLEMENTED."""
