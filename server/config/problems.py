"""How configuration problems are reported: one ModelLoadError format for every check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import NoReturn

from naiad.errors import ModelLoadError


def fail(model: str, problem: str) -> NoReturn:
    """Raises ModelLoadError("model '<model>': <problem>")."""
    raise ModelLoadError(f"model '{model}': {problem}")


def show(dims: Sequence[int]) -> str:
    """Dims as messages print them: [-1, 3]."""
    return "[" + ", ".join(str(d) for d in dims) + "]"
