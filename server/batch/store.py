"""A folder on any file system pyarrow or fsspec reaches, with the atomic writes resume needs.

Local paths write a temporary file, fsync it and rename it over the target (POSIX rename is
atomic). Other file systems write the temporary object and move it: on an object store that is
a copy then a delete, so a reader sees either no object or a whole one under the final name.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, BinaryIO

import pyarrow.fs as pafs

TEMP_PREFIX = ".naiad-tmp-"


def open_filesystem(location: str) -> tuple[pafs.FileSystem, str]:
    """The file system of a path or URL and the path inside it; ValueError when none fits."""
    if "://" not in location or location.startswith("file://"):
        path = location[len("file://") :] if location.startswith("file://") else location
        return pafs.LocalFileSystem(), os.path.abspath(path)
    try:
        return pafs.FileSystem.from_uri(location)
    except NotImplementedError:
        pass  # a pyarrow built without that file system: fsspec may have it
    except ValueError as exc:  # ArrowInvalid
        if "Unrecognized filesystem" not in str(exc):
            raise ValueError(f"cannot open {location}: {exc}") from None
    try:
        import fsspec
    except ModuleNotFoundError:
        raise ValueError(f"{location}: install fsspec for this URL scheme") from None
    try:
        fs, path = fsspec.core.url_to_fs(location)
    except (ImportError, ValueError) as exc:
        raise ValueError(f"cannot open {location}: {exc}") from None
    return pafs.PyFileSystem(pafs.FSSpecHandler(fs)), path


@dataclass
class Folder:
    """One folder: list, read, write atomically, delete. Paths given are names inside it."""

    filesystem: pafs.FileSystem
    root: str

    @classmethod
    def at(cls, location: str) -> Folder:
        filesystem, root = open_filesystem(location)
        return cls(filesystem, root.rstrip("/") or "/")

    @property
    def local(self) -> bool:
        return isinstance(self.filesystem, pafs.LocalFileSystem)

    def path(self, name: str) -> str:
        return f"{self.root}/{name}"

    def make(self) -> None:
        self.filesystem.create_dir(self.root, recursive=True)

    def names(self) -> list[str]:
        """Names of the files directly inside (none when the folder does not exist)."""
        info = self.filesystem.get_file_info(self.root)
        if info.type != pafs.FileType.Directory:
            return []
        found = self.filesystem.get_file_info(pafs.FileSelector(self.root, recursive=False))
        return sorted(f.base_name for f in found if f.type == pafs.FileType.File)

    def exists(self, name: str) -> bool:
        return self.filesystem.get_file_info(self.path(name)).type == pafs.FileType.File

    def read_bytes(self, name: str) -> bytes:
        with self.filesystem.open_input_stream(self.path(name)) as stream:
            return bytes(stream.read())

    def delete(self, name: str) -> None:
        if self.exists(name):
            self.filesystem.delete_file(self.path(name))

    def write_atomic(self, name: str, write: Callable[[BinaryIO], Any]) -> None:
        """Calls `write(file)`, then makes the result appear under `name` all at once."""
        temp = f"{TEMP_PREFIX}{uuid.uuid4().hex[:12]}-{name}"
        if self.local:
            temp_path = self.path(temp)
            try:
                with open(temp_path, "wb") as file:
                    write(file)
                    file.flush()
                    os.fsync(file.fileno())
                os.replace(temp_path, self.path(name))
            except BaseException:
                if os.path.exists(temp_path):
                    os.unlink(temp_path)
                raise
            _fsync_directory(self.root)
            return
        with self.filesystem.open_output_stream(self.path(temp)) as stream:
            write(stream)
        self.filesystem.move(self.path(temp), self.path(name))

    def remove_temporaries(self) -> None:
        """Deletes what a killed writer left half-written."""
        for name in self.names():
            if name.startswith(TEMP_PREFIX):
                self.filesystem.delete_file(self.path(name))


def _fsync_directory(path: str) -> None:
    # The rename is durable only once the directory entry is; a crash could otherwise lose
    # a part file the manifest already names.
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
