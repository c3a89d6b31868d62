"""Model files sent in a RepositoryModelLoad request, written to a fresh temporary directory.

Every key is checked, and the sizes added up, before anything is written: a refused request
writes nothing. Files are created new (never through an existing name or link) in a directory
only the server can read.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from naiad.config.paths import shown
from naiad.config.scheduling import WARMUP_DIR
from naiad.errors import ModelLoadError

FILE_PREFIX = "file:"
MAX_UPLOAD_BYTES = 1 << 30
"""Default for ModelRepository(max_upload_bytes=): 1 GiB over all files of one request."""
MAX_UPLOAD_FILES = 1000
"""Default for ModelRepository(max_upload_files=)."""
MAX_PART_BYTES = 255
"""The longest part of an uploaded path (UTF-8), as the longest file name."""

_FORM = f"'{FILE_PREFIX}<version>/<name>' or '{FILE_PREFIX}{WARMUP_DIR}/<name>'"
_VERSION = re.compile(r"[0-9]+")


@dataclass(frozen=True)
class UploadLimits:
    """How much one load request may upload."""

    max_bytes: int = MAX_UPLOAD_BYTES
    """Total size of the files' contents."""
    max_files: int = MAX_UPLOAD_FILES
    """Number of files."""


def write_uploaded_files(
    name: str, files: Mapping[str, bytes], limits: UploadLimits = UploadLimits()
) -> Path:
    """Writes `files` ({"[file:]<version>/<filename>": content}) under a new temporary directory.

    Returns the directory, laid out like a model directory. Raises ModelLoadError, before
    writing anything, for a key that is not `<version>/<path>` or `warmup/<path>` of visible,
    non-empty parts, for two keys naming the same file (or a file and a directory), and for
    more files or bytes than `limits` allow; nothing is left behind on any error.
    """
    planned = _plan(name, files, limits)
    root = Path(tempfile.mkdtemp(prefix="naiad-upload-"))
    try:
        for parts, content in planned:
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL and O_NOFOLLOW: a file is only ever created, never written through a link.
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
            with os.fdopen(os.open(target, flags, 0o600), "wb") as out:
                out.write(content)
    except OSError as exc:
        remove_tree(root)
        raise ModelLoadError(
            f"model '{name}': cannot write uploaded files: {exc.strerror}"
        ) from None
    except BaseException:
        remove_tree(root)
        raise
    return root


def remove_tree(path: Path) -> None:
    """Deletes a directory this module created; a failure only leaves a temporary directory."""
    shutil.rmtree(path, ignore_errors=True)


def _plan(
    name: str, files: Mapping[str, bytes], limits: UploadLimits
) -> list[tuple[tuple[str, ...], bytes]]:
    if len(files) > limits.max_files:
        raise ModelLoadError(
            f"model '{name}': {len(files)} files uploaded, more than the limit of "
            f"{limits.max_files}"
        )
    total = sum(len(content) for content in files.values())
    if total > limits.max_bytes:
        raise ModelLoadError(
            f"model '{name}': the uploaded files hold {total} bytes, more than the limit of "
            f"{limits.max_bytes}"
        )
    planned: dict[tuple[str, ...], bytes] = {}
    for key, content in files.items():
        relative = key.removeprefix(FILE_PREFIX)
        parts = tuple(relative.split("/"))
        if not _valid(parts):
            raise ModelLoadError(
                f"model '{name}': file parameter '{FILE_PREFIX}{shown(relative)}' must be "
                f"{_FORM}, of visible, non-empty parts without backslash or control character"
            )
        if parts in planned:
            raise ModelLoadError(
                f"model '{name}': file parameter '{FILE_PREFIX}{shown(relative)}' is given twice"
            )
        planned[parts] = content
    directories = {parts[:i] for parts in planned for i in range(1, len(parts))}
    for parts in planned:
        if parts in directories:
            shown_path = shown("/".join(parts))
            raise ModelLoadError(
                f"model '{name}': file parameter '{FILE_PREFIX}{shown_path}' names a file "
                "that another file parameter uses as a directory"
            )
    return list(planned.items())


def _valid(parts: tuple[str, ...]) -> bool:
    """`<version>/<path>` or `warmup/<path>`, each part a visible file name of the host."""
    if len(parts) < 2:
        return False
    if not (_VERSION.fullmatch(parts[0]) or parts[0] == WARMUP_DIR):
        return False
    return all(_valid_part(part) for part in parts)


def _valid_part(part: str) -> bool:
    try:
        size = len(part.encode("utf-8"))
    except UnicodeEncodeError:
        return False
    return (
        0 < size <= MAX_PART_BYTES
        and not part.startswith(".")
        and "\\" not in part
        and not any(ord(c) < 32 or ord(c) == 127 for c in part)
    )
