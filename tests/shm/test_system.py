"""The shared memory registry and tensor placement on their own, over files in a temp dir."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest

from naiad.datatypes import BY_WIRE
from naiad.engine.request import InferOutput, InferResponse
from naiad.errors import ErrorCode, InvalidArgument, NaiadError, NotFound, Unimplemented
from naiad.limits import DEFAULT_LIMITS
from naiad.shm.system import RegionStatus, SystemSharedMemory
from naiad.transport.shm_tensors import NO_SHARED_MEMORY, Placement, SharedMemoryTensors, placement

FP32 = BY_WIRE["FP32"]
BYTES = BY_WIRE["BYTES"]
PAGE = mmap.ALLOCATIONGRANULARITY


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "obj").write_bytes(bytes(range(256)) * (3 * PAGE // 256))
    return tmp_path


def test_a_region_maps_its_range_even_at_an_unaligned_offset(root: Path) -> None:
    regions = SystemSharedMemory(root)
    regions.register("r", "/obj", PAGE + 3, 16)
    view = regions.view("r", 1, 4, "input 'x'")
    expected = bytes(range(256)) * (3 * PAGE // 256)
    assert bytes(view) == expected[PAGE + 4 : PAGE + 8]
    assert regions.status() == [RegionStatus("r", "/obj", PAGE + 3, 16)]


def test_registration_errors(root: Path, tmp_path: Path) -> None:
    regions = SystemSharedMemory(root)
    regions.register("r", "obj", 0, 8)
    with pytest.raises(NaiadError) as taken:
        regions.register("r", "obj", 0, 8)
    assert taken.value.code is ErrorCode.ALREADY_EXISTS
    for key in ("", "/", "a/b", "..", "/../obj"):
        with pytest.raises(InvalidArgument, match="must name one object"):
            regions.register("k", key, 0, 8)
    with pytest.raises(InvalidArgument, match="Unable to open"):
        regions.register("k", "missing", 0, 8)
    with pytest.raises(InvalidArgument, match="past the end"):
        regions.register("k", "obj", 3 * PAGE - 4, 8)
    with pytest.raises(InvalidArgument, match="byte_size > 0"):
        regions.register("k", "obj", 0, 0)
    (root / "link").symlink_to(root / "obj")
    with pytest.raises(InvalidArgument, match="Unable to open"):
        regions.register("k", "link", 0, 8)  # never follows a link out of the directory
    (root / "dir").mkdir()
    with pytest.raises(InvalidArgument):
        regions.register("k", "dir", 0, 8)
    with pytest.raises(NotFound):
        regions.status("k")


def test_views_outside_a_region_are_refused(root: Path) -> None:
    regions = SystemSharedMemory(root)
    regions.register("r", "obj", 0, 64)
    for offset, size in ((60, 8), (64, 1), (-1, 4), (0, 65)):
        with pytest.raises(InvalidArgument, match="do not fit"):
            regions.view("r", offset, size, "input 'x'")
    with pytest.raises(InvalidArgument, match="unable to find"):
        regions.view("nope", 0, 1, "input 'x'")


def test_unregistering_under_a_live_view_keeps_the_view_valid(root: Path) -> None:
    regions = SystemSharedMemory(root)
    regions.register("r", "obj", 0, 64)
    tensors = SharedMemoryTensors(regions)
    array = tensors.read_input("x", FP32, (4,), Placement("r", 0, 16), DEFAULT_LIMITS)
    before = array.copy()
    regions.unregister("r")
    np.testing.assert_array_equal(array, before)
    assert regions.status() == []
    regions.unregister("r")  # unknown names are no error


def test_inputs_are_read_in_place_unless_misaligned(root: Path) -> None:
    regions = SystemSharedMemory(root)
    regions.register("r", "obj", 0, 4096)
    tensors = SharedMemoryTensors(regions)
    aligned = tensors.read_input("x", FP32, (2, 2), Placement("r", 8, 16), DEFAULT_LIMITS)
    np.testing.assert_array_equal(
        aligned.ravel(), np.frombuffer((root / "obj").read_bytes()[8:24], np.float32)
    )
    region = regions.view("r", 0, 4096, "test")
    region[8:12] = np.array([42.0], np.float32).tobytes()
    assert aligned[0, 0] == 42.0  # a view of the region, not a copy
    misaligned = tensors.read_input("x", FP32, (2,), Placement("r", 9, 8), DEFAULT_LIMITS)
    assert misaligned.ctypes.data % 4 == 0
    region[9:13] = np.array([7.0], np.float32).tobytes()
    assert misaligned[0] != 7.0  # copied
    with pytest.raises(InvalidArgument, match="expecting 16"):
        tensors.read_input("x", FP32, (2, 2), Placement("r", 0, 12), DEFAULT_LIMITS)


def test_outputs_are_written_into_their_region_and_must_fit(root: Path) -> None:
    regions = SystemSharedMemory(root)
    regions.register("r", "obj", 0, 64)
    tensors = SharedMemoryTensors(regions)
    values = np.array([[1.5, -2.0]], np.float32)
    strings = np.array([b"ab", b"cde"], dtype=object)
    response = InferResponse(
        "m", "1", "", [InferOutput("y", FP32, values), InferOutput("s", BYTES, strings)]
    )
    tensors.write_outputs(response, {"y": Placement("r", 4, 8), "s": Placement("r", 16, 13)})
    region = bytes(regions.view("r", 0, 64, "test"))
    assert region[4:12] == values.tobytes()
    assert region[16:29] == b"\x02\x00\x00\x00ab\x03\x00\x00\x00cde"
    with pytest.raises(InvalidArgument, match="at least 8 bytes"):
        tensors.write_outputs(response, {"y": Placement("r", 0, 4)})


def test_placement_parameters() -> None:
    assert placement({}, "input 'x'") is None
    assert placement({"shared_memory_region": "r", "shared_memory_byte_size": 8}, "x") == (
        Placement("r", 0, 8)
    )
    for bad in (
        {"shared_memory_region": "r"},
        {"shared_memory_byte_size": 8},
        {"shared_memory_region": "r", "shared_memory_byte_size": -1},
        {"shared_memory_region": "r", "shared_memory_byte_size": True},
        {"shared_memory_region": 3, "shared_memory_byte_size": 8},
        {"shared_memory_region": "r", "shared_memory_byte_size": 8, "shared_memory_offset": "0"},
    ):
        with pytest.raises(InvalidArgument):
            placement(bad, "input 'x'")
    with pytest.raises(Unimplemented):
        NO_SHARED_MEMORY.placement({"shared_memory_region": "r"}, "input 'x'")
