"""The on-disk layout of a model repository: model directories, version directories, files.

`<root>/<model>/config.pbtxt` (optional) and `<root>/<model>/<version>/<model file>`, where a
version is a directory named by a non-negative integer; anything else is ignored, as in Triton.
Symbolic links are listed like what they point to; whether one may be followed is the loader's
check (config/paths.py), so that a link leading outside shows in the index with its reason.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from naiad.config.paths import escapes, shown
from naiad_protocol.model_config_pb2 import ModelVersionPolicy

DEFAULT_MODEL_FILENAME = "model.onnx"
MAX_MODEL_NAME_BYTES = 255
"""The longest model name (UTF-8), as the longest file name most file systems allow."""

Fingerprint = tuple[tuple[str, int, int], ...]
"""(relative path, mtime in ns, size) of every file under a model directory, sorted."""


@dataclass(frozen=True)
class ModelDirectories:
    """Model name -> directory over all repository roots, and names found in more than one."""

    found: dict[str, Path]
    duplicates: dict[str, tuple[Path, ...]]


def model_name_problem(name: str) -> str | None:
    """Why `name` cannot name a model (a directory directly under a repository root), or None.

    The rules make every name a single, visible directory entry, so that no name reaches
    another directory and a name can be printed in a log line as it is.
    """
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "a model name must be valid UTF-8"
    if not name:
        return "a model name must not be empty"
    if size > MAX_MODEL_NAME_BYTES:
        return f"a model name must be at most {MAX_MODEL_NAME_BYTES} bytes, not {size}"
    if name.startswith("."):
        return f"model name '{shown(name)}' must not start with '.'"
    if any(c in "/\\" or ord(c) < 32 or ord(c) == 127 for c in name):
        return f"model name '{shown(name)}' must not contain '/', '\\', NUL or control characters"
    return None


def list_models(roots: Sequence[Path]) -> ModelDirectories:
    """Every model directory under `roots`; hidden entries and names no request could name
    (`model_name_problem`) are skipped."""
    seen: dict[str, list[Path]] = {}
    for root in roots:
        try:
            entries = sorted(os.scandir(root), key=lambda e: e.name)
        except FileNotFoundError:
            continue
        for entry in entries:
            if entry.is_dir() and model_name_problem(entry.name) is None:
                seen.setdefault(entry.name, []).append(Path(entry.path))
    return ModelDirectories(
        found={name: dirs[0] for name, dirs in seen.items() if len(dirs) == 1},
        duplicates={name: tuple(dirs) for name, dirs in seen.items() if len(dirs) > 1},
    )


def list_versions(model_dir: Path) -> list[int]:
    """Integer-named subdirectories of `model_dir`, ascending; other names are ignored."""
    versions = []
    try:
        entries = list(os.scandir(model_dir))
    except FileNotFoundError:
        return []
    for entry in entries:
        if entry.is_dir() and entry.name.isdigit() and entry.name.isascii():
            versions.append(int(entry.name))
    return sorted(versions)


def version_dir(model_dir: Path, version: int) -> Path:
    return model_dir / str(version)


def model_file(model_dir: Path, version: int, default_model_filename: str = "") -> Path:
    """The model file of a version: config `default_model_filename` or model.onnx."""
    return version_dir(model_dir, version) / (default_model_filename or DEFAULT_MODEL_FILENAME)


@dataclass(frozen=True)
class VersionSelection:
    """What a version policy picks from the versions on disk."""

    selected: tuple[int, ...]
    """Versions to serve, ascending."""
    missing: tuple[int, ...]
    """Versions a `specific` policy names that are not on disk."""


def select_versions(
    policy: ModelVersionPolicy | None, available: Sequence[int]
) -> VersionSelection:
    """Applies a version policy (None or unset: latest 1) to the versions on disk."""
    on_disk = sorted(set(available))
    choice = policy.WhichOneof("policy_choice") if policy is not None else None
    if policy is not None and choice == "all":
        return VersionSelection(tuple(on_disk), ())
    if policy is not None and choice == "specific":
        wanted = sorted(set(policy.specific.versions))
        present = set(on_disk)
        return VersionSelection(
            tuple(v for v in wanted if v in present), tuple(v for v in wanted if v not in present)
        )
    count = policy.latest.num_versions if policy is not None and choice == "latest" else 1
    return VersionSelection(tuple(on_disk[-count:]) if count > 0 else (), ())


def fingerprint(model_dir: Path) -> Fingerprint:
    """Identifies the content of a model directory cheaply, for polling: names, mtimes, sizes.

    Nothing outside the repository (`model_dir`'s parent) is looked at: a model directory
    that is a link leading outside is identified by its target's name alone (the load refuses
    it), and a file that is such a link by the link itself.
    """
    root = model_dir.parent
    if escapes(model_dir, root):
        return ((f"-> {os.path.realpath(model_dir)}", 0, 0),)
    files = []
    for dirpath, dirnames, filenames in os.walk(model_dir):
        dirnames.sort()
        for filename in sorted(filenames):
            path = os.path.join(dirpath, filename)
            inside = not os.path.islink(path) or not escapes(Path(path), root)
            try:
                stat = os.stat(path, follow_symlinks=inside)
            except FileNotFoundError:  # removed while we walk; the next poll sees the rest
                continue
            files.append((os.path.relpath(path, model_dir), stat.st_mtime_ns, stat.st_size))
    return tuple(files)
