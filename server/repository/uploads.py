"""Model files sent in a RepositoryModelLoad request, written to a fresh temporary directory."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from naiad.errors import ModelLoadError

FILE_PREFIX = "file:"


def write_uploaded_files(name: str, files: Mapping[str, bytes]) -> Path:
    """Writes `files` ({"[file:]<version>/<filename>": content}) under a new temporary directory.

    Returns the directory, laid out like a model directory. Raises ModelLoadError for a path
    that is absolute or leaves the directory; nothing is left behind on error.
    """
    root = Path(tempfile.mkdtemp(prefix="naiad-upload-"))
    try:
        for key, content in files.items():
            relative = key.removeprefix(FILE_PREFIX)
            parts = PurePosixPath(relative).parts
            if not parts or PurePosixPath(relative).is_absolute() or ".." in parts or "\\" in key:
                expected = f"{FILE_PREFIX}<version>/<name>"
                raise ModelLoadError(f"model '{name}': file parameter '{key}' must be '{expected}'")
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
    except OSError as exc:
        remove_tree(root)
        raise ModelLoadError(f"model '{name}': cannot write uploaded files: {exc}") from None
    except BaseException:
        remove_tree(root)
        raise
    return root


def remove_tree(path: Path) -> None:
    """Deletes a directory this module created; a failure only leaves a temporary directory."""
    shutil.rmtree(path, ignore_errors=True)
