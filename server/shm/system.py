"""System shared memory regions clients register by name (Triton's system shared memory
extension): each maps `byte_size` bytes at `offset` of the POSIX shared memory object `key`
(`/dev/shm/<key>`), read and written in place by the requests that name it.

A key is one name in /dev/shm (a leading "/" as shm_open takes it is allowed); it is opened
without following symbolic links and must be a regular file, so a region never reaches a file
outside /dev/shm. Unregistering a region that a queued request still reads keeps its mapping
alive until that request lets go of it (the mapping closes with its last view).
"""

from __future__ import annotations

import mmap
import os
import stat
import threading
from dataclasses import dataclass
from pathlib import Path

from naiad.errors import ErrorCode, InvalidArgument, NaiadError, NotFound

SHM_ROOT = Path("/dev/shm")


@dataclass(frozen=True)
class RegionStatus:
    """What SystemSharedMemoryStatus reports of one region."""

    name: str
    key: str
    offset: int
    byte_size: int


class _Region:
    __slots__ = ("status", "_map", "view")

    def __init__(self, status: RegionStatus, mapping: mmap.mmap, start: int) -> None:
        self.status = status
        self._map = mapping
        self.view = memoryview(mapping)[start : start + status.byte_size]
        """The region's bytes: `byte_size` of them, from the registered offset."""

    def close(self) -> None:
        self.view.release()
        try:
            self._map.close()
        except BufferError:
            pass  # a request still holds a view; the mapping closes with its last one


class SystemSharedMemory:
    """The server's registered regions, by name. Thread-safe."""

    def __init__(self, root: Path = SHM_ROOT) -> None:
        """`root`: where keys live (tests may point it elsewhere)."""
        self._root = root
        self._regions: dict[str, _Region] = {}
        self._lock = threading.Lock()

    def register(self, name: str, key: str, offset: int, byte_size: int) -> None:
        """Maps the region. Raises AlreadyExists for a name in use, InvalidArgument for a bad
        key, a key that does not exist, or a range outside the object."""
        if not name:
            raise InvalidArgument("a shared memory region needs a name")
        if offset < 0 or byte_size <= 0:
            raise InvalidArgument(
                f"shared memory region '{name}': offset must be >= 0 and byte_size > 0"
                f" (got offset {offset}, byte_size {byte_size})"
            )
        path = self._path(key)
        with self._lock:
            if name in self._regions:
                raise NaiadError(
                    f"shared memory region '{name}' is already registered",
                    code=ErrorCode.ALREADY_EXISTS,
                )
            region = _open(name, key, path, offset, byte_size)
            self._regions[name] = region

    def unregister(self, name: str = "") -> None:
        """Forgets region `name`, or every region when `name` is ""; an unknown name is not an
        error (as in Triton)."""
        with self._lock:
            names = [name] if name else list(self._regions)
            regions = [self._regions.pop(n) for n in names if n in self._regions]
        for region in regions:
            region.close()

    def status(self, name: str = "") -> list[RegionStatus]:
        """Every region, or region `name` (NotFound when it is not registered)."""
        with self._lock:
            if not name:
                return [r.status for _, r in sorted(self._regions.items())]
            region = self._regions.get(name)
        if region is None:
            raise NotFound(f"Unable to find system shared memory region: '{name}'")
        return [region.status]

    def view(self, name: str, offset: int, byte_size: int, what: str) -> memoryview:
        """`byte_size` bytes at `offset` into region `name`, in place. Raises InvalidArgument,
        naming `what` (e.g. "input 'x'"), for an unknown region or a range outside it."""
        with self._lock:
            region = self._regions.get(name)
            if region is None:
                raise InvalidArgument(
                    f"{what}: unable to find system shared memory region '{name}'"
                )
            size = region.status.byte_size
            if offset < 0 or byte_size < 0 or offset + byte_size > size:
                raise InvalidArgument(
                    f"{what}: {byte_size} bytes at offset {offset} do not fit in shared memory"
                    f" region '{name}' of {size} bytes"
                )
            return region.view[offset : offset + byte_size]

    def _path(self, key: str) -> Path:
        bare = key[1:] if key.startswith("/") else key
        if not bare or "/" in bare or bare in (".", "..") or "\0" in bare:
            raise InvalidArgument(f"shared memory key '{key}' must name one object in {self._root}")
        return self._root / bare


def _open(name: str, key: str, path: Path, offset: int, byte_size: int) -> _Region:
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise InvalidArgument(
            f"Unable to open shared memory region: '{key}' ({exc.strerror})"
        ) from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise InvalidArgument(f"shared memory key '{key}' is not a shared memory object")
        if offset + byte_size > info.st_size:
            raise InvalidArgument(
                f"shared memory region '{name}': offset {offset} + byte_size {byte_size} runs"
                f" past the end of '{key}' ({info.st_size} bytes)"
            )
        start = offset % mmap.ALLOCATIONGRANULARITY  # mmap offsets are page aligned
        mapping = mmap.mmap(fd, start + byte_size, offset=offset - start)
    finally:
        os.close(fd)
    status = RegionStatus(name, key, offset, byte_size)
    return _Region(status, mapping, start)
