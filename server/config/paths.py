"""Paths a model's config or files name, kept inside the model's directory and its repository.

Two rules, because a value written in a config and a symbolic link on disk are different threats:

- A path written in a config (default_model_filename, warm-up data files, external weights,
  TensorRT cache directories, plugin libraries) is relative and, as written, stays inside the
  directory it belongs to: no absolute path, no '..', no backslash, no control character.
  This holds for config.pbtxt and for a load request's JSON config alike, so an override can
  name nothing a file could not.
- Once symbolic links are followed, everything a model reads or writes still lies inside its
  root: the repository the model was found in, or the directory its uploaded files were written
  to. Links that stay inside the root are allowed: whoever can create them can already write
  the repository, and deployments rely on them (Kubernetes mounts a ConfigMap as links into a
  sibling `..data` directory; versions are often links to one another). Links that leave the
  root would let a model read, or write, whatever the server process can.

Messages name the value as written, never where a link leads.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from naiad.config.problems import Problems

MAX_SHOWN = 80
"""Characters of a refused value that a message repeats."""


@dataclass(frozen=True)
class ModelFiles:
    """Where one model's files are, and what its config may name among them."""

    model_dir: Path
    """<root>/<model>, or the directory a load request's files were written to."""
    root: Path
    """Nothing the model reads or writes may resolve outside this directory."""
    native_code: bool = True
    """Whether the config may name native libraries (inside `model_dir`); False for uploaded
    files, since loading a library a client sent would run the client's code in the server."""

    @staticmethod
    def of(model_path: Path, version: int) -> ModelFiles:
        """The files of a model in a repository, from one version's model file."""
        model_dir = model_path.parent.parent
        for parent in model_path.parents:  # the file may sit deeper than <model>/<version>/
            if parent.name == str(version):
                model_dir = parent.parent
                break
        return ModelFiles(model_dir, model_dir.parent)


def shown(value: str) -> str:
    """`value` fit to quote in a message: control characters escaped, long values cut."""
    text = value.encode("unicode_escape").decode("ascii")
    return text if len(text) <= MAX_SHOWN else text[:MAX_SHOWN] + "..."


def relative_path_problem(value: str, what: str, place: str) -> str | None:
    """Why `value` is not a relative path that stays inside `place` as written; None if it is."""
    parts = value.split("/")
    if (
        value
        and not value.startswith("/")
        and ".." not in parts
        and "\\" not in value
        and not any(ord(c) < 32 or ord(c) == 127 for c in value)
    ):
        return None
    return (
        f"{what} '{shown(value)}' must be a relative path inside {place} "
        "(no absolute path, '..', backslash or control character)"
    )


def plain_name_problem(value: str, what: str) -> str | None:
    """Why `value` is not a plain file name (a relative path of one part); None if it is."""
    problem = relative_path_problem(value, what, "its directory")
    if problem is None and "/" not in value and value != ".":
        return None
    return f"{what} '{shown(value)}' must be a plain file name (no '/', '..' or backslash)"


def escapes(path: Path, root: Path) -> bool:
    """Whether `path`, with every symbolic link followed, lies outside `root` (also followed).

    Only names are resolved: nothing is opened, and `path` need not exist.
    """
    real = os.path.realpath(path)
    base = os.path.realpath(root)
    return real != base and not real.startswith(base.rstrip(os.sep) + os.sep)


def escapes_message(root_place: str = "the model repository") -> str:
    """How a message says that `escapes` is true, without saying where the link leads."""
    return f"leads outside {root_place} through a symbolic link"


def confined(
    value: str,
    *,
    base: Path,
    root: Path,
    what: str,
    place: str,
    problems: Problems,
    root_place: str = "the model repository",
) -> Path | None:
    """`base`/`value` when `value` is a relative path inside `base` (`place` in messages) that
    does not resolve outside `root` (`root_place`); otherwise None, with the reason added to
    `problems`."""
    problem = relative_path_problem(value, what, place)
    if problem is not None:
        problems.add(problem)
        return None
    path = base.joinpath(*value.split("/"))
    if escapes(path, root):
        problems.add(f"{what} '{shown(value)}' {escapes_message(root_place)}")
        return None
    return path
